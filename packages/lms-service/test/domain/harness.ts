import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Entry } from "@lectern/raft-core";
import { encodeCommand } from "../../src/domain/command-codec.js";
import type { Actor, CommandStamp, LmsCommand, LmsCommandKind, Role } from "../../src/domain/commands.js";
import { LmsStateMachine, type LmsStateMachineOptions } from "../../src/domain/lms-state-machine.js";
import type { LmsResult } from "../../src/domain/results.js";
import { FileStore } from "../../src/store/file-store.js";
import { LevelLmsStore } from "../../src/store/level-store.js";
import type { LmsStore } from "../../src/store/lms-store.js";
import { MemoryLmsStore } from "../../src/store/memory-store.js";

export const passwordHash = "scrypt$16384$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

/** A command without its stamp, as a test writes it. */
export type Body<K extends LmsCommandKind> = Omit<Extract<LmsCommand, { kind: K }>, keyof CommandStamp | "kind">;

/** Collects temporary directories and closes stores at the end of a test. */
export class Cleanup {
  private readonly tasks: (() => Promise<void>)[] = [];

  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "lms-test-"));
    this.tasks.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  later(task: () => Promise<void>): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    for (const task of this.tasks.reverse()) await task();
    this.tasks.length = 0;
  }
}

/** State machine settings a test may change (the same on every replica it builds). */
export type HarnessOptions = Pick<LmsStateMachineOptions, "idempotencyPruneEveryEntries">;

/**
 * A state machine fed one entry per command, the way raft-core would: the harness stamps the
 * time (1000 ms per entry unless told) and a fresh idempotency key, encodes, and applies.
 */
export class Harness {
  index = 0;
  clockMs = 1_000_000;
  /** Every entry applied so far, to feed another replica. */
  readonly log: Entry[] = [];
  private keys = 0;

  constructor(
    readonly machine: LmsStateMachine,
    readonly store: LmsStore,
    readonly files: FileStore,
  ) {}

  static async memory(cleanup: Cleanup, options: HarnessOptions = {}): Promise<Harness> {
    const store = new MemoryLmsStore();
    const files = await FileStore.open(await cleanup.tempDir());
    return new Harness(new LmsStateMachine({ store, files, ...options }), store, files);
  }

  static async level(cleanup: Cleanup, dir?: string, options: HarnessOptions = {}): Promise<Harness> {
    const root = dir ?? (await cleanup.tempDir());
    const store = await LevelLmsStore.open(join(root, "lms"));
    cleanup.later(() => store.close());
    const files = await FileStore.open(join(root, "files"));
    return new Harness(new LmsStateMachine({ store, files, ...options }), store, files);
  }

  /** The stamped command, not applied. */
  command<K extends LmsCommandKind>(
    kind: K,
    actor: Actor | null,
    body: Body<K>,
    stamp: Partial<CommandStamp> = {},
  ): Extract<LmsCommand, { kind: K }> {
    this.clockMs += 1000;
    return {
      kind,
      actor,
      idempotencyKey: stamp.idempotencyKey ?? `key-${++this.keys}-${kind}`,
      at: stamp.at ?? this.clockMs,
      ...body,
    } as unknown as Extract<LmsCommand, { kind: K }>;
  }

  entry(command: LmsCommand): Entry {
    const entry: Entry = { index: ++this.index, term: 1, type: "normal", data: encodeCommand(command) };
    this.log.push(entry);
    return entry;
  }

  async apply(command: LmsCommand): Promise<LmsResult> {
    const [result] = await this.machine.apply([this.entry(command)]);
    if (result === undefined) throw new Error("a normal entry gave no result");
    return result;
  }

  async run<K extends LmsCommandKind>(
    kind: K,
    actor: Actor | null,
    body: Body<K>,
    stamp: Partial<CommandStamp> = {},
  ): Promise<LmsResult> {
    return this.apply(this.command(kind, actor, body, stamp));
  }

  /** Like `run`, but fails the test unless the command was accepted. */
  async ok<K extends LmsCommandKind>(kind: K, actor: Actor | null, body: Body<K>, stamp: Partial<CommandStamp> = {}) {
    const result = await this.run(kind, actor, body, stamp);
    if (result.status !== "ok") throw new Error(`${kind} was refused: ${result.status}: ${result.message}`);
    return result;
  }

  /** Uploads `bytes` as `actor` in chunks and commits it; returns the hash. */
  async upload(
    actor: Actor,
    uploadId: string,
    bytes: Uint8Array,
    name = "work.pdf",
    chunkBytes = 4096,
  ): Promise<string> {
    await this.ok("startUpload", actor, { uploadId });
    for (let offset = 0; offset < bytes.byteLength; offset += chunkBytes) {
      const data = Buffer.from(bytes.subarray(offset, offset + chunkBytes)).toString("base64");
      await this.ok("appendUploadChunk", actor, { uploadId, offset, data });
    }
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    await this.ok("commitUpload", actor, { uploadId, sha256, size: bytes.byteLength, name, mime: "application/pdf" });
    return sha256;
  }
}

export function actor(userId: string, role: Role): Actor {
  return { userId, role };
}

/** A small school: admin, two instructors each owning a course, three students (s1, s2 in c1). */
export async function seedSchool(h: Harness) {
  const admin = actor("admin", "admin");
  const alice = actor("alice", "instructor");
  const bob = actor("bob", "instructor");
  const s1 = actor("s1", "student");
  const s2 = actor("s2", "student");
  const s3 = actor("s3", "student");
  await h.ok("bootstrapAdmin", null, { userId: "admin", username: "admin", displayName: "Admin", passwordHash });
  for (const [who, name] of [
    [alice, "alice"],
    [bob, "bob"],
  ] as const) {
    await h.ok("createInstructor", admin, { userId: who.userId, username: name, displayName: name, passwordHash });
  }
  for (const student of [s1, s2, s3]) {
    await h.ok("registerStudent", null, {
      userId: student.userId,
      username: `${student.userId}-name`,
      displayName: student.userId,
      passwordHash,
    });
  }
  await h.ok("createCourse", alice, { courseId: "c1", title: "Algebra", description: "" });
  await h.ok("createCourse", bob, { courseId: "c2", title: "Biology", description: "" });
  await h.ok("enrolStudent", alice, { courseId: "c1", studentId: "s1" });
  await h.ok("enrolStudent", alice, { courseId: "c1", studentId: "s2" });
  await h.ok("enrolStudent", bob, { courseId: "c2", studentId: "s3" });
  const dueAt = h.clockMs + 100_000;
  await h.ok("createAssignment", alice, {
    assignmentId: "a1",
    courseId: "c1",
    title: "Homework 1",
    description: "Solve",
    dueAt,
    maxPoints: 10,
  });
  return { admin, alice, bob, s1, s2, s3, dueAt };
}

/** Every byte of a store's snapshot, as one buffer. */
export async function snapshotBytes(store: LmsStore): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of store.snapshot()) chunks.push(chunk);
  return Buffer.concat(chunks);
}
