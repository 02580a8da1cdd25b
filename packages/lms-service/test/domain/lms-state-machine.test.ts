import { afterEach, describe, expect, test } from "vitest";
import { revocationPruneGraceMs } from "../../src/domain/handlers/accounts.js";
import { key } from "../../src/domain/keys.js";
import { fileAccess, getCoursePage, getMaterial, listMyCourses } from "../../src/domain/queries.js";
import { actor, Cleanup, Harness, passwordHash, seedSchool, snapshotBytes } from "./harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const pdf = new TextEncoder().encode("%PDF-1.7 my homework");

describe("accounts", () => {
  test("usernames are unique; a taken one is a conflict and changes nothing", async () => {
    const h = await Harness.memory(cleanup);
    await h.ok("registerStudent", null, { userId: "u1", username: "ann", displayName: "Ann", passwordHash });
    const before = await snapshotBytes(h.store);
    const again = await h.run("registerStudent", null, {
      userId: "u2",
      username: "ann",
      displayName: "Other",
      passwordHash,
    });
    expect(again.status).toBe("conflict");
    expect(await h.store.get("users", "u2")).toBeUndefined();
    // Only the applied index moved.
    expect((await snapshotBytes(h.store)).toString().replace(/"appliedIndex":\d+/, "")).toBe(
      before.toString().replace(/"appliedIndex":\d+/, ""),
    );
  });

  test("only an admin creates instructors; the first admin comes from bootstrap, once", async () => {
    const h = await Harness.memory(cleanup);
    const { s1 } = await seedSchool(h);
    const bySudent = await h.run("createInstructor", s1, {
      userId: "x",
      username: "xavier",
      displayName: "X",
      passwordHash,
    });
    expect(bySudent.status).toBe("forbidden");
    const second = await h.run("bootstrapAdmin", null, {
      userId: "a2",
      username: "root2",
      displayName: "R",
      passwordHash,
    });
    expect(second.status).toBe("conflict");
    expect(await h.store.get("users", "a2")).toBeUndefined();
  });

  test("an admin creates further admins; no one else may", async () => {
    const h = await Harness.memory(cleanup);
    const { admin, alice, s1 } = await seedSchool(h);
    const body = (userId: string, username: string) => ({ userId, username, displayName: username, passwordHash });
    for (const who of [alice, s1, actor("s1", "admin")]) {
      expect((await h.run("createAdmin", who, body("x", "xavier"))).status).toBe("forbidden");
    }
    expect(await h.store.get("users", "x")).toBeUndefined();
    const created = await h.ok("createAdmin", admin, body("a2", "root2"));
    expect(created.value).toEqual({ userId: "a2" });
    expect(await h.store.get("users", "a2")).toMatchObject({ role: "admin", createdBy: "admin" });
    expect(await h.store.get("roleMembers", key("admin", "a2"))).toEqual({ userId: "a2" });
    // The new admin has every admin power, including making the next one.
    await h.ok("createAdmin", actor("a2", "admin"), body("a3", "root3"));
    await h.ok("createInstructor", actor("a2", "admin"), body("i9", "ivy"));
    expect((await h.run("createAdmin", admin, body("a4", "alice"))).status).toBe("conflict");
  });

  test("the stored role decides, not the role the token claims", async () => {
    const h = await Harness.memory(cleanup);
    await seedSchool(h);
    const forged = actor("s1", "admin");
    const result = await h.run("createInstructor", forged, {
      userId: "x",
      username: "xavier",
      displayName: "X",
      passwordHash,
    });
    expect(result.status).toBe("forbidden");
  });

  test("an unknown actor is refused", async () => {
    const h = await Harness.memory(cleanup);
    await seedSchool(h);
    const ghost = actor("ghost", "instructor");
    expect((await h.run("createCourse", ghost, { courseId: "c9", title: "T", description: "" })).status).toBe(
      "forbidden",
    );
  });

  test("logout revokes the token id", async () => {
    const h = await Harness.memory(cleanup);
    const { s1 } = await seedSchool(h);
    await h.ok("revokeToken", s1, { tokenId: "jti-1", expiresAt: h.clockMs + 3_600_000 });
    expect(await h.store.get("revokedTokens", "jti-1")).toMatchObject({ userId: "s1" });
  });

  test("a logout drops revocations long past their token's expiry, keeps the rest", async () => {
    const h = await Harness.memory(cleanup);
    const { s1 } = await seedSchool(h);
    const start = h.clockMs;
    // Tokens that expire now, in an hour, and one just inside the grace after expiry.
    await h.ok("revokeToken", s1, { tokenId: "old-a", expiresAt: start + 1_000 });
    await h.ok("revokeToken", s1, { tokenId: "old-b", expiresAt: start + 2_000 });
    await h.ok("revokeToken", s1, { tokenId: "live", expiresAt: start + 3_600_000 });
    const later = start + 2_000 + revocationPruneGraceMs + 1;
    await h.ok("revokeToken", s1, { tokenId: "recent", expiresAt: later - revocationPruneGraceMs + 5 }, { at: later });
    // Both lie after "recent" in key order or before it (wrapping): both are looked at and dropped.
    expect(await h.store.get("revokedTokens", "old-a")).toBeUndefined();
    expect(await h.store.get("revokedTokens", "old-b")).toBeUndefined();
    expect(await h.store.get("revokedTokens", "live")).toBeDefined();
    expect(await h.store.get("revokedTokens", "recent")).toBeDefined();
  });
});

describe("courses and enrolment", () => {
  test("another instructor's course is hidden: every write to it answers as for a missing one", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, bob } = await seedSchool(h);
    const attempts = [
      await h.run("createAssignment", bob, {
        assignmentId: "a9",
        courseId: "c1",
        title: "T",
        description: "",
        dueAt: 1,
        maxPoints: 5,
      }),
      await h.run("enrolStudent", bob, { courseId: "c1", studentId: "s3" }),
      await h.run("createJoinCode", bob, { courseId: "c1", code: "ABCDEF" }),
      await h.run("grade", bob, { assignmentId: "a1", studentId: "s1", points: 5, feedback: "" }),
      await h.run("releaseGrades", bob, { assignmentId: "a1" }),
      await h.run("postFeedbackNote", bob, { noteId: "n1", courseId: "c1", text: "hi" }),
      await h.run("postMaterial", bob, { materialId: "m1", courseId: "c1", title: "T", body: "" }),
    ];
    for (const attempt of attempts) expect(attempt.status).toBe("not-found");
    // The words are those for a missing object: nothing tells bob that c1 or a1 exist.
    expect(attempts[1]).toEqual({ status: "not-found", message: "no course c1" });
    expect(await h.run("enrolStudent", bob, { courseId: "c404", studentId: "s3" })).toEqual({
      status: "not-found",
      message: "no course c404",
    });
    expect(attempts[3]).toEqual({ status: "not-found", message: "no assignment a1" });
    await h.ok("createJoinCode", alice, { courseId: "c1", code: "ALICE1" });
    expect(await h.run("revokeJoinCode", bob, { code: "ALICE1" })).toEqual(
      await h.run("revokeJoinCode", bob, { code: "NOPE00" }),
    );
    expect(await h.store.get("assignments", "a9")).toBeUndefined();
    expect(await h.store.get("courseMembers", key("c1", "s3"))).toBeUndefined();
  });

  test("an admin creates a course owned by an existing instructor; no one else may name an owner", async () => {
    const h = await Harness.memory(cleanup);
    const { admin, alice, bob, s1 } = await seedSchool(h);
    const body = (courseId: string, ownerId: string) => ({ courseId, title: "Chemistry", description: "", ownerId });
    const made = await h.ok("createCourse", admin, body("c7", "bob"));
    expect(made.value).toEqual({ courseId: "c7" });
    expect(await h.store.get("courses", "c7")).toMatchObject({ ownerId: "bob", title: "Chemistry" });
    expect(await h.store.get("courseMembers", key("c7", "bob"))).toMatchObject({ role: "instructor", source: "owner" });
    expect(await h.store.get("courseMembers", key("c7", "admin"))).toBeUndefined();
    // The named instructor owns it for every purpose: the admin does not.
    await h.ok("createJoinCode", bob, { courseId: "c7", code: "CHEM01" });
    expect((await h.run("createJoinCode", admin, { courseId: "c7", code: "CHEM02" })).status).toBe("forbidden");

    const refusals: [string, Awaited<ReturnType<typeof h.run>>][] = [
      ["forbidden", await h.run("createCourse", alice, body("c8", "bob"))],
      ["forbidden", await h.run("createCourse", alice, body("c8", "alice"))],
      ["forbidden", await h.run("createCourse", s1, body("c8", "alice"))],
      ["not-found", await h.run("createCourse", admin, body("c8", "nobody"))],
      ["invalid", await h.run("createCourse", admin, body("c8", "s1"))],
      ["invalid", await h.run("createCourse", admin, body("c8", "admin"))],
      ["forbidden", await h.run("createCourse", s1, { courseId: "c8", title: "Mine", description: "" })],
    ];
    for (const [expected, result] of refusals) expect(result.status).toBe(expected);
    expect(await h.store.get("courses", "c8")).toBeUndefined();
  });

  test("an admin who names no instructor owns the course (lms.proto CreateCourse: the caller owns it)", async () => {
    const h = await Harness.memory(cleanup);
    const { admin, alice } = await seedSchool(h);
    await h.ok("createCourse", admin, { courseId: "c8", title: "Staff", description: "" });
    expect(await h.store.get("courses", "c8")).toMatchObject({ ownerId: "admin", title: "Staff" });
    expect(await h.store.get("courseMembers", key("c8", "admin"))).toMatchObject({
      role: "instructor",
      source: "owner",
    });
    // Owning it, the admin acts as its instructor; another instructor may not.
    await h.ok("createJoinCode", admin, { courseId: "c8", code: "STAFF1" });
    await h.ok("enrolStudent", admin, { courseId: "c8", studentId: "s1" });
    expect((await h.run("createJoinCode", alice, { courseId: "c8", code: "STAFF2" })).status).toBe("not-found");
  });

  test("students join with a live code; revoked and expired codes fail a precondition, unknown ones are not found", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, s3 } = await seedSchool(h);
    await h.ok("createJoinCode", alice, { courseId: "c1", code: "JOIN01" });
    await h.ok("createJoinCode", alice, { courseId: "c1", code: "JOIN02", expiresAt: h.clockMs + 1500 });
    await h.ok("createJoinCode", alice, { courseId: "c1", code: "JOIN03" });
    await h.ok("revokeJoinCode", alice, { code: "JOIN03" });
    // lms.proto: "later joins with it fail with FAILED_PRECONDITION" (a conflict in the domain).
    const revoked = await h.run("joinByCode", s3, { code: "JOIN03" });
    expect(revoked).toEqual({ status: "conflict", message: expect.stringContaining("revoked") });
    h.clockMs += 10_000;
    const expired = await h.run("joinByCode", s3, { code: "JOIN02" });
    expect(expired).toEqual({ status: "conflict", message: expect.stringContaining("expired") });
    expect(await h.store.get("courseMembers", key("c1", "s3"))).toBeUndefined();
    expect((await h.run("joinByCode", s3, { code: "NOPE99" })).status).toBe("not-found");
    const joined = await h.ok("joinByCode", s3, { code: "JOIN01" });
    expect(joined.value).toEqual({ courseId: "c1", alreadyEnrolled: false });
    const twice = await h.ok("joinByCode", s3, { code: "JOIN01" });
    expect(twice.value).toEqual({ courseId: "c1", alreadyEnrolled: true });
  });

  test("a join code counts the students who joined with it; a repeat join and a refusal do not count", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, s3 } = await seedSchool(h);
    await h.ok("createJoinCode", alice, { courseId: "c1", code: "JOIN01" });
    expect((await h.store.get("joinCodes", "JOIN01"))?.timesUsed).toBeUndefined();
    await h.ok("joinByCode", s3, { code: "JOIN01" });
    await h.ok("joinByCode", s3, { code: "JOIN01" });
    expect((await h.store.get("joinCodes", "JOIN01"))?.timesUsed).toBe(1);
    await h.ok("registerStudent", null, { userId: "s4", username: "dina", displayName: "Dina", passwordHash });
    await h.ok("joinByCode", actor("s4", "student"), { code: "JOIN01" });
    expect((await h.store.get("joinCodes", "JOIN01"))?.timesUsed).toBe(2);
    await h.ok("revokeJoinCode", alice, { code: "JOIN01" });
    await h.ok("registerStudent", null, { userId: "s5", username: "eve", displayName: "Eve", passwordHash });
    expect((await h.run("joinByCode", actor("s5", "student"), { code: "JOIN01" })).status).toBe("conflict");
    expect(await h.store.get("joinCodes", "JOIN01")).toMatchObject({ timesUsed: 2 });
  });

  test("join codes are unique across courses", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, bob } = await seedSchool(h);
    await h.ok("createJoinCode", alice, { courseId: "c1", code: "SAME01" });
    expect((await h.run("createJoinCode", bob, { courseId: "c2", code: "SAME01" })).status).toBe("conflict");
  });

  test("an instructor cannot join as a student, and only students are enrolled", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, bob } = await seedSchool(h);
    await h.ok("createJoinCode", alice, { courseId: "c1", code: "JOIN01" });
    expect((await h.run("joinByCode", bob, { code: "JOIN01" })).status).toBe("forbidden");
    expect((await h.run("enrolStudent", alice, { courseId: "c1", studentId: "bob" })).status).toBe("invalid");
  });
});

describe("unenrolment and deleting materials", () => {
  test("the owner unenrols a student: the membership goes, the submission stays; twice is fine", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, bob, s1 } = await seedSchool(h);
    const hash = await h.upload(s1, "up1", pdf);
    await h.ok("submit", s1, { submissionId: "sub1", assignmentId: "a1", fileHashes: [hash], comment: "" });
    expect((await h.run("unenrolStudent", bob, { courseId: "c1", studentId: "s1" })).status).toBe("not-found");
    expect((await h.run("unenrolStudent", s1, { courseId: "c1", studentId: "s1" })).status).toBe("forbidden");
    const removed = await h.ok("unenrolStudent", alice, { courseId: "c1", studentId: "s1" });
    expect(removed.value).toEqual({ courseId: "c1", studentId: "s1", wasEnrolled: true });
    expect(await h.store.get("courseMembers", key("c1", "s1"))).toBeUndefined();
    expect(await h.store.get("userCourses", key("s1", "c1"))).toBeUndefined();
    const again = await h.ok("unenrolStudent", alice, { courseId: "c1", studentId: "s1" });
    expect(again.value).toMatchObject({ wasEnrolled: false });
    // No longer a member: the course is hidden from them again.
    expect((await getCoursePage(h.store, s1, "c1")).status).toBe("not-found");
    const courses = await listMyCourses(h.store, s1);
    expect(courses.status === "ok" && courses.value).toEqual([]);
    expect(
      (await h.run("submit", s1, { submissionId: "sub2", assignmentId: "a1", fileHashes: [hash], comment: "" })).status,
    ).toBe("not-found");
    expect(await h.store.get("submissions", "sub1")).toMatchObject({ studentId: "s1" });
    expect((await fileAccess(h.store, alice, hash)).status).toBe("ok");
  });

  test("the owner deletes a material: gone from the course, its file no longer readable by students", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, bob, s1 } = await seedSchool(h);
    const hash = await h.upload(alice, "upm", pdf);
    await h.ok("postMaterial", alice, { materialId: "m1", courseId: "c1", title: "Slides", body: "", fileHash: hash });
    expect((await fileAccess(h.store, s1, hash)).status).toBe("ok");
    expect(await h.run("deleteMaterial", bob, { materialId: "m1" })).toEqual({
      status: "not-found",
      message: "no material m1",
    });
    expect((await h.run("deleteMaterial", s1, { materialId: "m1" })).status).toBe("forbidden");
    expect((await h.ok("deleteMaterial", alice, { materialId: "m1" })).value).toEqual({ materialId: "m1" });
    expect(await h.store.get("materials", "m1")).toBeUndefined();
    expect(await h.store.list("courseMaterials", "c1/")).toEqual([]);
    expect(await h.store.list("fileRefs", `${hash}/`)).toEqual([]);
    expect((await getMaterial(h.store, s1, "m1")).status).toBe("not-found");
    expect((await fileAccess(h.store, s1, hash)).status).toBe("not-found");
    // The uploader keeps access to their own file; a second delete finds nothing.
    expect((await fileAccess(h.store, alice, hash)).status).toBe("ok");
    expect((await h.run("deleteMaterial", alice, { materialId: "m1" })).status).toBe("not-found");
  });
});

describe("submissions", () => {
  test("late flag comes from the stamped time against the due date; resubmissions keep history", async () => {
    const h = await Harness.memory(cleanup);
    const { s1, dueAt } = await seedSchool(h);
    const hash = await h.upload(s1, "up1", pdf);
    const first = await h.ok(
      "submit",
      s1,
      { submissionId: "sub1", assignmentId: "a1", fileHashes: [hash], comment: "" },
      { at: dueAt },
    );
    expect(first.value).toEqual({ submissionId: "sub1", version: 1, late: false });
    const second = await h.ok(
      "submit",
      s1,
      { submissionId: "sub2", assignmentId: "a1", fileHashes: [hash], comment: "v2" },
      { at: dueAt + 1 },
    );
    expect(second.value).toEqual({ submissionId: "sub2", version: 2, late: true });
    expect(await h.store.get("submissions", "sub1")).toMatchObject({ version: 1, late: false });
    expect(await h.store.get("latestSubmissions", key("a1", "s1"))).toMatchObject({ submissionId: "sub2", version: 2 });
    const versions = await h.store.list("submissionVersions", "a1/s1/");
    expect(versions.map((v) => v.value.submissionId)).toEqual(["sub1", "sub2"]);
  });

  test("a student submits only to an enrolled course and only files they uploaded", async () => {
    const h = await Harness.memory(cleanup);
    const { s1, s3 } = await seedSchool(h);
    const hash = await h.upload(s1, "up1", pdf);
    const notEnrolled = await h.run("submit", s3, {
      submissionId: "x1",
      assignmentId: "a1",
      fileHashes: [hash],
      comment: "",
    });
    expect(notEnrolled).toEqual({ status: "not-found", message: "no assignment a1" });
    const s2 = actor("s2", "student");
    const othersFile = await h.run("submit", s2, {
      submissionId: "x2",
      assignmentId: "a1",
      fileHashes: [hash],
      comment: "",
    });
    expect(othersFile.status).toBe("forbidden");
    expect(await h.store.get("submissions", "x2")).toBeUndefined();
  });

  test("a submission may hold only text; with neither a file nor text it is refused", async () => {
    const h = await Harness.memory(cleanup);
    const { s1 } = await seedSchool(h);
    const textOnly = await h.ok("submit", s1, {
      submissionId: "t1",
      assignmentId: "a1",
      fileHashes: [],
      comment: "my answer is 42",
    });
    expect(textOnly.value).toMatchObject({ submissionId: "t1", version: 1 });
    expect(await h.store.get("submissions", "t1")).toMatchObject({ files: [], comment: "my answer is 42" });
    const empty = await h.run("submit", s1, { submissionId: "t2", assignmentId: "a1", fileHashes: [], comment: " \n" });
    expect(empty).toEqual({ status: "invalid", message: "a submission needs a file or some text" });
    expect(await h.store.get("submissions", "t2")).toBeUndefined();
    expect(await h.store.get("latestSubmissions", key("a1", "s1"))).toMatchObject({ submissionId: "t1", version: 1 });
  });
});

describe("grading", () => {
  test("a student cannot grade; points stay within 0..max", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, s1 } = await seedSchool(h);
    expect((await h.run("grade", s1, { assignmentId: "a1", studentId: "s1", points: 10, feedback: "" })).status).toBe(
      "forbidden",
    );
    expect(
      (await h.run("grade", alice, { assignmentId: "a1", studentId: "s1", points: 10.5, feedback: "" })).status,
    ).toBe("invalid");
    expect((await h.run("grade", alice, { assignmentId: "a1", studentId: "s3", points: 1, feedback: "" })).status).toBe(
      "not-found",
    );
    expect(await h.store.get("grades", key("a1", "s1"))).toBeUndefined();
  });

  test("every grade change leaves a history row keyed by log index: who, when, old -> new", async () => {
    const h = await Harness.memory(cleanup);
    const { alice } = await seedSchool(h);
    const first = await h.ok("grade", alice, { assignmentId: "a1", studentId: "s1", points: 6, feedback: "ok" });
    const firstIndex = h.index;
    const firstAt = h.clockMs;
    await h.ok("grade", alice, { assignmentId: "a1", studentId: "s1", points: 8.5, feedback: "better" });
    expect(first.value).toMatchObject({ historyIndex: firstIndex });
    const rows = (await h.store.list("gradeHistory", "a1/s1/")).map((row) => row.value);
    expect(rows).toEqual([
      {
        logIndex: firstIndex,
        assignmentId: "a1",
        studentId: "s1",
        changedBy: "alice",
        changedAt: firstAt,
        old: null,
        new: { points: 6, feedback: "ok" },
      },
      {
        logIndex: firstIndex + 1,
        assignmentId: "a1",
        studentId: "s1",
        changedBy: "alice",
        changedAt: firstAt + 1000,
        old: { points: 6, feedback: "ok" },
        new: { points: 8.5, feedback: "better" },
      },
    ]);
  });
});

describe("idempotency", () => {
  test("a repeated key returns the first result and applies nothing again", async () => {
    const h = await Harness.memory(cleanup);
    const { alice } = await seedSchool(h);
    const body = { assignmentId: "a1", studentId: "s1", points: 4, feedback: "f" };
    const first = await h.ok("grade", alice, body, { idempotencyKey: "grade-once-1" });
    const again = await h.run("grade", alice, body, { idempotencyKey: "grade-once-1" });
    expect(again).toEqual({ ...first, replayed: true });
    expect(await h.store.list("gradeHistory", "a1/s1/")).toHaveLength(1);
  });

  test("a retry through another node (new stamped id and time) replays the first result", async () => {
    const h = await Harness.memory(cleanup);
    const { alice } = await seedSchool(h);
    await h.ok(
      "createCourse",
      alice,
      { courseId: "first", title: "T", description: "" },
      { idempotencyKey: "course-key-1" },
    );
    const retry = await h.run(
      "createCourse",
      alice,
      { courseId: "second", title: "T", description: "" },
      { idempotencyKey: "course-key-1" },
    );
    expect(retry).toMatchObject({ status: "ok", value: { courseId: "first" }, replayed: true });
    expect(await h.store.get("courses", "second")).toBeUndefined();
  });

  test("the same key with other content is a conflict", async () => {
    const h = await Harness.memory(cleanup);
    const { alice } = await seedSchool(h);
    await h.ok(
      "createCourse",
      alice,
      { courseId: "k1", title: "One", description: "" },
      { idempotencyKey: "course-key-2" },
    );
    const other = await h.run(
      "createCourse",
      alice,
      { courseId: "k2", title: "Two", description: "" },
      { idempotencyKey: "course-key-2" },
    );
    expect(other.status).toBe("conflict");
  });

  test("keys are scoped per user", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, bob } = await seedSchool(h);
    await h.ok(
      "createCourse",
      alice,
      { courseId: "k1", title: "One", description: "" },
      { idempotencyKey: "shared-key-1" },
    );
    const bobs = await h.ok(
      "createCourse",
      bob,
      { courseId: "k2", title: "One", description: "" },
      { idempotencyKey: "shared-key-1" },
    );
    expect(bobs).toMatchObject({ value: { courseId: "k2" }, replayed: false });
  });
});

describe("entries", () => {
  test("noop, config and malformed entries only advance the applied index", async () => {
    const h = await Harness.memory(cleanup);
    const results = await h.machine.apply([
      { index: 1, term: 1, type: "noop", data: new Uint8Array() },
      { index: 2, term: 1, type: "config", data: new Uint8Array([1, 2, 3]) },
      { index: 3, term: 1, type: "normal", data: new TextEncoder().encode('{"v":1,"kind":"drop tables"}') },
      { index: 4, term: 1, type: "normal", data: new Uint8Array([0xff, 0xfe]) },
    ]);
    expect(results[0]).toBeUndefined();
    expect(results[1]).toBeUndefined();
    expect(results[2]).toMatchObject({ status: "invalid" });
    expect(results[3]).toMatchObject({ status: "invalid" });
    expect(h.machine.appliedIndex()).toBe(4);
    const snapshot = (await snapshotBytes(h.store)).toString();
    expect(snapshot.trim().split("\n")).toHaveLength(2); // header and end line: no records
  });

  test("an out-of-order entry is a runtime bug and changes nothing", async () => {
    const h = await Harness.memory(cleanup);
    await expect(h.machine.apply([{ index: 2, term: 1, type: "noop", data: new Uint8Array() }])).rejects.toThrow(
      /out of order/,
    );
    expect(h.machine.appliedIndex()).toBe(0);
  });

  test("commands in one apply call see each other (one batch, one commit)", async () => {
    const h = await Harness.memory(cleanup);
    const register = h.command("registerStudent", null, {
      userId: "u1",
      username: "ann",
      displayName: "A",
      passwordHash,
    });
    const duplicate = h.command("registerStudent", null, {
      userId: "u2",
      username: "ann",
      displayName: "B",
      passwordHash,
    });
    const results = await h.machine.apply([h.entry(register), h.entry(duplicate)]);
    expect(results.map((r) => r?.status)).toEqual(["ok", "conflict"]);
    expect(h.store.appliedIndex()).toBe(2);
  });
});

describe("determinism and snapshots", () => {
  test("two state machines fed the same entries give identical snapshots (memory and LevelDB)", async () => {
    const a = await Harness.memory(cleanup);
    await seedSchool(a);
    const hash = await a.upload(actor("s1", "student"), "up1", pdf, "hw.pdf", 7);
    await a.ok("submit", actor("s1", "student"), {
      submissionId: "sub1",
      assignmentId: "a1",
      fileHashes: [hash],
      comment: "",
    });
    await a.ok("grade", actor("alice", "instructor"), {
      assignmentId: "a1",
      studentId: "s1",
      points: 9,
      feedback: "good",
    });
    // The same entries into a LevelDB-backed machine, in batches of another size.
    const b = await Harness.level(cleanup);
    for (let i = 0; i < a.log.length; i += 5) await b.machine.apply(a.log.slice(i, i + 5));
    expect(b.machine.appliedIndex()).toBe(a.index);
    expect((await snapshotBytes(b.store)).equals(await snapshotBytes(a.store))).toBe(true);
    expect(await b.files.list()).toEqual(await a.files.list());
  });

  test("snapshot round trip on the embedded store restores everything and the applied index", async () => {
    const a = await Harness.level(cleanup);
    await seedSchool(a);
    await a.ok("grade", actor("alice", "instructor"), {
      assignmentId: "a1",
      studentId: "s1",
      points: 3,
      feedback: "x",
    });
    const bytes = await snapshotBytes(a.store);
    const b = await Harness.level(cleanup);
    const meta = { index: a.index, term: 1, config: { voters: ["n1"], outgoing: [], learners: [] } };
    await b.machine.restore(meta, [bytes.subarray(0, 100), bytes.subarray(100)]);
    expect(b.machine.appliedIndex()).toBe(a.index);
    expect((await snapshotBytes(b.store)).equals(bytes)).toBe(true);
    await expect(b.machine.restore({ ...meta, index: a.index + 1 }, [bytes])).rejects.toThrow(/taken at index/);
  });

  test("a snapshot is the state at the call, even while later applies commit", async () => {
    const h = await Harness.level(cleanup);
    await seedSchool(h);
    const stream = h.machine.snapshot();
    const before = h.index;
    await h.ok("createCourse", actor("alice", "instructor"), { courseId: "later", title: "Later", description: "" });
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString();
    expect(text).toContain(`"appliedIndex":${before}`);
    expect(text).not.toContain('"later"');
    expect(await h.store.get("courses", "later")).toBeDefined();
  });
});
