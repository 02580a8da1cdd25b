import { afterEach, describe, expect, test } from "vitest";
import { decodeCommand, encodeCommand, MalformedCommandError } from "../../src/domain/command-codec.js";
import type { LmsCommand } from "../../src/domain/commands.js";
import { key } from "../../src/domain/keys.js";
import { maxAssignmentPoints, maxDescriptionChars, maxTitleChars } from "../../src/domain/limits.js";
import { Cleanup, Harness, seedSchool, snapshotBytes } from "./harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const update: LmsCommand = {
  kind: "updateAssignment",
  actor: { userId: "alice", role: "instructor" },
  idempotencyKey: "key-00000001",
  at: 1_700_000_000_000,
  assignmentId: "a1",
  title: "Homework 1 (revised)",
};

function problemOf(command: object): string {
  try {
    encodeCommand(command as LmsCommand);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedCommandError);
    return `${(error as MalformedCommandError).field}: ${(error as MalformedCommandError).problem}`;
  }
  throw new Error("expected a malformed command");
}

describe("updateAssignment: the command", () => {
  test("round-trips with only the fields it names", () => {
    expect(decodeCommand(encodeCommand(update))).toEqual({ ok: true, command: update });
  });

  test("checks every field like createAssignment does (table)", () => {
    const cases: [object, string][] = [
      [{ ...update, assignmentId: "a/1" }, "assignmentId: must be an id"],
      [{ ...update, title: "" }, "title: must have at least 1 characters"],
      [{ ...update, title: "   " }, "title: must not be blank"],
      [{ ...update, title: "two\nlines" }, "title: must not contain control characters"],
      [{ ...update, title: "x".repeat(maxTitleChars + 1) }, `title: must have at most ${maxTitleChars} characters`],
      [
        { ...update, description: "x".repeat(maxDescriptionChars + 1) },
        `description: must have at most ${maxDescriptionChars} characters`,
      ],
      [{ ...update, dueAt: -1 }, "dueAt: must be an integer from 0"],
      [{ ...update, dueAt: 1.5 }, "dueAt: must be an integer from 0"],
      [{ ...update, maxPoints: 0 }, `maxPoints: must be an integer from 1 to ${maxAssignmentPoints}`],
      [{ ...update, maxPoints: 7.5 }, "maxPoints: must be an integer from 1"],
      [{ ...update, maxPoints: maxAssignmentPoints + 1 }, "maxPoints: must be an integer from 1"],
      [{ ...update, courseId: "c2" }, "courseId: is not a field of updateAssignment"],
      [{ ...update, actor: null }, "actor: is required"],
    ];
    for (const [command, expected] of cases) expect(problemOf(command), expected).toContain(expected);
  });
});

describe("updateAssignment: applied", () => {
  test("the owner changes the named fields; the others, and the release state, are kept", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, dueAt } = await seedSchool(h);
    await h.ok("releaseGrades", alice, { assignmentId: "a1" });
    const before = await h.store.get("assignments", "a1");
    const result = await h.ok("updateAssignment", alice, { assignmentId: "a1", title: "Homework one" });
    expect(result.value).toEqual({ assignmentId: "a1" });
    expect(await h.store.get("assignments", "a1")).toEqual({ ...before, title: "Homework one" });
    await h.ok("updateAssignment", alice, {
      assignmentId: "a1",
      description: "Solve all",
      dueAt: dueAt + 5,
      maxPoints: 20,
    });
    expect(await h.store.get("assignments", "a1")).toEqual({
      ...before,
      title: "Homework one",
      description: "Solve all",
      dueAt: dueAt + 5,
      maxPoints: 20,
    });
    expect((await h.store.get("assignments", "a1"))?.gradesReleasedAt).toBeDefined();
  });

  test("only the course's instructor may change it, and a refusal changes nothing", async () => {
    const h = await Harness.memory(cleanup);
    const { admin, bob, s1 } = await seedSchool(h);
    const before = await h.store.get("assignments", "a1");
    expect((await h.run("updateAssignment", s1, { assignmentId: "a1", title: "Mine" })).status).toBe("forbidden");
    expect((await h.run("updateAssignment", admin, { assignmentId: "a1", title: "Mine" })).status).toBe("forbidden");
    expect((await h.run("updateAssignment", bob, { assignmentId: "a1", title: "Mine" })).status).toBe("not-found");
    expect((await h.run("updateAssignment", bob, { assignmentId: "nope", title: "Mine" })).status).toBe("not-found");
    expect(await h.store.get("assignments", "a1")).toEqual(before);
  });

  test("an update that names no field is refused", async () => {
    const h = await Harness.memory(cleanup);
    const { alice } = await seedSchool(h);
    const result = await h.run("updateAssignment", alice, { assignmentId: "a1" });
    expect(result.status).toBe("invalid");
  });

  test("moving the due date keeps the late flags decided at submission time; later work uses the new date", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, s1, s2, dueAt } = await seedSchool(h);
    const submit = (who: typeof s1, submissionId: string, at: number) =>
      h.ok("submit", who, { submissionId, assignmentId: "a1", fileHashes: [], comment: "work" }, { at });
    expect((await submit(s1, "late1", dueAt + 1)).value).toMatchObject({ late: true });
    expect((await submit(s2, "ontime2", dueAt - 1)).value).toMatchObject({ late: false });
    // Extended past s1's submission, then pulled before s2's: neither stored flag changes.
    await h.ok("updateAssignment", alice, { assignmentId: "a1", dueAt: dueAt + 100_000 });
    expect(await h.store.get("submissions", "late1")).toMatchObject({ late: true });
    expect(await h.store.get("latestSubmissions", key("a1", "s1"))).toMatchObject({ late: true });
    await h.ok("updateAssignment", alice, { assignmentId: "a1", dueAt: dueAt - 10 });
    expect(await h.store.get("submissions", "ontime2")).toMatchObject({ late: false });
    expect(await h.store.get("latestSubmissions", key("a1", "s2"))).toMatchObject({ late: false });
    // A resubmission is judged against the date in force now.
    expect((await submit(s2, "again2", dueAt)).value).toMatchObject({ version: 2, late: true });
  });

  test("max points may not drop below a grade already given; lowering to it, or raising, is fine", async () => {
    const h = await Harness.memory(cleanup);
    const { alice } = await seedSchool(h);
    await h.ok("grade", alice, { assignmentId: "a1", studentId: "s1", points: 4, feedback: "" });
    await h.ok("grade", alice, { assignmentId: "a1", studentId: "s2", points: 7.5, feedback: "" });
    const tooLow = await h.run("updateAssignment", alice, { assignmentId: "a1", maxPoints: 7, title: "New" });
    expect(tooLow.status).toBe("conflict");
    expect(tooLow.status !== "ok" && tooLow.message).toContain("7.5");
    expect(await h.store.get("assignments", "a1")).toMatchObject({ maxPoints: 10, title: "Homework 1" });
    await h.ok("updateAssignment", alice, { assignmentId: "a1", maxPoints: 8 });
    expect(await h.store.get("assignments", "a1")).toMatchObject({ maxPoints: 8 });
    // The new maximum holds for later grades too.
    expect((await h.run("grade", alice, { assignmentId: "a1", studentId: "s1", points: 9, feedback: "" })).status).toBe(
      "invalid",
    );
    await h.ok("updateAssignment", alice, { assignmentId: "a1", maxPoints: 100 });
    await h.ok("grade", alice, { assignmentId: "a1", studentId: "s1", points: 90, feedback: "" });
  });

  test("idempotent: the same key and request replays; the same key with another request is refused", async () => {
    const h = await Harness.memory(cleanup);
    const { alice } = await seedSchool(h);
    const body = { assignmentId: "a1", title: "Renamed", maxPoints: 12 };
    const first = await h.ok("updateAssignment", alice, body, { idempotencyKey: "update-key-1" });
    expect(first.replayed).toBe(false);
    // Someone else changes it in between: the replay answers the first result and changes nothing.
    await h.ok("updateAssignment", alice, { assignmentId: "a1", title: "Other" });
    const replay = await h.ok("updateAssignment", alice, body, { idempotencyKey: "update-key-1" });
    expect(replay).toEqual({ ...first, replayed: true });
    expect(await h.store.get("assignments", "a1")).toMatchObject({ title: "Other", maxPoints: 12 });
    const reused = await h.run(
      "updateAssignment",
      alice,
      { assignmentId: "a1", title: "Renamed", maxPoints: 13 },
      { idempotencyKey: "update-key-1" },
    );
    expect(reused.status).toBe("conflict");
    expect(reused.status !== "ok" && reused.message).toContain("idempotency key");
    expect(await h.store.get("assignments", "a1")).toMatchObject({ maxPoints: 12 });
  });

  test("deterministic: a second replica fed the same log ends byte-identical", async () => {
    const h = await Harness.memory(cleanup);
    const { alice, s1, dueAt } = await seedSchool(h);
    await h.ok(
      "submit",
      s1,
      { submissionId: "x", assignmentId: "a1", fileHashes: [], comment: "w" },
      { at: dueAt + 1 },
    );
    await h.ok("grade", alice, { assignmentId: "a1", studentId: "s1", points: 6, feedback: "" });
    await h.run("updateAssignment", alice, { assignmentId: "a1", maxPoints: 5 });
    await h.ok("updateAssignment", alice, { assignmentId: "a1", dueAt: dueAt + 50, maxPoints: 6, description: "d" });
    const replica = await Harness.memory(cleanup);
    await replica.machine.apply(h.log);
    expect((await snapshotBytes(replica.store)).equals(await snapshotBytes(h.store))).toBe(true);
  });
});
