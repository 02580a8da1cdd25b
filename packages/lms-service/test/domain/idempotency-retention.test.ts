import { afterEach, describe, expect, test } from "vitest";
import { generationOf, idempotencyRecordKeyIn } from "../../src/domain/idempotency-retention.js";
import { key } from "../../src/domain/keys.js";
import {
  idempotencyGenerationMs as generationMs,
  maxIdempotencyRecordsPrunedPerPass as prunedPerPass,
  idempotencyPruneEveryEntries as pruneEvery,
} from "../../src/domain/limits.js";
import { actor, Cleanup, Harness, passwordHash, snapshotBytes } from "./harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const admin = actor("admin", "admin");
const alice = actor("alice", "instructor");
const course = (courseId: string) => ({ courseId, title: "T", description: "" });
/** The start of generation `g`. */
const startOf = (g: number) => g * generationMs;

/** An admin and an instructor (two idempotency records, stamped at the harness clock: generation 0). */
async function school(h: Harness): Promise<void> {
  await h.ok("bootstrapAdmin", null, { userId: "admin", username: "admin", displayName: "Admin", passwordHash });
  await h.ok("createInstructor", admin, { userId: "alice", username: "alice", displayName: "Alice", passwordHash });
}

/** Applies noop entries until the next entry's log index is `residue` modulo the pruning period. */
async function noopsUntilNext(h: Harness, residue: number): Promise<void> {
  while ((h.index + 1) % pruneEvery !== residue) {
    const noop = { index: ++h.index, term: 1, type: "noop" as const, data: new Uint8Array() };
    h.log.push(noop);
    await h.machine.apply([noop]);
  }
}

/** Applies noop entries until the next entry's log index is a pruning index. */
const toPassIndex = (h: Harness) => noopsUntilNext(h, 0);

async function idempotencyKeys(h: Harness): Promise<string[]> {
  return (await h.store.list("idempotency", "", { limit: 100_000 })).map((record) => record.key);
}

/** The snapshot without its header line (which carries the applied index). */
async function stateOf(h: Harness): Promise<string> {
  return (await snapshotBytes(h.store)).toString().split("\n").slice(1).join("\n");
}

describe("idempotency records are kept by generation and expire", () => {
  test("a record is kept under its command's generation and found from the generations beside it", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const g = 10;
    const late = startOf(g + 1) - 1; // the last millisecond of generation g
    const first = await h.ok("createCourse", alice, course("c1"), { idempotencyKey: "retry-key-1", at: late });
    expect(generationOf(late)).toBe(g);
    expect(await h.store.get("idempotency", idempotencyRecordKeyIn(g, "alice", "retry-key-1"))).toMatchObject({
      kind: "createCourse",
    });
    // A retry two milliseconds later is in the next generation, and one from a node whose clock is
    // most of a generation behind is in the one before: both get the first result.
    for (const at of [late + 2, late - generationMs + 5]) {
      const retry = await h.run("createCourse", alice, course("c1-again"), { idempotencyKey: "retry-key-1", at });
      expect(retry).toEqual({ ...first, replayed: true });
    }
    // Two generations later the key is no longer looked up: it is a new request.
    const reused = await h.run("createCourse", alice, course("c1-new"), {
      idempotencyKey: "retry-key-1",
      at: startOf(g + 2),
    });
    expect(reused).toMatchObject({ status: "ok", replayed: false });
    expect(await h.store.get("courses", "c1-new")).toBeDefined();
  });

  test("a pass deletes the generations more than two before its own; younger ones stay", async () => {
    const h = await Harness.memory(cleanup);
    await school(h); // generation 0
    const g = 20;
    await h.ok("createCourse", alice, course("g17"), { idempotencyKey: "key-of-g17", at: startOf(g - 3) + 5 });
    await h.ok("createCourse", alice, course("g18"), { idempotencyKey: "key-of-g18", at: startOf(g - 2) });
    await h.ok("createCourse", alice, course("g19"), { idempotencyKey: "key-of-g19", at: startOf(g - 1) });
    expect(await idempotencyKeys(h)).toHaveLength(5);
    // Not at a pruning index: nothing goes, however old.
    await noopsUntilNext(h, pruneEvery - 1);
    await h.ok("createCourse", alice, course("early"), { idempotencyKey: "early-key-1", at: startOf(g) });
    expect(await idempotencyKeys(h)).toHaveLength(6);
    // At a pruning index: generations 0 and g-3 go, g-2 (kept for two generations) and younger stay.
    expect((h.index + 1) % pruneEvery).toBe(0);
    await h.ok("createCourse", alice, course("pass"), { idempotencyKey: "pass-key-01", at: startOf(g) + 1 });
    expect(await idempotencyKeys(h)).toEqual([
      idempotencyRecordKeyIn(g - 2, "alice", "key-of-g18"),
      idempotencyRecordKeyIn(g - 1, "alice", "key-of-g19"),
      idempotencyRecordKeyIn(g, "alice", "early-key-1"),
      idempotencyRecordKeyIn(g, "alice", "pass-key-01"),
    ]);
    // The records' other data stays: pruning removes only idempotency records.
    expect(await h.store.get("courses", "g17")).toBeDefined();
  });

  test("a refused or replayed command prunes nothing (it changes nothing)", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const first = await h.ok("createCourse", alice, course("c1"), { idempotencyKey: "first-key-1" });
    const later = startOf(5);
    await toPassIndex(h);
    const before = await stateOf(h);
    const refused = await h.run("createCourse", alice, course("c1"), { at: later });
    expect(refused.status).toBe("conflict");
    expect(await stateOf(h)).toBe(before);
    // Stamped in the generation after the first attempt's, so it is found and replayed.
    await toPassIndex(h);
    const replay = await h.run("createCourse", alice, course("c1"), {
      idempotencyKey: "first-key-1",
      at: startOf(1),
    });
    expect(replay).toEqual({ ...first, replayed: true });
    expect(await stateOf(h)).toBe(before);
    expect(await idempotencyKeys(h)).toHaveLength(3);
  });

  test("a backlog of old records goes over several passes, oldest first, at most the bound each", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const backlog = 2 * prunedPerPass + 98;
    const commands = Array.from({ length: backlog }, (_, i) => h.command("createCourse", alice, course(`c${i}`)));
    for (let i = 0; i < backlog; i += 100) {
      await h.machine.apply(commands.slice(i, i + 100).map((command) => h.entry(command)));
    }
    const stored = await idempotencyKeys(h);
    expect(stored).toHaveLength(backlog + 2);
    let left = backlog + 2;
    let now = startOf(3) + 1;
    let passes = 0;
    const removedEach: number[] = [];
    while (left > 0) {
      const before = (await idempotencyKeys(h)).length;
      now += 1000;
      await toPassIndex(h);
      await h.ok("createCourse", alice, course(`n${passes}`), { at: now });
      passes++;
      // Every command adds its own record.
      const removed = before + 1 - (await idempotencyKeys(h)).length;
      removedEach.push(removed);
      left -= removed;
      // Oldest first: what is left of the backlog is its tail.
      if (passes === 1) expect((await idempotencyKeys(h))[0]).toBe(stored[prunedPerPass]);
      expect(passes).toBeLessThanOrEqual(backlog);
    }
    expect(Math.max(...removedEach)).toBe(prunedPerPass);
    expect(passes).toBe(Math.ceil((backlog + 2) / prunedPerPass));
    expect(await idempotencyKeys(h)).toHaveLength(passes);

    // Another replica on LevelDB, fed the same log in large batches (so one batch holds many
    // passes' deletes), ends byte for byte the same. A read asks the store for its page plus the
    // deletes earlier passes of the same batch left pending (it must read past them), so never
    // more than the bound per pass in the batch; the first read of a pass is short.
    const other = await Harness.level(cleanup);
    const asked: number[] = [];
    const list = other.store.list.bind(other.store);
    other.store.list = ((collection, prefix, options) => {
      if (collection === "idempotency") asked.push(options?.limit ?? Number.POSITIVE_INFINITY);
      return list(collection, prefix, options);
    }) as typeof list;
    for (let i = 0; i < h.log.length; i += 97) await other.machine.apply(h.log.slice(i, i + 97));
    expect((await snapshotBytes(other.store)).equals(await snapshotBytes(h.store))).toBe(true);
    expect(Math.max(...asked)).toBeLessThanOrEqual(prunedPerPass * Math.ceil(97 / pruneEvery));
    expect(Math.min(...asked)).toBeLessThan(16);
  }, 60_000);

  test("a snapshot taken mid-backlog restores and goes on pruning identically", async () => {
    const a = await Harness.memory(cleanup);
    await school(a);
    const backlog = prunedPerPass + 144;
    for (let i = 0; i < backlog; i += 50) {
      const commands = Array.from({ length: Math.min(50, backlog - i) }, (_, j) =>
        a.command("createCourse", alice, course(`c${i + j}`)),
      );
      await a.machine.apply(commands.map((command) => a.entry(command)));
    }
    const later = startOf(3) + 1;
    await toPassIndex(a);
    await a.ok("createCourse", alice, course("p1"), { at: later });
    // One pass took the bound; the rest of the backlog is there when the snapshot is taken.
    expect(await idempotencyKeys(a)).toHaveLength(2 + backlog + 1 - prunedPerPass);
    const b = await Harness.level(cleanup);
    const meta = { index: a.index, term: 1, config: { voters: ["n1"], outgoing: [], learners: [] } };
    await b.machine.restore(meta, [await snapshotBytes(a.store)]);
    const from = a.log.length;
    for (let i = 0; i < 5; i++) {
      await toPassIndex(a);
      await a.ok("createCourse", alice, course(`q${i}`), { at: later + 10 + i });
    }
    await b.machine.apply(a.log.slice(from));
    expect((await snapshotBytes(b.store)).equals(await snapshotBytes(a.store))).toBe(true);
    // Everything of generation 0 is gone; p1 and the five q commands are left.
    expect(await idempotencyKeys(b)).toHaveLength(6);
  });

  test("a record of an older build (no generation in its key) is left alone and does not stop pruning", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const legacy = key("alice", "legacy-key-1");
    const [record] = (await h.store.list("idempotency", "", { limit: 1 })).map((entry) => entry.value);
    await h.store.commit([{ collection: "idempotency", key: legacy, value: record }], ++h.index);
    h.log.push({ index: h.index, term: 1, type: "noop", data: new Uint8Array() });
    await toPassIndex(h);
    await h.ok("createCourse", alice, course("n1"), { at: startOf(4) });
    // The two generation-0 records went; the legacy one sorts after every generation key and stays.
    expect(await idempotencyKeys(h)).toEqual([idempotencyRecordKeyIn(4, "alice", "key-3-createCourse"), legacy]);
  });

  test("the pass period must be a positive integer (it decides results, like every apply setting)", async () => {
    for (const bad of [0, -16, 1.5]) {
      await expect(Harness.memory(cleanup, { idempotencyPruneEveryEntries: bad })).rejects.toThrow(
        /idempotencyPruneEveryEntries must be a positive integer/,
      );
    }
  });
});
