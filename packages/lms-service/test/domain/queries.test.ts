import { afterEach, describe, expect, test } from "vitest";
import { csvCell, toCsv } from "../../src/domain/csv.js";
import {
  exportGradesCsv,
  fileAccess,
  getCourse,
  getCoursePage,
  getCourseSummary,
  getDashboard,
  getGradeHistory,
  getUserForLogin,
  listGrades,
  listInstructors,
  listMyCourses,
  listQuestions,
  listStudents,
  listSubmissions,
  missingFiles,
  needsGrading,
} from "../../src/domain/queries.js";
import { actor, Cleanup, Harness, passwordHash, seedSchool } from "./harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** The school with s1 and s2 submitted (s2 late), s1 graded but not released. */
async function gradedSchool() {
  const h = await Harness.memory(cleanup);
  const school = await seedSchool(h);
  const { s1, s2, alice, dueAt } = school;
  const h1 = await h.upload(s1, "u1", new TextEncoder().encode("s1 work"));
  const h2 = await h.upload(s2, "u2", new TextEncoder().encode("s2 work"));
  await h.ok(
    "submit",
    s1,
    { submissionId: "sub1", assignmentId: "a1", fileHashes: [h1], comment: "" },
    { at: dueAt - 1 },
  );
  await h.ok(
    "submit",
    s2,
    { submissionId: "sub2", assignmentId: "a1", fileHashes: [h2], comment: "" },
    { at: dueAt + 1 },
  );
  await h.ok("grade", alice, { assignmentId: "a1", studentId: "s1", points: 7, feedback: '=HYPERLINK("http://evil")' });
  return { h, ...school, h1, h2 };
}

describe("grade release hiding on every read path", () => {
  test("before release a student sees no grade anywhere; after release only their own", async () => {
    const { h, s1, s2, s3, alice, bob } = await gradedSchool();
    expect(await listGrades(h.store, s1, "c1")).toEqual({ status: "ok", value: [] });
    const mine = await listSubmissions(h.store, s1, "a1");
    expect(mine.status === "ok" && mine.value.map((v) => v.grade)).toEqual([undefined]);
    // Unreleased, the grade (and so its history) does not exist for the student: NOT_FOUND.
    expect((await getGradeHistory(h.store, s1, "a1", "s1")).status).toBe("not-found");

    await h.ok("releaseGrades", alice, { assignmentId: "a1" });
    const released = await listSubmissions(h.store, s1, "a1");
    expect(released.status === "ok" && released.value.map((v) => v.grade?.points)).toEqual([7]);
    const grades = await listGrades(h.store, s1, "c1");
    expect(grades.status === "ok" && grades.value.map((g) => g.studentId)).toEqual(["s1"]);
    expect((await getGradeHistory(h.store, s1, "a1", "s1")).status).toBe("ok");
    // Another student's history stays closed even after release (a classmate knows a1 exists).
    expect((await getGradeHistory(h.store, s2, "a1", "s1")).status).toBe("forbidden");
    // Outside the course, the assignment itself is hidden.
    expect(await getGradeHistory(h.store, s3, "a1", "s3")).toEqual({
      status: "not-found",
      message: "no assignment a1",
    });
    expect((await getGradeHistory(h.store, bob, "a1", "s1")).status).toBe("not-found");
    const s2Grades = await listGrades(h.store, s2, "c1");
    expect(s2Grades).toEqual({ status: "ok", value: [] });
  });

  test("hiding released grades again hides them on every path; hiding or releasing twice is fine", async () => {
    const { h, s1, alice } = await gradedSchool();
    await h.ok("releaseGrades", alice, { assignmentId: "a1" });
    expect((await listGrades(h.store, s1, "c1")).status === "ok").toBe(true);
    await h.ok("releaseGrades", alice, { assignmentId: "a1", released: false });
    await h.ok("releaseGrades", alice, { assignmentId: "a1", released: false });
    expect((await h.store.get("assignments", "a1"))?.gradesReleasedAt).toBeUndefined();
    expect(await listGrades(h.store, s1, "c1")).toEqual({ status: "ok", value: [] });
    const mine = await listSubmissions(h.store, s1, "a1");
    expect(mine.status === "ok" && mine.value.map((v) => v.grade)).toEqual([undefined]);
    expect((await getGradeHistory(h.store, s1, "a1", "s1")).status).toBe("not-found");
    // The instructor still sees everything, and releasing again shows the grade again.
    const asOwner = await listGrades(h.store, alice, "c1");
    expect(asOwner.status === "ok" && asOwner.value.map((g) => g.points)).toEqual([7]);
    await h.ok("releaseGrades", alice, { assignmentId: "a1", released: true });
    const again = await listGrades(h.store, s1, "c1");
    expect(again.status === "ok" && again.value.map((g) => g.points)).toEqual([7]);
  });

  test("the instructor always sees grades and history", async () => {
    const { h, alice } = await gradedSchool();
    const grades = await listGrades(h.store, alice, "c1");
    expect(grades.status === "ok" && grades.value.map((g) => g.points)).toEqual([7]);
    const history = await getGradeHistory(h.store, alice, "a1", "s1");
    expect(history.status === "ok" && history.value[0].new.points).toBe(7);
  });
});

describe("who sees what", () => {
  test("a student sees only their own submissions; the owner sees all; to others the assignment is hidden", async () => {
    const { h, s1, alice, bob, s3 } = await gradedSchool();
    const mine = await listSubmissions(h.store, s1, "a1");
    expect(mine.status === "ok" && mine.value.map((v) => v.submission.studentId)).toEqual(["s1"]);
    const all = await listSubmissions(h.store, alice, "a1");
    expect(all.status === "ok" && all.value.map((v) => v.submission.studentId).sort()).toEqual(["s1", "s2"]);
    const missing = await listSubmissions(h.store, bob, "a404");
    expect(missing).toEqual({ status: "not-found", message: "no assignment a404" });
    expect(await listSubmissions(h.store, bob, "a1")).toEqual({ status: "not-found", message: "no assignment a1" });
    expect(await listSubmissions(h.store, s3, "a1")).toEqual({ status: "not-found", message: "no assignment a1" });
    // An admin may know every course exists, so for them it is a refusal, not a secret.
    expect((await listSubmissions(h.store, actor("admin", "admin"), "a1")).status).toBe("forbidden");
  });

  test("files: the uploader, the course owner; to anyone else a file answers like a missing one", async () => {
    const { h, h1, s1, s2, alice, bob } = await gradedSchool();
    expect((await fileAccess(h.store, s1, h1)).status).toBe("ok");
    expect(await fileAccess(h.store, alice, h1)).toMatchObject({ status: "ok", value: { name: "work.pdf" } });
    const missing = await fileAccess(h.store, s1, "0".repeat(64));
    expect(missing).toEqual({ status: "not-found", message: "no such file" });
    expect(await fileAccess(h.store, s2, h1)).toEqual(missing);
    expect(await fileAccess(h.store, bob, h1)).toEqual(missing);
  });

  test("a material's file is readable by every member of its course", async () => {
    const { h, alice, s1, s3 } = await gradedSchool();
    const sha = await h.upload(alice, "mat-up", new TextEncoder().encode("slides"), "slides.pdf");
    await h.ok("postMaterial", alice, { materialId: "m1", courseId: "c1", title: "Slides", body: "", fileHash: sha });
    expect(await fileAccess(h.store, s1, sha)).toMatchObject({ status: "ok", value: { name: "slides.pdf" } });
    expect((await fileAccess(h.store, s3, sha)).status).toBe("not-found");
  });

  test("notes: to one student or to all; others do not see a private note", async () => {
    const { h, alice, s1, s2 } = await gradedSchool();
    await h.ok("postFeedbackNote", alice, { noteId: "n1", courseId: "c1", studentId: "s1", text: "for s1" });
    await h.ok("postFeedbackNote", alice, { noteId: "n2", courseId: "c1", text: "for all" });
    const forS1 = await getCoursePage(h.store, s1, "c1");
    const forS2 = await getCoursePage(h.store, s2, "c1");
    expect(forS1.status === "ok" && forS1.value.notes.map((n) => n.noteId)).toEqual(["n1", "n2"]);
    expect(forS2.status === "ok" && forS2.value.notes.map((n) => n.noteId)).toEqual(["n2"]);
    expect(forS2.status === "ok" && forS2.value.joinCodes).toBeUndefined();
  });

  test("questions: pending then answered; a student sees their own only", async () => {
    const { h, alice, s1, s2 } = await gradedSchool();
    await h.ok("askQuestion", s1, { questionId: "q1", courseId: "c1", text: "How?" });
    await h.ok("askQuestion", s2, { questionId: "q2", courseId: "c1", text: "Why?" });
    expect(await h.run("answerQuestion", actor("bob", "instructor"), { questionId: "q1", text: "no" })).toEqual({
      status: "not-found",
      message: "no question q1",
    });
    expect((await h.run("answerQuestion", s2, { questionId: "q1", text: "no" })).status).toBe("forbidden");
    expect((await listQuestions(h.store, actor("bob", "instructor"), "c1")).status).toBe("not-found");
    expect(
      (await h.run("askQuestion", actor("s3", "student"), { questionId: "q3", courseId: "c1", text: "?" })).status,
    ).toBe("not-found");
    await h.ok("answerQuestion", alice, { questionId: "q1", text: "Like this" });
    const s1View = await listQuestions(h.store, s1, "c1");
    expect(s1View.status === "ok" && s1View.value.map((q) => [q.questionId, q.status])).toEqual([["q1", "answered"]]);
    const owner = await listQuestions(h.store, alice, "c1");
    expect(owner.status === "ok" && owner.value.map((q) => q.status)).toEqual(["answered", "pending"]);
  });

  test("lists of users, courses and login", async () => {
    const { h, admin, alice, s1 } = await gradedSchool();
    const login = await getUserForLogin(h.store, "s1-name");
    expect(login).toMatchObject({ userId: "s1", role: "student", passwordHash });
    expect(await getUserForLogin(h.store, "nobody")).toBeUndefined();
    const everyone = await listStudents(h.store, admin);
    expect(everyone.status === "ok" && everyone.value.map((u) => u.userId)).toEqual(["s1", "s2", "s3"]);
    expect((await listStudents(h.store, s1)).status).toBe("forbidden");
    const inCourse = await listStudents(h.store, alice, "c1");
    expect(inCourse.status === "ok" && inCourse.value.map((u) => u.userId)).toEqual(["s1", "s2"]);
    expect(JSON.stringify(inCourse)).not.toContain("scrypt");
    const teachers = await listInstructors(h.store, s1);
    expect(teachers.status === "ok" && teachers.value.map((u) => u.userId)).toEqual(["alice", "bob"]);
    const courses = await listMyCourses(h.store, s1);
    expect(courses.status === "ok" && courses.value.map((c) => c.course.courseId)).toEqual(["c1"]);
  });
});

describe("admins and courses (lms.proto ListCourses, GetCourse)", () => {
  test("an admin lists every course and reads any course, as role admin where not a member", async () => {
    const { h, admin } = await gradedSchool();
    const all = await listMyCourses(h.store, admin);
    expect(all.status === "ok" && all.value.map((c) => [c.course.courseId, c.role])).toEqual([
      ["c1", "admin"],
      ["c2", "admin"],
    ]);
    expect(await getCourse(h.store, admin, "c2")).toMatchObject({
      status: "ok",
      value: { course: { courseId: "c2", ownerId: "bob" }, role: "admin" },
    });
    expect(await getCourse(h.store, admin, "c404")).toEqual({ status: "not-found", message: "no course c404" });
  });

  test("a course an admin owns is listed with the owner's role", async () => {
    const { h, admin } = await gradedSchool();
    await h.ok("createCourse", admin, { courseId: "c0", title: "Staff", description: "" });
    const all = await listMyCourses(h.store, admin);
    expect(all.status === "ok" && all.value.map((c) => [c.course.courseId, c.role])).toEqual([
      ["c0", "instructor"],
      ["c1", "admin"],
      ["c2", "admin"],
    ]);
    expect(await getCourse(h.store, admin, "c0")).toMatchObject({ status: "ok", value: { role: "instructor" } });
  });

  test("everyone else still reads only their own courses; what is inside a course stays members-only", async () => {
    const { h, admin, alice, bob, s1, s3 } = await gradedSchool();
    expect((await getCourse(h.store, s1, "c1")).status).toBe("ok");
    expect((await getCourse(h.store, alice, "c1")).status).toBe("ok");
    // Not a member: the course answers as a missing one does.
    expect(await getCourse(h.store, bob, "c1")).toEqual({ status: "not-found", message: "no course c1" });
    expect(await getCourse(h.store, s3, "c1")).toEqual({ status: "not-found", message: "no course c1" });
    const bobs = await listMyCourses(h.store, bob);
    expect(bobs.status === "ok" && bobs.value.map((c) => c.course.courseId)).toEqual(["c2"]);
    // The course page (assignments, materials, notes) and the member summary GetAssignment uses
    // are documented as "enrolled student or owning instructor": an admin is refused there.
    expect((await getCoursePage(h.store, admin, "c1")).status).toBe("forbidden");
    expect((await getCourseSummary(h.store, admin, "c1")).status).toBe("forbidden");
  });
});

describe("needs grading", () => {
  test("counts ungraded and late latest submissions; a resubmission after grading needs grading again", async () => {
    const { h, alice, s1, h1, s2 } = await gradedSchool();
    const queue = await needsGrading(h.store, alice, "c1");
    expect(queue).toMatchObject({
      status: "ok",
      value: { ungradedCount: 1, lateCount: 1, items: [{ studentId: "s2", late: true }] },
    });
    await h.ok("submit", s1, { submissionId: "sub3", assignmentId: "a1", fileHashes: [h1], comment: "again" });
    const after = await needsGrading(h.store, alice, "c1");
    // Oldest first: s1's resubmission is stamped before s2's late submission.
    expect(after.status === "ok" && after.value.items.map((i) => i.studentId)).toEqual(["s1", "s2"]);
    expect((await needsGrading(h.store, s2, "c1")).status).toBe("forbidden");
    // The dashboard counts by the same rule.
    const dashboard = await getDashboard(h.store, alice);
    expect(dashboard.status === "ok" && dashboard.value.needsGrading).toMatchObject([
      { assignment: { assignmentId: "a1" }, ungraded: 2, late: 1 },
    ]);
  });
});

describe("CSV export", () => {
  test("cells starting with = + - @ tab or CR are neutralised; only the owner exports", async () => {
    const { h, alice, s1 } = await gradedSchool();
    await h.ok("registerStudent", null, { userId: "evil", username: "evil", displayName: "@SUM(A1:A9)", passwordHash });
    await h.ok("enrolStudent", alice, { courseId: "c1", studentId: "evil" });
    const csv = await exportGradesCsv(h.store, alice, "c1");
    expect(csv.status).toBe("ok");
    const text = csv.status === "ok" ? csv.value : "";
    expect(text).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(text).toContain(`"'@SUM(A1:A9)"`);
    expect(text).not.toMatch(/(^|,)"[=+\-@\t\r]/m);
    expect((await exportGradesCsv(h.store, s1, "c1")).status).toBe("forbidden");
  });

  test("csvCell table", () => {
    const cases: [string | number, string][] = [
      ["=1+2", `"'=1+2"`],
      ["+1", `"'+1"`],
      ["-1", `"'-1"`],
      ["@x", `"'@x"`],
      ["\tx", `"'\tx"`],
      ["\rx", `"'\rx"`],
      ["plain", `"plain"`],
      ['say "hi"', `"say ""hi"""`],
      [-3, `"-3"`],
      [7.5, `"7.5"`],
    ];
    for (const [input, expected] of cases) expect(csvCell(input)).toBe(expected);
    expect(
      toCsv([
        ["a", "b"],
        ["c", "d"],
      ]),
    ).toBe(`"a","b"\r\n"c","d"\r\n`);
  });
});

describe("files after a restore", () => {
  test("missingFiles names the hashes the store lists but the file store lacks", async () => {
    const { h, h1, h2 } = await gradedSchool();
    expect(await missingFiles(h.store, h.files)).toEqual([]);
    const empty = await Harness.memory(cleanup);
    const bytes: Uint8Array[] = [];
    for await (const chunk of h.store.snapshot()) bytes.push(chunk);
    await empty.store.restore(
      (async function* () {
        yield* bytes;
      })(),
    );
    expect((await missingFiles(empty.store, empty.files)).sort()).toEqual([h1, h2].sort());
  });
});
