import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { LmsClient, maxDashboardCourses as serviceMaxDashboardCourses } from "@lectern/lms-service";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { coursePageFromLists } from "../src/grpc/course-page-from-lists.js";
import { LocalCluster } from "../src/grpc/local-cluster.js";
import { coursePageFromProto } from "../src/grpc/proto-mapping.js";
import { createGrpcLmsApi, type GrpcLmsApi } from "../src/grpc-lms-api.js";
import {
  type ApiError,
  dashboardDescriptionChars,
  isApiError,
  type LmsApi,
  maxDashboardCourses,
  type SpooledFile,
} from "../src/lms-api.js";
import { FakeLmsApi, fakeMaxFileBytes } from "../src/testing/fake-lms-api.js";
import { FakeOllama } from "./browser/fake-ollama.js";

/**
 * One contract, two implementations: every journey the web front relies on runs against the
 * in-memory FakeLmsApi (what the route tests use) and against createGrpcLmsApi over a real
 * in-process 3-node cluster, so the fake cannot drift from the service unnoticed.
 */

/** What a journey needs besides the API itself. */
interface ContractWorld {
  readonly api: LmsApi;
  readonly adminToken: string;
  readonly maxFileBytes: number;
  setTutorAvailable(available: boolean): void;
}

const adminPassword = "admin-password-1234";
/** Notes of the longest text allowed that take a course page past one 4 MiB message (4.3 MB). */
const oversizedNoteCount = 430;
const longestNoteText = "n".repeat(10_000);
/** Notes posted at once while building that course. */
const notePostingConcurrency = 8;

/** Smaller than the default so the over-limit upload stays cheap. */
const clusterMaxFileBytes = 2 * 1024 * 1024;

let files: string;
let uniqueCounter = 0;

/** A fresh idempotency key in lms.proto's alphabet (32 hex characters). */
const key = () => randomUUID().replace(/-/g, "");
/** A username no other test uses. */
const username = (name: string) => `${name}${++uniqueCounter}${randomUUID().slice(0, 4)}`;

async function expectCode(promise: Promise<unknown>, code: string, detail?: string): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isApiError(error), `expected ApiError ${code}, got ${String(error)}`).toBe(true);
  expect((error as ApiError).code).toBe(code);
  if (detail !== undefined) expect((error as ApiError).detail).toBe(detail);
  return error as ApiError;
}

/** An object the caller may not know about: NOT_FOUND by lms.proto's rule. */
async function expectHidden(promise: Promise<unknown>): Promise<void> {
  await expectCode(promise, "NOT_FOUND");
}

async function spooled(name: string, content: string | Buffer): Promise<SpooledFile> {
  const path = join(files, `${randomUUID()}`);
  await writeFile(path, content);
  const bytes = Buffer.from(content);
  return {
    path,
    name,
    contentType: "text/plain",
    sizeBytes: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/** A submission with a small file attached. */
async function submitWork(
  api: LmsApi,
  token: string,
  assignmentId: string,
  text: string,
  idempotencyKey: string = key(),
) {
  return api.submit(token, { assignmentId, text, file: await spooled(`${text}.txt`, `work: ${text}`), idempotencyKey });
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString("utf8");
}

/** A new instructor, signed in, who owns nothing yet: someone else's course is hidden from them. */
async function anotherInstructor(api: LmsApi, adminToken: string): Promise<string> {
  const name = username("other");
  await api.createUser(adminToken, {
    username: name,
    password: "other-password-12",
    displayName: "Otto",
    role: "instructor",
    idempotencyKey: key(),
  });
  return (await api.login({ username: name, password: "other-password-12" })).token;
}

/** An instructor with a course and one assignment, and two enrolled students. */
async function classroom(world: ContractWorld) {
  const { api, adminToken } = world;
  const names = { teacher: username("teach"), alice: username("alice"), bob: username("bob") };
  await api.createUser(adminToken, {
    username: names.teacher,
    password: "teacher-password-1",
    displayName: "Tess Teacher",
    role: "instructor",
    idempotencyKey: key(),
  });
  const aliceUser = await api.register({
    username: names.alice,
    password: "alice-password-12",
    displayName: "Alice",
    idempotencyKey: key(),
  });
  const bobUser = await api.register({
    username: names.bob,
    password: "bob-password-1234",
    displayName: "Bob",
    idempotencyKey: key(),
  });
  const teacher = (await api.login({ username: names.teacher, password: "teacher-password-1" })).token;
  const alice = (await api.login({ username: names.alice, password: "alice-password-12" })).token;
  const bob = (await api.login({ username: names.bob, password: "bob-password-1234" })).token;
  const course = await api.createCourse(teacher, {
    title: "Distributed systems",
    description: "",
    idempotencyKey: key(),
  });
  const code = await api.createJoinCode(teacher, { courseId: course.id, expiresAtMs: 0, idempotencyKey: key() });
  await api.joinCourse(alice, { code: code.code, idempotencyKey: key() });
  await api.enrolStudent(teacher, { courseId: course.id, username: names.bob, idempotencyKey: key() });
  const assignment = await api.createAssignment(teacher, {
    courseId: course.id,
    title: "Raft",
    description: "Implement it",
    dueAtMs: 0,
    maxPoints: 10,
    idempotencyKey: key(),
  });
  return { names, teacher, alice, bob, aliceUser, bobUser, course, code, assignment };
}

/** What GetCoursePage answers `token`, as the single list reads each of its fields names answer it. */
async function pageBySingleReads(api: LmsApi, token: string, courseId: string, owner: boolean) {
  return {
    detail: await api.getCourse(token, { courseId }),
    viewerRole: owner ? "instructor" : "student",
    assignments: await api.listAssignments(token, { courseId }),
    materials: await api.listMaterials(token, { courseId }),
    questions: await api.listQuestions(token, { courseId }),
    feedback: await api.listFeedback(token, { courseId }),
    mySubmissions: owner ? [] : await api.listSubmissions(token, { courseId }),
    myGrades: owner ? [] : await api.listGrades(token, { courseId }),
    joinCodes: owner ? await api.listJoinCodes(token, { courseId }) : [],
    students: owner ? await api.listStudents(token, { courseId }) : [],
  };
}

/** The journeys, for any world. */
function contract(worldOf: () => ContractWorld): void {
  test("accounts: register, log in, who am I, taken names, wrong passwords, log out revokes the token", async () => {
    const { api, adminToken } = worldOf();
    const name = username("carol");
    const user = await api.register({
      username: name,
      password: "carol-password-1",
      displayName: "Carol",
      idempotencyKey: key(),
    });
    expect(user).toMatchObject({ username: name, displayName: "Carol", role: "student" });
    await expectCode(
      api.register({ username: name, password: "carol-password-2", displayName: "C", idempotencyKey: key() }),
      "ALREADY_EXISTS",
    );
    await expectCode(
      api.register({ username: username("dave"), password: "short", displayName: "D", idempotencyKey: key() }),
      "INVALID_ARGUMENT",
    );
    await expectCode(api.login({ username: name, password: "wrong-password-9" }), "UNAUTHENTICATED");
    const session = await api.login({ username: name, password: "carol-password-1" });
    expect(session.user.id).toBe(user.id);
    expect(session.expiresAtMs).toBeGreaterThan(Date.now());
    expect(await api.whoAmI(session.token)).toMatchObject({ id: user.id, role: "student" });
    await api.logout(session.token, { idempotencyKey: key() });
    await expectCode(api.whoAmI(session.token), "UNAUTHENTICATED");
    await expectCode(api.whoAmI("not-a-token"), "UNAUTHENTICATED");
    // Admins create instructors; students may not.
    const student = (await api.login({ username: name, password: "carol-password-1" })).token;
    await expectCode(
      api.createUser(student, {
        username: username("eve"),
        password: "eve-password-123",
        displayName: "Eve",
        role: "instructor",
        idempotencyKey: key(),
      }),
      "PERMISSION_DENIED",
    );
    const instructors = await api.listInstructors(adminToken);
    expect(instructors.every((instructor) => instructor.role === "instructor")).toBe(true);
  });

  test("courses: join codes, enrolment, revoked and unknown codes, who sees which course", async () => {
    const world = worldOf();
    const { api } = world;
    const { teacher, alice, bob, course, code, aliceUser, bobUser } = await classroom(world);
    expect((await api.listCourses(alice)).map((c) => c.id)).toEqual([course.id]);
    expect((await api.listCourses(teacher)).map((c) => c.id)).toEqual([course.id]);
    const detail = await api.getCourse(alice, { courseId: course.id });
    expect(detail.course).toMatchObject({ id: course.id, title: "Distributed systems", studentCount: 2 });
    expect(detail.instructor.displayName).toBe("Tess Teacher");
    expect((await api.listStudents(teacher, { courseId: course.id })).map((s) => s.id).sort()).toEqual(
      [aliceUser.id, bobUser.id].sort(),
    );
    const [listed] = await api.listJoinCodes(teacher, { courseId: course.id });
    expect(listed).toMatchObject({ code: code.code, revokedAtMs: 0 });
    expect(listed.timesUsed).toBe(1);
    const revoked = await api.revokeJoinCode(teacher, { courseId: course.id, code: code.code, idempotencyKey: key() });
    expect(revoked.revokedAtMs).toBeGreaterThan(0);
    const carol = await api.register({
      username: username("carol"),
      password: "carol-password-1",
      displayName: "Carol",
      idempotencyKey: key(),
    });
    const carolToken = (await api.login({ username: carol.username, password: "carol-password-1" })).token;
    await expectCode(api.joinCourse(carolToken, { code: code.code, idempotencyKey: key() }), "FAILED_PRECONDITION");
    await expectCode(api.joinCourse(carolToken, { code: "NOSUCHCODE", idempotencyKey: key() }), "NOT_FOUND");
    await expectHidden(api.getCourse(carolToken, { courseId: course.id }));
    await expectCode(
      api.createCourse(bob, { title: "Mine", description: "", idempotencyKey: key() }),
      "PERMISSION_DENIED",
    );
  });

  test("authorisation: students see only their own work, instructors only their own courses", async () => {
    const world = worldOf();
    const { api, adminToken } = world;
    const { teacher, alice, bob, course, assignment, bobUser } = await classroom(world);
    await submitWork(api, alice, assignment.id, "alice");
    await submitWork(api, bob, assignment.id, "bob");
    expect((await api.listSubmissions(alice, { assignmentId: assignment.id })).map((s) => s.text)).toEqual(["alice"]);
    expect((await api.listSubmissions(teacher, { courseId: course.id })).map((s) => s.text).sort()).toEqual([
      "alice",
      "bob",
    ]);
    await expectCode(
      api.listSubmissions(alice, { assignmentId: assignment.id, studentId: bobUser.id }),
      "PERMISSION_DENIED",
    );
    await expectCode(
      api.getSubmissionHistory(alice, { assignmentId: assignment.id, studentId: bobUser.id }),
      "PERMISSION_DENIED",
    );
    const other = await anotherInstructor(api, adminToken);
    await expectHidden(api.getCourse(other, { courseId: course.id }));
    await expectHidden(api.exportGradesCsv(other, { courseId: course.id }));
    expect(await api.listNeedsGrading(other, {})).toEqual([]);
    await expectHidden(api.listNeedsGrading(other, { courseId: course.id }));
    // A student has no grading queue, of their own course or at all.
    await expectCode(api.listNeedsGrading(alice, { courseId: course.id }), "PERMISSION_DENIED");
    await expectCode(api.listNeedsGrading(alice, {}), "PERMISSION_DENIED");
    await expectCode(
      api.createAssignment(alice, {
        courseId: course.id,
        title: "x",
        description: "",
        dueAtMs: 0,
        maxPoints: 1,
        idempotencyKey: key(),
      }),
      "PERMISSION_DENIED",
    );
    await expectCode(
      api.setGradesReleased(alice, { assignmentId: assignment.id, released: true, idempotencyKey: key() }),
      "PERMISSION_DENIED",
    );
    await expectCode(api.getClusterStatus(alice), "PERMISSION_DENIED");
  });

  test("grading: the needs-grading queue, hidden grades until release, history, resubmission", async () => {
    const world = worldOf();
    const { api } = world;
    const { teacher, alice, course, assignment, aliceUser, names } = await classroom(world);
    expect(await api.listNeedsGrading(teacher, {})).toEqual([]);
    const first = await submitWork(api, alice, assignment.id, "v1");
    expect(first).toMatchObject({ attempt: 1, late: false, studentId: aliceUser.id, courseId: course.id });
    expect(await api.listNeedsGrading(teacher, { courseId: course.id })).toEqual([
      {
        courseId: course.id,
        courseTitle: "Distributed systems",
        assignmentId: assignment.id,
        assignmentTitle: "Raft",
        dueAtMs: 0,
        ungradedCount: 1,
        lateCount: 0,
      },
    ]);
    const grade = await api.gradeSubmission(teacher, {
      assignmentId: assignment.id,
      studentId: aliceUser.id,
      points: 7,
      feedback: "Good start",
      idempotencyKey: key(),
    });
    expect(grade).toMatchObject({ points: 7, feedback: "Good start", submissionId: first.id, released: false });
    expect(await api.listNeedsGrading(teacher, {})).toEqual([]);
    await expectCode(
      api.gradeSubmission(teacher, {
        assignmentId: assignment.id,
        studentId: aliceUser.id,
        points: 11,
        feedback: "",
        idempotencyKey: key(),
      }),
      "INVALID_ARGUMENT",
    );
    // Hidden from the student on every read path until released.
    expect(await api.listGrades(alice, { courseId: course.id })).toEqual([]);
    expect(await api.listGrades(alice, { courseId: course.id, assignmentId: assignment.id })).toEqual([]);
    expect(await api.listGrades(teacher, { courseId: course.id })).toHaveLength(1);
    const released = await api.setGradesReleased(teacher, {
      assignmentId: assignment.id,
      released: true,
      idempotencyKey: key(),
    });
    expect(released.gradesReleasedAtMs).toBeGreaterThan(0);
    expect((await api.listGrades(alice, { courseId: course.id }))[0]).toMatchObject({ points: 7, released: true });
    await api.gradeSubmission(teacher, {
      assignmentId: assignment.id,
      studentId: aliceUser.id,
      points: 8,
      feedback: "Better",
      idempotencyKey: key(),
    });
    const history = await api.getGradeHistory(teacher, { courseId: course.id });
    expect(history.map((change) => [change.oldPoints, change.newPoints])).toEqual([
      [undefined, 7],
      [7, 8],
    ]);
    expect(history[1].logIndex).toBeGreaterThan(history[0].logIndex);
    await expectCode(api.getGradeHistory(alice, { courseId: course.id }), "PERMISSION_DENIED");
    // A resubmission after grading puts the student back in the queue.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await submitWork(api, alice, assignment.id, "v2");
    expect(second.attempt).toBe(2);
    expect((await api.listNeedsGrading(teacher, {}))[0]).toMatchObject({ ungradedCount: 1 });
    expect((await api.getSubmissionHistory(alice, { assignmentId: assignment.id })).map((s) => s.text)).toEqual([
      "v1",
      "v2",
    ]);
    expect(await api.listSubmissions(teacher, { assignmentId: assignment.id, includeAllAttempts: true })).toHaveLength(
      2,
    );
    expect(await api.listGrades(alice, { courseId: course.id })).toHaveLength(1);
    await api.setGradesReleased(teacher, { assignmentId: assignment.id, released: false, idempotencyKey: key() });
    expect(await api.listGrades(alice, { courseId: course.id })).toEqual([]);

    // A second course with work waiting: without a course, both queues in ListCourses' order.
    const consensus = await api.createCourse(teacher, { title: "Consensus", description: "", idempotencyKey: key() });
    await api.enrolStudent(teacher, { courseId: consensus.id, username: names.alice, idempotencyKey: key() });
    const paxos = await api.createAssignment(teacher, {
      courseId: consensus.id,
      title: "Paxos",
      description: "",
      dueAtMs: 0,
      maxPoints: 5,
      idempotencyKey: key(),
    });
    await submitWork(api, alice, paxos.id, "paxos");
    const everyQueue = await api.listNeedsGrading(teacher, {});
    expect(everyQueue.map((item) => item.courseId)).toEqual((await api.listCourses(teacher)).map((c) => c.id));
    expect(everyQueue.map((item) => [item.courseTitle, item.assignmentTitle, item.ungradedCount])).toEqual(
      expect.arrayContaining([
        ["Distributed systems", "Raft", 1],
        ["Consensus", "Paxos", 1],
      ]),
    );
    const secondQueue = await api.listNeedsGrading(teacher, { courseId: consensus.id });
    expect(secondQueue).toEqual(everyQueue.filter((item) => item.courseId === consensus.id));
    expect(secondQueue).toHaveLength(1);
    expect(await api.listNeedsGrading(teacher, { courses: [consensus] })).toEqual(secondQueue);
  });

  test("pages: GetCoursePage and GetDashboard answer what the single reads answer, per viewer", async () => {
    const world = worldOf();
    const { api, adminToken } = world;
    const { teacher, alice, bob, course, assignment, aliceUser, bobUser } = await classroom(world);
    const courseId = course.id;
    const later = await api.createAssignment(teacher, {
      courseId,
      title: "Paxos",
      description: "",
      dueAtMs: Date.now() + 3_600_000,
      maxPoints: 5,
      idempotencyKey: key(),
    });
    await api.postMaterial(teacher, { courseId, title: "Slides", description: "", idempotencyKey: key() });
    await api.postFeedback(teacher, { courseId, text: "to all", idempotencyKey: key() });
    await api.postFeedback(teacher, { courseId, studentId: bobUser.id, text: "to bob", idempotencyKey: key() });
    await api.askQuestion(alice, { courseId, text: "alice asks", idempotencyKey: key() });
    await api.askQuestion(bob, { courseId, text: "bob asks", idempotencyKey: key() });
    await submitWork(api, alice, assignment.id, "alice v1");
    await api.gradeSubmission(teacher, {
      assignmentId: assignment.id,
      studentId: aliceUser.id,
      points: 7,
      feedback: "",
      idempotencyKey: key(),
    });
    await submitWork(api, bob, assignment.id, "bob v1");

    const bySingleReads = (token: string, owner: boolean) => pageBySingleReads(api, token, courseId, owner);
    const alicePage = await api.getCoursePage(alice, { courseId });
    expect(alicePage).toEqual(await bySingleReads(alice, false));
    expect(alicePage.questions.map((question) => question.text)).toEqual(["alice asks"]);
    expect(alicePage.feedback.map((note) => note.text)).toEqual(["to all"]);
    expect(alicePage.mySubmissions.map((submission) => submission.text)).toEqual(["alice v1"]);
    // Graded, not released: hidden from the student on this path too.
    expect(alicePage.myGrades).toEqual([]);
    const teacherPage = await api.getCoursePage(teacher, { courseId });
    expect(teacherPage).toEqual(await bySingleReads(teacher, true));
    expect(teacherPage.students.map((student) => student.id).sort()).toEqual([aliceUser.id, bobUser.id].sort());
    await api.setGradesReleased(teacher, { assignmentId: assignment.id, released: true, idempotencyKey: key() });
    expect((await api.getCoursePage(alice, { courseId })).myGrades).toMatchObject([{ points: 7, released: true }]);
    expect((await api.getCoursePage(bob, { courseId })).myGrades).toEqual([]);

    const other = await anotherInstructor(api, adminToken);
    await expectHidden(api.getCoursePage(other, { courseId }));
    await expectHidden(api.getCoursePage(teacher, { courseId: "no-such-course" }));
    // An admin may know every course, so a course of someone else's is refused, not hidden.
    await expectCode(api.getCoursePage(adminToken, { courseId }), "PERMISSION_DENIED");

    const aliceDashboard = await api.getDashboard(alice);
    expect(aliceDashboard.courses).toEqual(await api.listCourses(alice));
    expect(aliceDashboard.unsubmitted).toEqual([later]);
    expect(aliceDashboard.needsGrading).toEqual([]);
    expect(aliceDashboard.pendingQuestions).toEqual([]);
    const teacherDashboard = await api.getDashboard(teacher);
    expect(teacherDashboard.courses).toEqual(await api.listCourses(teacher));
    // Alice is graded; Bob's attempt waits. The same numbers as the needs-grading list.
    expect(teacherDashboard.needsGrading).toEqual(await api.listNeedsGrading(teacher, {}));
    expect(teacherDashboard.needsGrading).toMatchObject([
      { courseId, assignmentId: assignment.id, courseTitle: "Distributed systems", ungradedCount: 1, lateCount: 0 },
    ]);
    expect(teacherDashboard.pendingQuestions).toEqual([{ courseId, count: 2 }]);
    expect(teacherDashboard.unsubmitted).toEqual([]);
    const adminDashboard = await api.getDashboard(adminToken);
    expect(adminDashboard.courses).toEqual(await api.listCourses(adminToken));
    expect(adminDashboard).toMatchObject({ unsubmitted: [], needsGrading: [], pendingQuestions: [] });
    expect(await api.getDashboard(other)).toEqual({
      courses: [],
      unsubmitted: [],
      needsGrading: [],
      pendingQuestions: [],
    });
    // The web front's bound is the service's.
    expect(maxDashboardCourses).toBe(serviceMaxDashboardCourses);

    // A long description reaches the dashboard cut to dashboardDescriptionChars, with "…"; the
    // course itself keeps it whole.
    const syllabus = `${"Week by week: logs, terms, votes. ".repeat(20)}The end.`;
    const long = await api.createCourse(teacher, {
      title: "Long syllabus",
      description: syllabus,
      idempotencyKey: key(),
    });
    const shown = (await api.getDashboard(teacher)).courses.find((c) => c.id === long.id);
    expect(shown?.description).toBe(`${syllabus.slice(0, dashboardDescriptionChars - 1)}…`);
    expect((await api.getCourse(teacher, { courseId: long.id })).course.description).toBe(syllabus);
  });

  test("idempotency: a retried write applies once; other content or a short key is refused", async () => {
    const world = worldOf();
    const { api } = world;
    const { alice, assignment } = await classroom(world);
    const sameKey = key();
    const first = await submitWork(api, alice, assignment.id, "x", sameKey);
    const again = await submitWork(api, alice, assignment.id, "x", sameKey);
    expect(again).toEqual(first);
    expect(await api.listSubmissions(alice, { assignmentId: assignment.id, includeAllAttempts: true })).toHaveLength(1);
    await expectCode(submitWork(api, alice, assignment.id, "y", sameKey), "INVALID_ARGUMENT");
    // lms.proto and the web front agree: 16 to 128 characters from [A-Za-z0-9_-].
    await expectCode(submitWork(api, alice, assignment.id, "y", "fifteen-chars-x"), "INVALID_ARGUMENT");
    const sixteen = await submitWork(api, alice, assignment.id, "z", "sixteen-chars-xy");
    expect(sixteen.attempt).toBe(2);
  });

  test("files: a submitted file and a material download intact; the size limit says FILE_TOO_LARGE", async () => {
    const world = worldOf();
    const { api } = world;
    const { teacher, alice, bob, course, assignment } = await classroom(world);
    const file = await spooled("notes.txt", "my raft notes\n".repeat(1000));
    const submission = await api.submit(alice, { assignmentId: assignment.id, text: "", file, idempotencyKey: key() });
    expect(submission.files).toHaveLength(1);
    expect(submission.files[0]).toMatchObject({ name: "notes.txt", sizeBytes: file.sizeBytes, sha256: file.sha256 });
    const asTeacher = await api.downloadFile(teacher, { fileId: submission.files[0].fileId });
    expect(asTeacher.file.sha256).toBe(file.sha256);
    expect(await readAll(asTeacher.chunks)).toBe("my raft notes\n".repeat(1000));
    await expectHidden(api.downloadFile(bob, { fileId: submission.files[0].fileId }));
    const empty = await expectCode(
      api.submit(alice, { assignmentId: assignment.id, text: " ", idempotencyKey: key() }),
      "INVALID_ARGUMENT",
    );
    expect(empty.message).toMatch(/file/);
    const textOnly = await api.submit(alice, { assignmentId: assignment.id, text: "just text", idempotencyKey: key() });
    expect(textOnly.files).toEqual([]);
    expect(textOnly.text).toBe("just text");

    const slides = await spooled("slides.txt", "slide one");
    const material = await api.postMaterial(teacher, {
      courseId: course.id,
      title: "Week 1",
      description: "Read this",
      file: slides,
      idempotencyKey: key(),
    });
    expect(material.file?.name).toBe("slides.txt");
    expect((await api.listMaterials(bob, { courseId: course.id })).map((m) => m.title)).toEqual(["Week 1"]);
    const asStudent = await api.downloadFile(bob, { fileId: material.file?.fileId ?? "" });
    expect(await readAll(asStudent.chunks)).toBe("slide one");
    await expectCode(api.downloadFile(bob, { fileId: "no-such-file" }), "NOT_FOUND");

    const big = await spooled("big.bin", "");
    await truncate(big.path, world.maxFileBytes + 1);
    const bigBytes = Buffer.alloc(world.maxFileBytes + 1);
    const bigFile = { ...big, sizeBytes: bigBytes.length, sha256: createHash("sha256").update(bigBytes).digest("hex") };
    await expectCode(
      api.submit(alice, { assignmentId: assignment.id, text: "", file: bigFile, idempotencyKey: key() }),
      "RESOURCE_EXHAUSTED",
      "FILE_TOO_LARGE",
    );
  });

  test("questions: ask, filter by status, answer once", async () => {
    const world = worldOf();
    const { api } = world;
    const { teacher, alice, bob, course } = await classroom(world);
    const question = await api.askQuestion(alice, {
      courseId: course.id,
      text: "When is it due?",
      idempotencyKey: key(),
    });
    expect(question).toMatchObject({ status: "pending", text: "When is it due?", answer: "" });
    await api.askQuestion(bob, { courseId: course.id, text: "Bob's question", idempotencyKey: key() });
    expect((await api.listQuestions(alice, { courseId: course.id })).map((q) => q.text)).toEqual(["When is it due?"]);
    expect(await api.listQuestions(teacher, { courseId: course.id, status: "pending" })).toHaveLength(2);
    const answered = await api.answerQuestion(teacher, {
      questionId: question.id,
      answer: "Friday",
      idempotencyKey: key(),
    });
    expect(answered).toMatchObject({ status: "answered", answer: "Friday" });
    const twice = api.answerQuestion(teacher, { questionId: question.id, answer: "Again", idempotencyKey: key() });
    await expectCode(twice, "FAILED_PRECONDITION");
    expect((await api.listQuestions(teacher, { courseId: course.id, status: "answered" })).map((q) => q.id)).toEqual([
      question.id,
    ]);
  });

  test("CSV export: one row per student, formula-looking cells neutralised", async () => {
    const world = worldOf();
    const { api } = world;
    const { teacher, course, aliceUser, names } = await classroom(world);
    await api.createAssignment(teacher, {
      courseId: course.id,
      title: "=cmd|' /C calc'!A0",
      description: "",
      dueAtMs: 0,
      maxPoints: 1,
      idempotencyKey: key(),
    });
    const raft = (await api.listAssignments(teacher, { courseId: course.id })).find((a) => a.title === "Raft");
    await api.gradeSubmission(teacher, {
      assignmentId: raft?.id ?? "",
      studentId: aliceUser.id,
      points: 9.5,
      feedback: "",
      idempotencyKey: key(),
    });
    const csv = await api.exportGradesCsv(teacher, { courseId: course.id });
    expect(csv.fileName).toMatch(/\.csv$/);
    const text = await readAll(csv.chunks);
    expect(text).toContain("'=cmd|' /C calc'!A0");
    expect(text).not.toMatch(/(^|,)"?=cmd/m);
    expect(text).toContain(names.alice);
    expect(text).toContain("9.5");
  });

  test("tutor: streams pieces; a model server that is down gives UNAVAILABLE / TUTOR_UNAVAILABLE", async () => {
    const world = worldOf();
    const { api } = world;
    const { alice } = await classroom(world);
    const pieces: string[] = [];
    for await (const piece of api.askTutor(alice, { question: "What is a term?", idempotencyKey: key() })) {
      pieces.push(piece);
    }
    expect(pieces.length).toBeGreaterThan(1);
    world.setTutorAvailable(false);
    try {
      const failure = (async () => {
        for await (const _piece of api.askTutor(alice, { question: "Why?", idempotencyKey: key() })) {
          // No piece is expected.
        }
      })();
      await expectCode(failure, "UNAVAILABLE", "TUTOR_UNAVAILABLE");
    } finally {
      world.setTutorAvailable(true);
    }
  });

  test("cluster: admins see every node and one leader; health answers for every node", async () => {
    const { api, adminToken } = worldOf();
    const status = await api.getClusterStatus(adminToken);
    expect(status.nodes.map((node) => node.nodeId)).toEqual(["n1", "n2", "n3"]);
    expect(status.nodes.every((node) => node.reachable && node.kind === "voter")).toBe(true);
    expect(status.nodes.filter((node) => node.role === "leader").map((node) => node.nodeId)).toEqual([status.leaderId]);
    const leader = status.nodes.find((node) => node.nodeId === status.leaderId);
    expect(leader?.commitIndex).toBeGreaterThan(0);
    expect(status.clusterId).not.toBe("");
    const health = await api.health();
    expect(health.map((check) => check.name)).toEqual(["node n1", "node n2", "node n3"]);
    expect(health.every((check) => check.ok)).toBe(true);
  });
}

beforeAll(async () => {
  files = await mkdtemp(join(tmpdir(), "lectern-contract-"));
});

afterAll(async () => {
  await rm(files, { recursive: true, force: true });
});

describe("LmsApi contract: FakeLmsApi", { timeout: 30_000 }, () => {
  let world: ContractWorld;
  beforeAll(async () => {
    const api = new FakeLmsApi();
    api.seedUser({ username: "admin", password: adminPassword, role: "admin" });
    const adminToken = (await api.login({ username: "admin", password: adminPassword })).token;
    world = {
      api,
      adminToken,
      maxFileBytes: fakeMaxFileBytes,
      setTutorAvailable: (available) => {
        api.tutor.available = available;
      },
    };
  });
  contract(() => world);
});

// Each journey signs up users (scrypt on the nodes) and writes through Raft: seconds on a busy machine.
describe("LmsApi contract: createGrpcLmsApi over a real 3-node cluster", { timeout: 30_000 }, () => {
  let cluster: LocalCluster;
  let ollama: FakeOllama;
  let api: GrpcLmsApi;
  let world: ContractWorld;

  beforeAll(async () => {
    ollama = new FakeOllama();
    const ollamaUrl = await ollama.start();
    cluster = await LocalCluster.start({ ollamaUrl, maxFileBytes: clusterMaxFileBytes });
    api = createGrpcLmsApi({ nodes: cluster.nodeEntries, initialBackoffMs: 20, maxBackoffMs: 300, maxAttempts: 20 });
    await cluster.bootstrapAdmin("admin", adminPassword, "Ada Admin");
    const adminToken = (await api.login({ username: "admin", password: adminPassword })).token;
    world = {
      api,
      adminToken,
      maxFileBytes: clusterMaxFileBytes,
      setTutorAvailable: (available) => {
        ollama.available = available;
      },
    };
  }, 30_000);

  afterAll(async () => {
    api?.close();
    await cluster?.stop();
    await ollama?.stop();
  });

  contract(() => world);

  // The fake has no message limit, so only a real cluster can refuse a page for its size.
  test("a course page too large for one message still loads, every note included, from the paged lists", async () => {
    const { teacher, alice, course, assignment, aliceUser } = await classroom(world);
    const courseId = course.id;
    await api.postMaterial(teacher, { courseId, title: "Slides", description: "", idempotencyKey: key() });
    await api.askQuestion(alice, { courseId, text: "alice asks", idempotencyKey: key() });
    await submitWork(api, alice, assignment.id, "alice v1");
    await api.gradeSubmission(teacher, {
      assignmentId: assignment.id,
      studentId: aliceUser.id,
      points: 7,
      feedback: "",
      idempotencyKey: key(),
    });
    await api.setGradesReleased(teacher, { assignmentId: assignment.id, released: true, idempotencyKey: key() });
    const client = new LmsClient({ addresses: cluster.addresses });
    try {
      // While it is small, the paged rebuild is exactly GetCoursePage's answer, for either view.
      for (const token of [teacher, alice]) {
        const rebuilt = coursePageFromProto(await coursePageFromLists(client.withToken(token), courseId));
        expect(rebuilt).toEqual(await api.getCoursePage(token, { courseId }));
      }

      let posted = 0;
      const postNotes = async () => {
        while (posted < oversizedNoteCount) {
          posted++;
          await api.postFeedback(teacher, { courseId, text: longestNoteText, idempotencyKey: key() });
        }
      };
      await Promise.all(Array.from({ length: notePostingConcurrency }, postNotes));
      // The one-call page is refused now...
      const refused = await client
        .withToken(teacher)
        .courses.getCoursePage({ courseId })
        .then(
          () => undefined,
          (error: unknown) => error as { code?: number; details?: string },
        );
      expect(refused?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(refused?.details).toMatch(/paged list RPCs/);
    } finally {
      client.close();
    }
    // ...yet the page loads for the owner and for a student, whole: course-wide notes reach both.
    const teacherPage = await api.getCoursePage(teacher, { courseId });
    expect(teacherPage.feedback).toHaveLength(oversizedNoteCount);
    expect(teacherPage.feedback.every((note) => note.text === longestNoteText)).toBe(true);
    expect(teacherPage).toEqual(await pageBySingleReads(api, teacher, courseId, true));
    const alicePage = await api.getCoursePage(alice, { courseId });
    expect(alicePage.feedback).toHaveLength(oversizedNoteCount);
    expect(alicePage).toEqual(await pageBySingleReads(api, alice, courseId, false));
    expect(alicePage).toMatchObject({ viewerRole: "student", joinCodes: [], students: [] });
    expect(alicePage.mySubmissions.map((submission) => submission.text)).toEqual(["alice v1"]);
    expect(alicePage.myGrades).toMatchObject([{ points: 7, released: true }]);
  }, 60_000);

  test("the leader crashes mid-journey: writes and reads carry on, the cluster view shows the change", async () => {
    const { adminToken } = world;
    const { teacher, alice, course, assignment, aliceUser } = await classroom(world);
    const oldLeader = await cluster.leaderId();
    const submission = api.submit(alice, {
      assignmentId: assignment.id,
      text: "written while the leader dies",
      file: await spooled("during.txt", "x".repeat(300_000)),
      idempotencyKey: key(),
    });
    await cluster.kill(oldLeader);
    const submitted = await submission;
    expect(submitted.attempt).toBe(1);
    // Exactly one attempt exists, whatever node took the retry.
    expect(await api.listSubmissions(teacher, { assignmentId: assignment.id, includeAllAttempts: true })).toHaveLength(
      1,
    );
    await api.gradeSubmission(teacher, {
      assignmentId: assignment.id,
      studentId: aliceUser.id,
      points: 10,
      feedback: "Survived a crash",
      idempotencyKey: key(),
    });
    expect((await api.listGrades(teacher, { courseId: course.id }))[0].points).toBe(10);

    const newLeader = await cluster.leaderId();
    expect(newLeader).not.toBe(oldLeader);
    const status = await api.getClusterStatus(adminToken);
    expect(status.leaderId).toBe(newLeader);
    const dead = status.nodes.find((node) => node.nodeId === oldLeader);
    expect(dead).toMatchObject({ reachable: false, role: "unknown", kind: "voter" });
    expect(dead?.error).toMatch(/^(connection refused|not connected)$/);
    expect(status.nodes.filter((node) => node.reachable)).toHaveLength(2);
    const health = await api.health();
    expect(health.find((check) => check.name === `node ${oldLeader}`)).toMatchObject({ ok: false });
    expect(health.filter((check) => check.ok)).toHaveLength(2);
  }, 30_000);
});
