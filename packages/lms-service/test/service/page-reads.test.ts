import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { LmsClient } from "../../src/client/lms-client.js";
import { maxDashboardCourses } from "../../src/domain/queries.js";
import { type Assignment, GetCoursePageResponse, QuestionStatus, ReadConsistency, Role } from "../../src/gen/lms.js";
import type { LmsNode } from "../../src/node/lms-node.js";
import { maxAnswerBytes } from "../../src/service/answer-size.js";
import { descriptionExcerpt } from "../../src/service/description-excerpt.js";
import { checkedCoursePageSize } from "../../src/service/page-reads.js";
import { clientMaxMessageBytes } from "../../src/transport/limits.js";
import { failure, TestCluster } from "../node/cluster-harness.js";

/**
 * GetCoursePage and GetDashboard over real gRPC against a one-node cluster: each answers what the
 * separate RPCs the web front used to make answer, for every kind of caller, with one read
 * barrier, and refuses with the same status codes.
 */

const password = "a long enough password";
const hourMs = 3_600_000;

/** A feedback note of the longest text allowed (10,000 characters), each a 3-byte "€" in UTF-8. */
const widestNoteText = "€".repeat(10_000);
/** Course-wide notes that take a course page past one client message: 150 × 30,000 bytes. */
const oversizedNoteCount = 150;
/** Notes posted at once while building the oversized course. */
const postingConcurrency = 8;

/** Lists come in key order, and keys hold random ids: compare their contents, not their order. */
const sorted = (values: readonly string[]) => [...values].sort();

/** What the course page showed when it made one call per list (before GetCoursePage). */
async function separateReads(client: LmsClient, courseId: string, role: "student" | "owner") {
  const course = await client.courses.getCourse({ courseId });
  const base = {
    course: course.course,
    instructor: course.instructor,
    assignments: (await client.assignments.listAssignments({ courseId })).assignments,
    materials: (await client.content.listMaterials({ courseId })).materials,
    questions: (await client.content.listQuestions({ courseId })).questions,
    feedback: (await client.content.listFeedback({ courseId })).notes,
  };
  if (role === "owner") {
    return {
      ...base,
      viewerRole: Role.ROLE_INSTRUCTOR,
      mySubmissions: [],
      myGrades: [],
      joinCodes: (await client.courses.listJoinCodes({ courseId })).joinCodes,
      students: (await client.auth.listStudents({ courseId })).students,
    };
  }
  return {
    ...base,
    viewerRole: Role.ROLE_STUDENT,
    mySubmissions: (await client.assignments.listSubmissions({ courseId })).submissions,
    myGrades: (await client.assignments.listGrades({ courseId })).grades,
    joinCodes: [],
    students: [],
  };
}

describe("one read per page: GetCoursePage and GetDashboard", () => {
  let cluster: TestCluster;
  let leader: LmsNode;
  let anonymous: LmsClient;
  let admin: LmsClient;
  let ines: LmsClient;
  let otto: LmsClient;
  let sam: LmsClient;
  let tara: LmsClient;
  let uma: LmsClient;
  let samId = "";
  let taraId = "";
  let courseId = "";
  let secondCourseId = "";
  let essay: Assignment;
  let quiz: Assignment;
  let project: Assignment;

  async function signIn(username: string): Promise<LmsClient> {
    return anonymous.withToken((await anonymous.auth.login({ username, password })).token);
  }

  async function createAssignment(client: LmsClient, course: string, title: string, dueAtMs: number) {
    const { assignment } = await client.assignments.createAssignment({
      courseId: course,
      title,
      description: "",
      dueAtMs,
      maxPoints: 10,
    });
    if (assignment === undefined) throw new Error("no assignment");
    return assignment;
  }

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    leader = await cluster.leader();
    anonymous = cluster.client();
    await anonymous.auth.bootstrapAdmin({ username: "root", password, bootstrapProof: cluster.proof("root") });
    admin = await signIn("root");
    for (const username of ["ines", "otto"]) {
      await admin.auth.createUser({ username, password, displayName: username, role: Role.ROLE_INSTRUCTOR });
    }
    for (const username of ["sam", "tara", "uma"]) {
      await anonymous.auth.register({ username, password, displayName: username });
    }
    [ines, otto, sam, tara, uma] = await Promise.all(["ines", "otto", "sam", "tara", "uma"].map(signIn));
    samId = (await sam.auth.whoAmI({})).user?.id ?? "";
    taraId = (await tara.auth.whoAmI({})).user?.id ?? "";

    courseId = (await ines.courses.createCourse({ title: "Raft", description: "consensus" })).course?.id ?? "";
    secondCourseId = (await ines.courses.createCourse({ title: "Paxos", description: "" })).course?.id ?? "";
    await ines.courses.createJoinCode({ courseId });
    await ines.courses.enrolStudent({ courseId, username: "sam" });
    await ines.courses.enrolStudent({ courseId, username: "tara" });
    await ines.courses.enrolStudent({ courseId: secondCourseId, username: "sam" });
    essay = await createAssignment(ines, courseId, "Essay", Date.now() + hourMs);
    quiz = await createAssignment(ines, courseId, "Quiz", 0);
    // Already past due: an attempt at it is late.
    project = await createAssignment(ines, courseId, "Project", Date.now() - hourMs);
    await createAssignment(ines, secondCourseId, "Reading", 0);
    await ines.content.postMaterial({ courseId, title: "Slides", description: "week 1" });
    await ines.content.postFeedback({ courseId, text: "to everyone" });
    await ines.content.postFeedback({ courseId, studentId: samId, text: "to sam" });
    await ines.content.postFeedback({ courseId, studentId: taraId, text: "to tara" });
    const { question } = await sam.content.askQuestion({ courseId, text: "sam asks" });
    await tara.content.askQuestion({ courseId, text: "tara asks" });
    await tara.content.askQuestion({ courseId, text: "tara asks again" });
    await ines.content.answerQuestion({ questionId: question?.id, answer: "answered" });

    // Sam: two attempts at the essay (graded after the first, so it waits again), one at the
    // project (late, graded); Tara: one late attempt at the project.
    await sam.assignments.submit({ assignmentId: essay.id, text: "draft" });
    await ines.assignments.gradeSubmission({ assignmentId: essay.id, studentId: samId, points: 6, feedback: "" });
    await sam.assignments.submit({ assignmentId: essay.id, text: "final" });
    await sam.assignments.submit({ assignmentId: project.id, text: "late work" });
    await ines.assignments.gradeSubmission({ assignmentId: project.id, studentId: samId, points: 9, feedback: "ok" });
    await tara.assignments.submit({ assignmentId: project.id, text: "late too" });
    // Released: the project's grades. Unreleased: the essay's and the quiz's.
    await ines.assignments.setGradesReleased({ assignmentId: project.id, released: true });
    await ines.assignments.gradeSubmission({ assignmentId: quiz.id, studentId: samId, points: 3, feedback: "" });
  }, 60_000);

  afterAll(async () => {
    anonymous?.close();
    await cluster?.stop();
  });

  describe("GetCoursePage", () => {
    it("answers a student what the separate reads answer them", async () => {
      const page = await sam.courses.getCoursePage({ courseId });
      expect(page).toEqual(await separateReads(sam, courseId, "student"));
      // The parts really are the student's view, not empty lists that happen to agree.
      expect(page.questions.map((question) => question.text)).toEqual(["sam asks"]);
      expect(sorted(page.feedback.map((note) => note.text))).toEqual(["to everyone", "to sam"]);
      expect(sorted(page.mySubmissions.map((submission) => submission.text))).toEqual(["final", "late work"]);
      expect(page.mySubmissions.every((submission) => submission.studentId === samId)).toBe(true);
      expect(sorted(page.assignments.map((assignment) => assignment.title))).toEqual(["Essay", "Project", "Quiz"]);
    });

    it("answers the owner what the separate reads answer them", async () => {
      const page = await ines.courses.getCoursePage({ courseId });
      expect(page).toEqual(await separateReads(ines, courseId, "owner"));
      expect(page.questions).toHaveLength(3);
      expect(page.feedback).toHaveLength(3);
      expect(page.joinCodes).toHaveLength(1);
      expect(page.students.map((student) => student.id).sort()).toEqual([samId, taraId].sort());
      expect(page.course).toMatchObject({ id: courseId, studentCount: 2 });
    });

    it("keeps unreleased grades from the student on this path too, and shows them once released", async () => {
      const before = await sam.courses.getCoursePage({ courseId });
      expect(before.myGrades.map((grade) => grade.assignmentId)).toEqual([project.id]);
      expect(before.myGrades[0]).toMatchObject({ points: 9, released: true });
      await ines.assignments.setGradesReleased({ assignmentId: quiz.id, released: true });
      try {
        const after = await sam.courses.getCoursePage({ courseId });
        expect(after.myGrades.map((grade) => grade.assignmentId).sort()).toEqual([quiz.id, project.id].sort());
        expect(after.myGrades).toEqual((await sam.assignments.listGrades({ courseId })).grades);
        // Another student never sees Sam's grade, released or not.
        expect((await tara.courses.getCoursePage({ courseId })).myGrades).toEqual([]);
      } finally {
        await ines.assignments.setGradesReleased({ assignmentId: quiz.id, released: false });
      }
      const hiddenAgain = await sam.courses.getCoursePage({ courseId });
      expect(hiddenAgain.myGrades.map((grade) => grade.assignmentId)).toEqual([project.id]);
      // The owner sees every grade; none of them travels on the owner's page.
      expect((await ines.assignments.listGrades({ courseId })).grades.length).toBeGreaterThan(1);
    });

    it("refuses another instructor and a student outside the course as NOT_FOUND, like ListAssignments", async () => {
      for (const outsider of [otto, uma]) {
        const page = await failure(outsider.courses.getCoursePage({ courseId }));
        const list = await failure(outsider.assignments.listAssignments({ courseId }));
        expect(page.code).toBe(status.NOT_FOUND);
        expect(page.details).toBe(list.details);
      }
      const missing = await failure(ines.courses.getCoursePage({ courseId: "no-such-course" }));
      expect(missing.code).toBe(status.NOT_FOUND);
      const malformed = await failure(ines.courses.getCoursePage({ courseId: "../x" }));
      expect(malformed.code).toBe(status.INVALID_ARGUMENT);
      const anonymousCall = await failure(anonymous.courses.getCoursePage({ courseId }));
      expect(anonymousCall.code).toBe(status.UNAUTHENTICATED);
    });

    it("gives an admin the owner's page of a course they own and PERMISSION_DENIED inside another's", async () => {
      const { course } = await admin.courses.createCourse({ title: "Ops" });
      const own = await admin.courses.getCoursePage({ courseId: course?.id });
      expect(own).toEqual(await separateReads(admin, course?.id ?? "", "owner"));
      // The admin may read the course record (GetCourse) but not what is inside it.
      const page = await failure(admin.courses.getCoursePage({ courseId }));
      const list = await failure(admin.assignments.listAssignments({ courseId }));
      expect(page.code).toBe(status.PERMISSION_DENIED);
      expect(list.code).toBe(status.PERMISSION_DENIED);
      expect((await admin.courses.getCourse({ courseId })).course?.id).toBe(courseId);
    });

    it("refuses a page larger than one client message with RESOURCE_EXHAUSTED, naming the paged reads", async () => {
      await admin.auth.createUser({ username: "vera", password, displayName: "vera", role: Role.ROLE_INSTRUCTOR });
      const vera = await signIn("vera");
      const { course } = await vera.courses.createCourse({ title: "Huge", description: "" });
      const hugeId = course?.id ?? "";
      await anonymous.auth.register({ username: "wes", password, displayName: "wes" });
      const wes = await signIn("wes");
      await vera.courses.enrolStudent({ courseId: hugeId, username: "wes" });
      let posted = 0;
      const post = async () => {
        while (posted < oversizedNoteCount) {
          posted++;
          await vera.content.postFeedback({ courseId: hugeId, text: widestNoteText });
        }
      };
      await Promise.all(Array.from({ length: postingConcurrency }, post));

      // The owner's page and a student's (course-wide notes reach every student) are both too large.
      for (const reader of [vera, wes]) {
        const refused = await failure(reader.courses.getCoursePage({ courseId: hugeId }));
        expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
        expect(refused.details).toMatch(/more than one client API message may carry/);
        expect(refused.details).toMatch(/paged list RPCs/);
        expect(refused.details).toMatch(/ListFeedback/);
      }
      // The paged list it points to reads every note, even asked for the largest page: the node
      // ends each page before it passes half a message (500 of these notes would be 15 MB).
      const notes = [];
      const pageSizes = [];
      let pageToken = "";
      do {
        const page = await vera.content.listFeedback({ courseId: hugeId, pageSize: 500, pageToken });
        notes.push(...page.notes);
        pageSizes.push(page.notes.length);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      expect(notes).toHaveLength(oversizedNoteCount);
      expect(new Set(notes.map((note) => note.id)).size).toBe(oversizedNoteCount);
      expect(pageSizes.length).toBeGreaterThan(1);
      // A normal course's page is unaffected, for the same callers' other courses too.
      expect((await ines.courses.getCoursePage({ courseId })).feedback).toHaveLength(3);
    }, 60_000);

    it("asks Raft for one read barrier per page, however many parts it has", async () => {
      const read = vi.spyOn(leader.raft, "read");
      try {
        const page: GetCoursePageResponse = await ines.courses.getCoursePage({ courseId });
        expect(page.assignments.length).toBeGreaterThan(0);
        expect(read).toHaveBeenCalledTimes(1);
        read.mockClear();
        await sam.courses.getDashboard({});
        expect(read).toHaveBeenCalledTimes(1);
        read.mockClear();
        // A local read opts out of the barrier, as on every other read.
        await sam.courses.getCoursePage({ courseId, consistency: ReadConsistency.READ_CONSISTENCY_LOCAL });
        expect(read).not.toHaveBeenCalled();
      } finally {
        read.mockRestore();
      }
    });
  });

  describe("GetDashboard", () => {
    it("gives a student their courses and the assignments they have not submitted, course by course", async () => {
      const dashboard = await sam.courses.getDashboard({});
      expect(dashboard.courses).toEqual((await sam.courses.listCourses({})).courses);
      expect(sorted(dashboard.courses.map((course) => course.id))).toEqual(sorted([courseId, secondCourseId]));
      // Course by course, in the courses' order; each assignment as ListAssignments gives it.
      const expected = [];
      for (const course of dashboard.courses) {
        const { assignments } = await sam.assignments.listAssignments({ courseId: course.id });
        expected.push(
          ...assignments.filter((assignment) => assignment.title === "Quiz" || assignment.title === "Reading"),
        );
      }
      expect(dashboard.unsubmittedAssignments).toEqual(expected);
      expect(expected).toHaveLength(2);
      expect(dashboard.needsGrading).toEqual([]);
      expect(dashboard.pendingQuestions).toEqual([]);
      const tarasDashboard = await tara.courses.getDashboard({});
      expect(sorted(tarasDashboard.unsubmittedAssignments.map((assignment) => assignment.title))).toEqual([
        "Essay",
        "Quiz",
      ]);
    });

    it("gives an instructor the needs-grading counts and pending questions of their courses", async () => {
      const dashboard = await ines.courses.getDashboard({});
      expect(dashboard.courses).toEqual((await ines.courses.listCourses({})).courses);
      // Essay: Sam resubmitted after his grade. Project: Sam is graded, Tara's late attempt is not.
      // Quiz: graded without any attempt. Reading: nothing submitted.
      const counts = dashboard.needsGrading.map((entry) => [
        entry.assignment?.title,
        entry.ungradedCount,
        entry.lateCount,
      ]);
      expect(counts).toHaveLength(2);
      expect(counts).toEqual(
        expect.arrayContaining([
          ["Essay", 1, 0],
          ["Project", 1, 1],
        ]),
      );
      // In ListAssignments' order, each assignment as it gives it.
      const listed = (await ines.assignments.listAssignments({ courseId })).assignments;
      expect(dashboard.needsGrading.map((entry) => entry.assignment)).toEqual(
        listed.filter((assignment) => assignment.id === essay.id || assignment.id === project.id),
      );
      const pending = (await ines.content.listQuestions({ courseId, status: QuestionStatus.QUESTION_STATUS_PENDING }))
        .questions;
      const pendingOf = new Map([
        [courseId, pending.length],
        [secondCourseId, 0],
      ]);
      expect(dashboard.pendingQuestions).toEqual(
        dashboard.courses.map((course) => ({ courseId: course.id, pendingCount: pendingOf.get(course.id) })),
      );
      expect(pending).toHaveLength(2);
      expect(dashboard.unsubmittedAssignments).toEqual([]);
      // Another instructor owns nothing here and sees nothing of it.
      expect(await otto.courses.getDashboard({})).toEqual({
        courses: [],
        unsubmittedAssignments: [],
        needsGrading: [],
        pendingQuestions: [],
      });
    });

    it("gives an admin every course and nothing else", async () => {
      const dashboard = await admin.courses.getDashboard({});
      expect(dashboard.courses).toEqual((await admin.courses.listCourses({})).courses);
      expect(dashboard.courses.map((course) => course.id)).toEqual(expect.arrayContaining([courseId, secondCourseId]));
      expect(dashboard.unsubmittedAssignments).toEqual([]);
      expect(dashboard.needsGrading).toEqual([]);
      expect(dashboard.pendingQuestions).toEqual([]);
      expect((await failure(anonymous.courses.getDashboard({}))).code).toBe(status.UNAUTHENTICATED);
    });

    it("inspects at most maxDashboardCourses of a student's courses for the to-do list", async () => {
      // Uma joins one course more than the bound, each with one assignment she has not done.
      for (let i = 0; i <= maxDashboardCourses; i++) {
        const { course } = await otto.courses.createCourse({ title: `Course ${i}`, description: "" });
        await createAssignment(otto, course?.id ?? "", `Work ${i}`, 0);
        await otto.courses.enrolStudent({ courseId: course?.id, username: "uma" });
      }
      const dashboard = await uma.courses.getDashboard({});
      expect(dashboard.courses).toHaveLength(maxDashboardCourses + 1);
      const inspected = dashboard.courses.slice(0, maxDashboardCourses).map((course) => course.id);
      expect(dashboard.unsubmittedAssignments.map((assignment) => assignment.courseId)).toEqual(inspected);
      const skipped = dashboard.courses[maxDashboardCourses].id;
      expect(dashboard.unsubmittedAssignments.some((assignment) => assignment.courseId === skipped)).toBe(false);
    }, 60_000);
  });

  describe("GetDashboard descriptions", () => {
    /** Characters the web asks for (any bound works the same way). */
    const bound = 40;

    it("cuts every course and assignment description past max_description_chars, and none when 0", async () => {
      // An instructor of its own, so that no other test sees this course in its queue.
      await admin.auth.createUser({ username: "wyn", password, displayName: "wyn", role: Role.ROLE_INSTRUCTOR });
      const wyn = await signIn("wyn");
      const long = `${"Syllabus ".repeat(20)}end`;
      const { course } = await wyn.courses.createCourse({ title: "Long descriptions", description: long });
      const longCourseId = course?.id ?? "";
      const { assignment } = await wyn.assignments.createAssignment({
        courseId: longCourseId,
        title: "Long brief",
        description: long,
        dueAtMs: Date.now() + hourMs,
        maxPoints: 10,
      });
      await wyn.courses.enrolStudent({ courseId: longCourseId, username: "uma" });
      const shortened = await uma.courses.getDashboard({ maxDescriptionChars: bound });
      const mine = shortened.courses.find((c) => c.id === longCourseId);
      expect(mine?.description).toBe(`${long.slice(0, bound - 1)}…`);
      expect([...(mine?.description ?? "")]).toHaveLength(bound);
      const todo = shortened.unsubmittedAssignments.find((a) => a.id === assignment?.id);
      expect(todo?.description).toBe(`${long.slice(0, bound - 1)}…`);
      // A short description is left as it is; the rest of the answer is what an unbounded call gives.
      const whole = await uma.courses.getDashboard({});
      expect(whole.courses.find((c) => c.id === longCourseId)?.description).toBe(long);
      expect(whole.unsubmittedAssignments.find((a) => a.id === assignment?.id)?.description).toBe(long);
      expect(shortened.courses.map((c) => c.id)).toEqual(whole.courses.map((c) => c.id));
      for (const [cut, full] of shortened.courses.map((c, i) => [c, whole.courses[i]] as const)) {
        if ([...full.description].length <= bound) expect(cut).toEqual(full);
      }
      // ListNeedsGrading cuts its assignments' descriptions by the same rule.
      await uma.assignments.submit({ assignmentId: assignment?.id ?? "", text: "done" });
      const queue = await wyn.assignments.listNeedsGrading({ courseId: longCourseId, maxDescriptionChars: bound });
      expect(queue.items.map((item) => item.assignment?.description)).toEqual([`${long.slice(0, bound - 1)}…`]);
      const wholeQueue = await wyn.assignments.listNeedsGrading({ courseId: longCourseId });
      expect(wholeQueue.items.map((item) => item.assignment?.description)).toEqual([long]);
    });

    it("refuses a dashboard too large for one message unless descriptions are bounded", async () => {
      // An instructor owning 75 courses with the longest description allowed, 20,000 × "€" (60,000 bytes).
      await admin.auth.createUser({ username: "vic", password, displayName: "vic", role: Role.ROLE_INSTRUCTOR });
      const vic = await signIn("vic");
      const description = "€".repeat(20_000);
      for (let i = 0; i < 75; i += 5) {
        await Promise.all(
          [0, 1, 2, 3, 4].map((j) => vic.courses.createCourse({ title: `Course ${i + j}`, description })),
        );
      }
      const refused = await failure(vic.courses.getDashboard({}));
      expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(refused.details).toMatch(/more than one client API message may carry/);
      expect(refused.details).toMatch(/max_description_chars/);
      const bounded = await vic.courses.getDashboard({ maxDescriptionChars: 280 });
      expect(bounded.courses).toHaveLength(75);
      for (const course of bounded.courses) expect([...course.description]).toHaveLength(280);
    }, 60_000);
  });

  describe("ListNeedsGrading", () => {
    it("gives the owner of one course its queue: the dashboard's counts, in ListAssignments' order", async () => {
      const { items } = await ines.assignments.listNeedsGrading({ courseId });
      // Essay: Sam resubmitted after his grade. Project: Tara's late attempt waits. Quiz: graded
      // without any attempt, so nothing waits.
      expect(items.map((item) => [item.assignment?.title, item.ungradedCount, item.lateCount])).toEqual(
        expect.arrayContaining([
          ["Essay", 1, 0],
          ["Project", 1, 1],
        ]),
      );
      expect(items).toHaveLength(2);
      const listed = (await ines.assignments.listAssignments({ courseId })).assignments;
      expect(items.map((item) => item.assignment)).toEqual(
        listed.filter((assignment) => assignment.id === essay.id || assignment.id === project.id),
      );
      // The second course has an assignment nobody submitted: nothing to grade, so no entry.
      expect((await ines.assignments.listNeedsGrading({ courseId: secondCourseId })).items).toEqual([]);
    });

    it("without a course, every owned course in ListCourses' order, equal to the dashboard's", async () => {
      const all = await ines.assignments.listNeedsGrading({});
      const dashboard = await ines.courses.getDashboard({});
      expect(all.items).toEqual(dashboard.needsGrading);
      const perCourse = [];
      for (const course of (await ines.courses.listCourses({})).courses) {
        perCourse.push(...(await ines.assignments.listNeedsGrading({ courseId: course.id })).items);
      }
      expect(all.items).toEqual(perCourse);
      expect(all.items.length).toBeGreaterThan(0);
    });

    it("counts a resubmission after grading again, and drops an assignment once everything is graded", async () => {
      const before = await ines.assignments.listNeedsGrading({ courseId });
      expect(before.items.find((item) => item.assignment?.id === project.id)?.ungradedCount).toBe(1);
      // Sam's project was graded; his resubmission waits again beside Tara's attempt.
      await sam.assignments.submit({ assignmentId: project.id, text: "late work, revised" });
      const resubmitted = await ines.assignments.listNeedsGrading({ courseId });
      expect(resubmitted.items.find((item) => item.assignment?.id === project.id)).toMatchObject({
        ungradedCount: 2,
        lateCount: 2,
      });
      for (const studentId of [samId, taraId]) {
        await ines.assignments.gradeSubmission({ assignmentId: project.id, studentId, points: 8, feedback: "" });
      }
      const graded = await ines.assignments.listNeedsGrading({ courseId });
      expect(graded.items.map((item) => item.assignment?.id)).toEqual([essay.id]);
    });

    it("refuses another instructor, a student and an admin inside someone else's course, as ListStudents does", async () => {
      const refusals = [
        [otto, status.NOT_FOUND],
        [uma, status.NOT_FOUND],
        [sam, status.PERMISSION_DENIED],
        [admin, status.PERMISSION_DENIED],
      ] as const;
      for (const [caller, code] of refusals) {
        const queue = await failure(caller.assignments.listNeedsGrading({ courseId }));
        const students = await failure(caller.auth.listStudents({ courseId }));
        expect(queue.code).toBe(code);
        expect(queue.details).toBe(students.details);
      }
      // Without a course a student is refused; another instructor has an empty queue of their own.
      expect((await failure(sam.assignments.listNeedsGrading({}))).code).toBe(status.PERMISSION_DENIED);
      expect((await otto.assignments.listNeedsGrading({})).items).toEqual([]);
      expect((await failure(anonymous.assignments.listNeedsGrading({}))).code).toBe(status.UNAUTHENTICATED);
      expect((await failure(ines.assignments.listNeedsGrading({ courseId: "../x" }))).code).toBe(
        status.INVALID_ARGUMENT,
      );
    });

    it("gives an admin the queue of the courses they own only", async () => {
      const { course } = await admin.courses.createCourse({ title: "Admin's own" });
      const { assignment } = await admin.assignments.createAssignment({
        courseId: course?.id,
        title: "Admin's work",
        maxPoints: 5,
      });
      await admin.courses.enrolStudent({ courseId: course?.id, username: "tara" });
      await tara.assignments.submit({ assignmentId: assignment?.id, text: "for the admin" });
      const { items } = await admin.assignments.listNeedsGrading({});
      expect(items.map((item) => [item.assignment?.id, item.ungradedCount])).toEqual([[assignment?.id, 1]]);
      expect((await admin.assignments.listNeedsGrading({ courseId: course?.id })).items).toEqual(items);
    });

    it("asks Raft for one read barrier per call, however many courses", async () => {
      const read = vi.spyOn(leader.raft, "read");
      try {
        await ines.assignments.listNeedsGrading({});
        expect(read).toHaveBeenCalledTimes(1);
        read.mockClear();
        await ines.assignments.listNeedsGrading({ consistency: ReadConsistency.READ_CONSISTENCY_LOCAL });
        expect(read).not.toHaveBeenCalled();
      } finally {
        read.mockRestore();
      }
    });
  });
});

describe("the course page's size check", () => {
  /** A page holding one course-wide note whose text makes the page encode to exactly `bytes`. */
  function pageOfBytes(bytes: number): GetCoursePageResponse {
    const base = GetCoursePageResponse.fromPartial({
      viewerRole: Role.ROLE_STUDENT,
      feedback: [{ id: "n1", courseId: "c1", text: "" }],
    });
    const withText = (chars: number) => ({ ...base, feedback: [{ ...base.feedback[0], text: "x".repeat(chars) }] });
    const size = (page: GetCoursePageResponse) => GetCoursePageResponse.encode(page).finish().byteLength;
    // The length prefixes of the text and of the note grow with them; one correction settles them.
    let chars = bytes - size(base);
    chars -= size(withText(chars)) - bytes;
    const page = withText(chars);
    expect(size(page)).toBe(bytes);
    return page;
  }

  it("lets a page of exactly the limit through and refuses one byte more", () => {
    expect(maxAnswerBytes).toBeLessThan(clientMaxMessageBytes);
    expect(maxAnswerBytes).toBeGreaterThan(clientMaxMessageBytes - 64 * 1024);
    const fits = pageOfBytes(maxAnswerBytes);
    expect(checkedCoursePageSize(fits)).toBe(fits);
    let refused: unknown;
    try {
      checkedCoursePageSize(pageOfBytes(maxAnswerBytes + 1));
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ grpcCode: status.RESOURCE_EXHAUSTED });
    expect(String((refused as Error).message)).toContain(`${maxAnswerBytes + 1} bytes`);
  });
});

describe("descriptionExcerpt", () => {
  it("keeps a text within the bound, cuts a longer one to the bound with an ellipsis, on code points", () => {
    expect(descriptionExcerpt("short", 10)).toBe("short");
    expect(descriptionExcerpt("exactly ten", 11)).toBe("exactly ten");
    expect(descriptionExcerpt("one character too long", 21)).toBe("one character too lo…");
    expect(descriptionExcerpt("anything", 0)).toBe("anything");
    expect(descriptionExcerpt("ab", 1)).toBe("…");
    // Four emoji of two UTF-16 units each: eight units, four characters, never split in half.
    expect(descriptionExcerpt("😀😀😀😀", 4)).toBe("😀😀😀😀");
    expect(descriptionExcerpt("😀😀😀😀", 3)).toBe("😀😀…");
  });
});
