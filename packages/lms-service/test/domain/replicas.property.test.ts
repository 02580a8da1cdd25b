import { createHash } from "node:crypto";
import type { Entry } from "@lectern/raft-core";
import fc from "fast-check";
import { afterAll, expect, test } from "vitest";
import { encodeCommand } from "../../src/domain/command-codec.js";
import type { Actor, LmsCommand } from "../../src/domain/commands.js";
import { idempotencyGenerationMs } from "../../src/domain/limits.js";
import type { LmsApplyResult } from "../../src/domain/lms-state-machine.js";
import { Cleanup, Harness, passwordHash, snapshotBytes } from "./harness.js";

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

const admin: Actor = { userId: "admin", role: "admin" };
const instructors: Actor[] = [
  { userId: "i1", role: "instructor" },
  { userId: "i2", role: "instructor" },
];
const students: Actor[] = ["s1", "s2", "s3"].map((userId) => ({ userId, role: "student" }));
const everyone = [admin, ...instructors, ...students];
const blobs = ["alpha", "beta", "gamma"].map((text) => Buffer.from(text));

/**
 * A world for random commands to act in: everyone's account, a course per instructor with
 * students and an assignment, and every blob uploaded by every student.
 */
function castCommands(): LmsCommand[] {
  const base = { idempotencyKey: "setup-key-0", at: 1 };
  const as = (who: Actor, n: number) => ({ actor: who, idempotencyKey: `setup-key-w${n}`, at: 2 });
  const world: LmsCommand[] = [
    { kind: "createCourse", ...as(instructors[0], 1), courseId: "c1", title: "One", description: "" },
    { kind: "createCourse", ...as(instructors[1], 2), courseId: "c2", title: "Two", description: "" },
    { kind: "enrolStudent", ...as(instructors[0], 3), courseId: "c1", studentId: "s1" },
    { kind: "enrolStudent", ...as(instructors[0], 4), courseId: "c1", studentId: "s2" },
    { kind: "enrolStudent", ...as(instructors[1], 5), courseId: "c2", studentId: "s3" },
    {
      kind: "createAssignment",
      ...as(instructors[0], 6),
      assignmentId: "a1",
      courseId: "c1",
      title: "H",
      description: "",
      dueAt: 150,
      maxPoints: 10,
    },
    {
      kind: "createAssignment",
      ...as(instructors[1], 7),
      assignmentId: "a2",
      courseId: "c2",
      title: "H",
      description: "",
      dueAt: 150,
      maxPoints: 10,
    },
    ...students.flatMap((who, i) =>
      blobs.flatMap((bytes, j): LmsCommand[] => {
        const id = `pre-${who.userId}-${j}`;
        const n = 100 + 10 * i + j;
        return [
          { kind: "startUpload", ...as(who, n), uploadId: id },
          { kind: "appendUploadChunk", ...as(who, n + 1000), uploadId: id, offset: 0, data: bytes.toString("base64") },
          {
            kind: "commitUpload",
            ...as(who, n + 2000),
            uploadId: id,
            sha256: sha(bytes),
            size: bytes.byteLength,
            name: "f.txt",
            mime: "text/plain",
          },
        ];
      }),
    ),
  ];
  const cast: LmsCommand[] = [
    {
      kind: "bootstrapAdmin",
      actor: null,
      ...base,
      userId: "admin",
      username: "admin",
      displayName: "A",
      passwordHash,
    },
    ...instructors.map(
      (who, i): LmsCommand => ({
        kind: "createInstructor",
        actor: admin,
        ...base,
        idempotencyKey: `setup-key-i${i}`,
        userId: who.userId,
        username: `user-${who.userId}`,
        displayName: who.userId,
        passwordHash,
      }),
    ),
    ...students.map(
      (who, i): LmsCommand => ({
        kind: "registerStudent",
        actor: null,
        ...base,
        idempotencyKey: `setup-key-s${i}`,
        userId: who.userId,
        username: `user-${who.userId}`,
        displayName: who.userId,
        passwordHash,
      }),
    ),
  ];
  return [...cast, ...world];
}

const pick = <T>(items: readonly T[]) => fc.constantFrom(...items);
const courseId = pick(["c1", "c2"]);
const assignmentId = pick(["a1", "a2", "a3"]);
const studentId = pick(["s1", "s2", "s3", "i1"]);
const code = pick(["CODE01", "CODE02"]);
const uploadId = pick(["u1", "u2", "u3", "u4"]);
const blob = pick(blobs);
const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A client request (kind and fields), small id spaces so commands collide, conflict and refuse. */
const body: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ kind: fc.constant("createCourse"), courseId, title: pick(["A", "B"]), description: fc.constant("") }),
  fc.record({ kind: fc.constant("enrolStudent"), courseId, studentId }),
  fc.record({ kind: fc.constant("unenrolStudent"), courseId, studentId }),
  fc.record({ kind: fc.constant("createJoinCode"), courseId, code }),
  fc.record({ kind: fc.constant("revokeJoinCode"), code }),
  fc.record({ kind: fc.constant("joinByCode"), code }),
  fc.record({
    kind: fc.constant("createAssignment"),
    assignmentId,
    courseId,
    title: fc.constant("HW"),
    description: fc.constant(""),
    dueAt: fc.integer({ min: 0, max: 200 }),
    maxPoints: fc.integer({ min: 1, max: 10 }),
  }),
  fc.record({ kind: fc.constant("startUpload"), uploadId }),
  fc.record({
    kind: fc.constant("appendUploadChunk"),
    uploadId,
    offset: pick([0, 4, 5]),
    data: blob.map((b) => b.toString("base64")),
  }),
  fc.record({
    kind: fc.constant("commitUpload"),
    uploadId,
    sha256: blob.map(sha),
    size: pick([4, 5]),
    name: pick(["x.pdf", "../../etc/passwd"]),
    mime: fc.constant("application/pdf"),
  }),
  fc.record({ kind: fc.constant("abortUpload"), uploadId }),
  fc.record({
    kind: fc.constant("submit"),
    submissionId: fc.constant("new"),
    assignmentId,
    fileHashes: fc.oneof(
      blob.map((b) => [sha(b)]),
      fc.constant([]),
    ),
    comment: pick(["", "text only"]),
  }),
  fc.record({
    kind: fc.constant("grade"),
    assignmentId,
    studentId,
    points: pick([0, 2.5, 7, 11]),
    feedback: pick(["", "=1+1"]),
  }),
  fc.record({ kind: fc.constant("releaseGrades"), assignmentId }),
  fc.record({ kind: fc.constant("releaseGrades"), assignmentId, released: fc.boolean() }),
  fc.record({
    kind: fc.constant("postMaterial"),
    materialId: pick(["m1", "m2"]),
    courseId,
    title: fc.constant("Slides"),
    body: fc.constant(""),
  }),
  fc.record({ kind: fc.constant("deleteMaterial"), materialId: pick(["m1", "m2"]) }),
  fc.record({ kind: fc.constant("postFeedbackNote"), noteId: fc.constant("new"), courseId, text: fc.constant("note") }),
  fc.record({ kind: fc.constant("askQuestion"), questionId: pick(["q1", "q2"]), courseId, text: fc.constant("?") }),
  fc.record({ kind: fc.constant("answerQuestion"), questionId: pick(["q1", "q2"]), text: fc.constant("!") }),
  fc.record({ kind: fc.constant("revokeToken"), tokenId: pick(["t1", "t2"]), expiresAt: fc.constant(10_000) }),
);

type Step =
  | { type: "command"; actorChoice: number; body: Record<string, unknown>; key: number; timeStep: number }
  | { type: "noop" }
  | { type: "garbage"; bytes: Uint8Array };

/**
 * One log entry: a stamped command (sometimes reusing an idempotency key), a noop, or garbage.
 * `timeStep` is how far the stamped time moves from the previous command's.
 */
const stepWith = (timeStep: fc.Arbitrary<number>): fc.Arbitrary<Step> =>
  fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({
        type: fc.constant("command" as const),
        actorChoice: fc.integer({ min: 0, max: 9 }),
        body,
        key: fc.integer({ min: 0, max: 30 }),
        timeStep,
      }),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("noop" as const) }) },
    {
      weight: 1,
      arbitrary: fc.record({ type: fc.constant("garbage" as const), bytes: fc.uint8Array({ maxLength: 20 }) }),
    },
  );

const step = stepWith(fc.integer({ min: 0, max: 20 }));

/**
 * Stamped times as leaders with different clocks make them: mostly small steps, sometimes a jump
 * past the idempotency retention (so accepted commands prune, and a key reused after it is a new
 * request), sometimes back by more than the retention (a leader whose clock is behind).
 */
const retentionJumps = stepWith(
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 20 }) },
    { weight: 1, arbitrary: fc.constantFrom(idempotencyGenerationMs / 2, 3 * idempotencyGenerationMs + 1) },
    { weight: 1, arbitrary: fc.constant(-3 * idempotencyGenerationMs - 7) },
  ),
);

const studentKinds = new Set(["joinByCode", "submit", "askQuestion"]);
const anyoneKinds = new Set(["startUpload", "appendUploadChunk", "commitUpload", "abortUpload", "revokeToken"]);

/** Mostly an actor who may send this kind (so commands get accepted), sometimes anyone (so they get refused). */
function chooseActor(kind: string, choice: number): Actor {
  if (choice >= 8) return everyone[choice % everyone.length];
  const pool = studentKinds.has(kind) ? students : anyoneKinds.has(kind) ? everyone : instructors;
  return pool[choice % pool.length];
}

function toEntries(steps: Step[]): Entry[] {
  const entries: Entry[] = [];
  const push = (type: Entry["type"], data: Uint8Array) =>
    entries.push({ index: entries.length + 1, term: 1, type, data });
  for (const command of castCommands()) push("normal", encodeCommand(command));
  let at = 100;
  for (const s of steps) {
    if (s.type === "noop") push("noop", new Uint8Array());
    else if (s.type === "garbage") push("normal", s.bytes);
    else {
      at = Math.max(0, at + s.timeStep);
      // Stamped ids are fresh per entry, as the accepting node would make them.
      const stamped = Object.fromEntries(
        Object.entries(s.body).map(([k, v]) => [k, v === "new" ? `id${entries.length}` : v]),
      );
      const actor = chooseActor(String(s.body.kind), s.actorChoice);
      const command = {
        ...stamped,
        actor,
        idempotencyKey: `key-${actor.userId}-${s.key}`,
        at,
      } as unknown as LmsCommand;
      push("normal", encodeCommand(command));
    }
  }
  return entries;
}

/** Applies `entries` in batches of `batch` and returns every result. */
async function applyAll(h: Harness, entries: readonly Entry[], batch: number): Promise<LmsApplyResult[]> {
  const results: LmsApplyResult[] = [];
  for (let i = 0; i < entries.length; i += batch) results.push(...(await h.machine.apply(entries.slice(i, i + batch))));
  return results;
}

/** The snapshot without its header line (which carries the applied index). */
async function stateOf(h: Harness): Promise<string> {
  return (await snapshotBytes(h.store)).toString().split("\n").slice(1).join("\n");
}

/** How many accepted (not replayed) commands' idempotency records are gone from `h`. */
async function prunedRecords(h: Harness, results: readonly LmsApplyResult[]): Promise<number> {
  const kept = await h.store.list("idempotency", "", { limit: 100_000 });
  return results.filter((result) => result?.status === "ok" && !result.replayed).length - kept.length;
}

// The pruning variant prunes at every accepted command (not only at every 16th log index), so
// short random logs exercise it; the pass schedule itself is tested in idempotency-retention.test.ts.
test.each([
  ["steady clocks", step, false, 16],
  ["clocks that jump past the idempotency retention and back (pruning)", retentionJumps, true, 1],
])(
  "random command sequences, %s: two replicas (memory and LevelDB, different batching) end identical",
  async (_, step, prunes, idempotencyPruneEveryEntries) => {
    let runsThatPruned = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 1, max: 7 }),
        async (steps, batch) => {
          const entries = toEntries(steps);
          const one = await Harness.memory(cleanup, { idempotencyPruneEveryEntries });
          const two = await Harness.level(cleanup, undefined, { idempotencyPruneEveryEntries });
          const resultsOne: LmsApplyResult[] = [];
          for (const entry of entries) {
            // One at a time on the first replica, checking that a refused command changed nothing.
            const before = await stateOf(one);
            const [result] = await one.machine.apply([entry]);
            resultsOne.push(result);
            if (result !== undefined && result.status !== "ok") expect(await stateOf(one)).toBe(before);
          }
          const resultsTwo = await applyAll(two, entries, batch);
          expect(resultsTwo).toEqual(resultsOne);
          expect(two.machine.appliedIndex()).toBe(entries.length);
          expect((await snapshotBytes(two.store)).equals(await snapshotBytes(one.store))).toBe(true);
          expect(await two.files.list()).toEqual(await one.files.list());
          if ((await prunedRecords(one, resultsOne)) > 0) runsThatPruned++;
          await cleanup.run();
        },
      ),
      { numRuns: 30 },
    );
    // The property held with pruning in play (and without it where no time passed the retention).
    if (prunes) expect(runsThatPruned).toBeGreaterThan(0);
    else expect(runsThatPruned).toBe(0);
  },
  120_000,
);
