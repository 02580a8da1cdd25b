import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ApiError, isApiError } from "../src/lms-api.js";
import { FakeLmsApi } from "../src/testing/fake-lms-api.js";

const key = (n: number) => `test-key-${String(n).padStart(8, "0")}`;

async function setup() {
  const api = new FakeLmsApi();
  api.seedUser({ username: "teacher", password: "teacher-password", role: "instructor" });
  api.seedUser({ username: "other", password: "other-password!!", role: "instructor" });
  api.seedUser({ username: "alice", password: "alice-password!!", role: "student" });
  api.seedUser({ username: "bob", password: "bob-password!!!!", role: "student" });
  const teacher = (await api.login({ username: "teacher", password: "teacher-password" })).token;
  const other = (await api.login({ username: "other", password: "other-password!!" })).token;
  const alice = (await api.login({ username: "alice", password: "alice-password!!" })).token;
  const bob = (await api.login({ username: "bob", password: "bob-password!!!!" })).token;
  const course = await api.createCourse(teacher, { title: "C", description: "", idempotencyKey: key(1) });
  const code = await api.createJoinCode(teacher, { courseId: course.id, expiresAtMs: 0, idempotencyKey: key(2) });
  await api.joinCourse(alice, { code: code.code, idempotencyKey: key(3) });
  await api.joinCourse(bob, { code: code.code, idempotencyKey: key(4) });
  const assignment = await api.createAssignment(teacher, {
    courseId: course.id,
    title: "A",
    description: "",
    dueAtMs: 0,
    maxPoints: 10,
    idempotencyKey: key(5),
  });
  return { api, teacher, other, alice, bob, course, assignment };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isApiError(error), String(error)).toBe(true);
  expect((error as ApiError).code).toBe(code);
}

describe("FakeLmsApi authorisation rules", () => {
  test("students see only their own submissions and history", async () => {
    const { api, alice, bob, teacher, assignment } = await setup();
    await api.submit(alice, { assignmentId: assignment.id, text: "alice", idempotencyKey: key(10) });
    await api.submit(bob, { assignmentId: assignment.id, text: "bob", idempotencyKey: key(11) });
    expect((await api.listSubmissions(alice, { assignmentId: assignment.id })).map((s) => s.text)).toEqual(["alice"]);
    expect((await api.listSubmissions(teacher, { assignmentId: assignment.id })).map((s) => s.text).sort()).toEqual([
      "alice",
      "bob",
    ]);
    const bobId = (await api.whoAmI(bob)).id;
    await expectCode(
      api.listSubmissions(alice, { assignmentId: assignment.id, studentId: bobId }),
      "PERMISSION_DENIED",
    );
    await expectCode(
      api.getSubmissionHistory(alice, { assignmentId: assignment.id, studentId: bobId }),
      "PERMISSION_DENIED",
    );
  });

  test("grades are hidden from students until released, on every read path", async () => {
    const { api, alice, teacher, course, assignment } = await setup();
    const aliceId = (await api.whoAmI(alice)).id;
    await api.gradeSubmission(teacher, {
      assignmentId: assignment.id,
      studentId: aliceId,
      points: 7,
      feedback: "ok",
      idempotencyKey: key(20),
    });
    expect(await api.listGrades(alice, { courseId: course.id })).toEqual([]);
    expect(await api.listGrades(alice, { courseId: course.id, assignmentId: assignment.id })).toEqual([]);
    expect(await api.listGrades(teacher, { courseId: course.id })).toHaveLength(1);
    await api.setGradesReleased(teacher, { assignmentId: assignment.id, released: true, idempotencyKey: key(21) });
    expect((await api.listGrades(alice, { courseId: course.id }))[0]).toMatchObject({ points: 7, released: true });
    await api.setGradesReleased(teacher, { assignmentId: assignment.id, released: false, idempotencyKey: key(22) });
    expect(await api.listGrades(alice, { courseId: course.id })).toEqual([]);
  });

  test("instructors reach only their own courses; students cannot use instructor calls", async () => {
    const { api, other, alice, course, assignment } = await setup();
    await expectCode(api.getCourse(other, { courseId: course.id }), "NOT_FOUND");
    await expectCode(api.listJoinCodes(other, { courseId: course.id }), "NOT_FOUND");
    await expectCode(api.exportGradesCsv(other, { courseId: course.id }), "NOT_FOUND");
    await expectCode(
      api.createAssignment(alice, {
        courseId: course.id,
        title: "x",
        description: "",
        dueAtMs: 0,
        maxPoints: 1,
        idempotencyKey: key(30),
      }),
      "PERMISSION_DENIED",
    );
    await expectCode(
      api.setGradesReleased(alice, { assignmentId: assignment.id, released: true, idempotencyKey: key(31) }),
      "PERMISSION_DENIED",
    );
    expect(await api.listNeedsGrading(other, {})).toEqual([]);
    await expectCode(api.getClusterStatus(alice), "PERMISSION_DENIED");
    await expectCode(api.whoAmI("forged"), "UNAUTHENTICATED");
  });

  test("a write retried with the same key applies once; other content under the key is refused", async () => {
    const { api, alice, assignment } = await setup();
    const first = await api.submit(alice, { assignmentId: assignment.id, text: "x", idempotencyKey: key(40) });
    const again = await api.submit(alice, { assignmentId: assignment.id, text: "x", idempotencyKey: key(40) });
    expect(again).toEqual(first);
    expect(await api.listSubmissions(alice, { assignmentId: assignment.id, includeAllAttempts: true })).toHaveLength(1);
    await expectCode(
      api.submit(alice, { assignmentId: assignment.id, text: "y", idempotencyKey: key(40) }),
      "INVALID_ARGUMENT",
    );
    await expectCode(
      api.submit(alice, { assignmentId: assignment.id, text: "y", idempotencyKey: "short" }),
      "INVALID_ARGUMENT",
    );
  });

  test("a spooled file must match its size and hash, and the CSV neutralises formulas", async () => {
    const { api, alice, teacher, course, assignment } = await setup();
    const folder = await mkdtemp(join(tmpdir(), "lectern-fake-"));
    const path = join(folder, "f");
    await writeFile(path, "content");
    const sha256 = createHash("sha256").update("content").digest("hex");
    const file = { path, name: "f.txt", contentType: "text/plain", sizeBytes: 7, sha256 };
    await expectCode(
      api.submit(alice, {
        assignmentId: assignment.id,
        text: "",
        file: { ...file, sha256: "0".repeat(64) },
        idempotencyKey: key(50),
      }),
      "INVALID_ARGUMENT",
    );
    const submission = await api.submit(alice, {
      assignmentId: assignment.id,
      text: "",
      file,
      idempotencyKey: key(51),
    });
    expect(submission.files[0]?.sha256).toBe(sha256);
    await api.createAssignment(teacher, {
      courseId: course.id,
      title: "=cmd|' /C calc'!A0",
      description: "",
      dueAtMs: 0,
      maxPoints: 1,
      idempotencyKey: key(52),
    });
    const csv = await api.exportGradesCsv(teacher, { courseId: course.id });
    let text = "";
    for await (const chunk of csv.chunks) text += Buffer.from(chunk).toString();
    expect(text).toContain(`"'=cmd|' /C calc'!A0"`);
    await rm(folder, { recursive: true });
  });

  test("the tutor streams pieces and reports an outage as UNAVAILABLE / TUTOR_UNAVAILABLE", async () => {
    const { api, alice } = await setup();
    const pieces: string[] = [];
    for await (const piece of api.askTutor(alice, { question: "Why?", idempotencyKey: key(60) })) pieces.push(piece);
    expect(pieces.length).toBeGreaterThan(1);
    api.tutor.available = false;
    const error = await (async () => {
      for await (const _ of api.askTutor(alice, { question: "Why?", idempotencyKey: key(61) })) {
        // no pieces expected
      }
    })().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "UNAVAILABLE", detail: "TUTOR_UNAVAILABLE" });
  });

  test("isApiError recognises errors by shape, across module copies", () => {
    expect(isApiError(new ApiError("NOT_FOUND", "x"))).toBe(true);
    expect(isApiError({ name: "ApiError", code: "UNAVAILABLE", message: "copy" })).toBe(true);
    expect(isApiError({ name: "ApiError", code: "BOGUS" })).toBe(false);
    expect(isApiError(new Error("x"))).toBe(false);
  });
});

describe("feedback notes, material deletion and tutor history in the fake", () => {
  test("students read notes to them or to everyone and may not filter by student", async () => {
    const { api, teacher, alice, bob, course } = await setup();
    const aliceId = (await api.whoAmI(alice)).id;
    await api.postFeedback(teacher, { courseId: course.id, text: "All", idempotencyKey: key(10) });
    await api.postFeedback(teacher, {
      courseId: course.id,
      studentId: aliceId,
      text: "Alice",
      idempotencyKey: key(11),
    });
    expect((await api.listFeedback(alice, { courseId: course.id })).map((note) => note.text)).toEqual(["All", "Alice"]);
    expect((await api.listFeedback(bob, { courseId: course.id })).map((note) => note.text)).toEqual(["All"]);
    expect((await api.listFeedback(teacher, { courseId: course.id, studentId: aliceId })).length).toBe(2);
    await expectCode(api.listFeedback(bob, { courseId: course.id, studentId: aliceId }), "PERMISSION_DENIED");
    await expectCode(
      api.postFeedback(alice, { courseId: course.id, text: "x", idempotencyKey: key(12) }),
      "PERMISSION_DENIED",
    );
  });

  test("only the owner deletes a material; a retried delete succeeds, a new one finds nothing", async () => {
    const { api, teacher, other, course } = await setup();
    const material = await api.postMaterial(teacher, {
      courseId: course.id,
      title: "M",
      description: "",
      idempotencyKey: key(20),
    });
    await expectCode(api.deleteMaterial(other, { materialId: material.id, idempotencyKey: key(21) }), "NOT_FOUND");
    await api.deleteMaterial(teacher, { materialId: material.id, idempotencyKey: key(22) });
    await api.deleteMaterial(teacher, { materialId: material.id, idempotencyKey: key(22) });
    await expectCode(api.deleteMaterial(teacher, { materialId: material.id, idempotencyKey: key(23) }), "NOT_FOUND");
    expect(await api.listMaterials(teacher, { courseId: course.id })).toEqual([]);
  });

  test("a finished tutor answer is recorded once per key; a failed one is not recorded", async () => {
    const { api, alice, bob } = await setup();
    const drain = async (pieces: AsyncIterable<string>) => {
      for await (const _ of pieces);
    };
    await drain(api.askTutor(alice, { question: "Q1", idempotencyKey: key(30) }));
    await drain(api.askTutor(alice, { question: "Q1", idempotencyKey: key(30) }));
    api.tutor.failAfterPieces = 1;
    await expectCode(drain(api.askTutor(alice, { question: "Q2", idempotencyKey: key(31) })), "UNAVAILABLE");
    expect((await api.listTutorExchanges(alice)).map((exchange) => exchange.question)).toEqual(["Q1"]);
    expect(await api.listTutorExchanges(bob)).toEqual([]);
  });
});
