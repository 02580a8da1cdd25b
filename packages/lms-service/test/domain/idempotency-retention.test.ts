import { afterEach, describe, expect, test } from "vitest";
import { expiringIdempotencyKey, idempotencyPruneCursorKey } from "../../src/domain/idempotency-retention.js";
import { key } from "../../src/domain/keys.js";
import {
  maxIdempotencyRecordsPrunedPerPass as prunedPerPass,
  idempotencyPruneEveryEntries as pruneEvery,
  idempotencyRetentionMs as retentionMs,
} from "../../src/domain/limits.js";
import type { CollectionName } from "../../src/domain/records.js";
import { actor, Cleanup, Harness, passwordHash, snapshotBytes } from "./harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const admin = actor("admin", "admin");
const alice = actor("alice", "instructor");
const course = (courseId: string) => ({ courseId, title: "T", description: "" });

/** An admin and an instructor (two idempotency records, stamped at the harness clock). */
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

async function all<C extends CollectionName>(h: Harness, collection: C) {
  return h.store.list(collection, "", { limit: 100_000 });
}

async function keysOf(h: Harness, collection: CollectionName): Promise<string[]> {
  return (await all(h, collection)).map((record) => record.key);
}

/** The snapshot without its header line (which carries the applied index). */
async function stateOf(h: Harness): Promise<string> {
  return (await snapshotBytes(h.store)).toString().split("\n").slice(1).join("\n");
}

describe("idempotency records expire", () => {
  test("an accepted command at a pruning index prunes records older than the retention; younger ones and the boundary stay", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const t0 = h.clockMs + 1000;
    await h.ok("createCourse", alice, course("old"), { idempotencyKey: "old-key-01", at: t0 });
    await h.ok("createCourse", alice, course("edge"), { idempotencyKey: "edge-key-1", at: t0 + 1000 });
    const young = await h.ok("createCourse", alice, course("young"), {
      idempotencyKey: "young-key-1",
      at: t0 + retentionMs / 2,
    });
    expect(await h.store.get("idempotency", key("alice", "old-key-01"))).toMatchObject({ at: t0 });
    expect(await h.store.get("expiringIdempotency", expiringIdempotencyKey(t0, key("alice", "old-key-01")))).toEqual({
      recordKey: key("alice", "old-key-01"),
      at: t0,
    });

    // "edge" is exactly the retention old at `now`: only older records go.
    const now = t0 + 1000 + retentionMs;
    // Only commands at a pruning index prune: one just before it leaves the expired record alone.
    await noopsUntilNext(h, pruneEvery - 1);
    await h.ok("createCourse", alice, course("early"), { idempotencyKey: "early-key-1", at: now });
    expect(await h.store.get("idempotency", key("alice", "old-key-01"))).toBeDefined();
    expect((h.index + 1) % pruneEvery).toBe(0);
    await h.ok("createCourse", alice, course("later"), { idempotencyKey: "later-key-1", at: now });
    const kept = ["early-key-1", "edge-key-1", "later-key-1", "young-key-1"].map((k) => key("alice", k));
    expect(await keysOf(h, "idempotency")).toEqual(kept);
    expect((await all(h, "expiringIdempotency")).map((entry) => entry.value.recordKey)).toEqual([
      key("alice", "edge-key-1"),
      key("alice", "young-key-1"),
      key("alice", "early-key-1"),
      key("alice", "later-key-1"),
    ]);
    // The records' other data stays: pruning removes only idempotency records.
    expect(await h.store.get("courses", "old")).toBeDefined();

    // A pruned key is a new request; a kept key still replays its first result.
    const reused = await h.run("createCourse", alice, course("old-again"), {
      idempotencyKey: "old-key-01",
      at: now + 1,
    });
    expect(reused).toMatchObject({ status: "ok", value: { courseId: "old-again" }, replayed: false });
    expect(await h.store.get("courses", "old-again")).toBeDefined();
    expect(await h.store.get("idempotency", key("alice", "old-key-01"))).toMatchObject({ at: now + 1 });
    const replayed = await h.run("createCourse", alice, course("young-again"), {
      idempotencyKey: "young-key-1",
      at: now + 2,
    });
    expect(replayed).toEqual({ ...young, replayed: true });
    expect(await h.store.get("courses", "young-again")).toBeUndefined();
  });

  test("a refused or replayed command prunes nothing (it changes nothing)", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const first = await h.ok("createCourse", alice, course("c1"), { idempotencyKey: "first-key-1" });
    const later = h.clockMs + retentionMs + 1000;
    await toPassIndex(h);
    const before = await stateOf(h);
    const refused = await h.run("createCourse", alice, course("c1"), { at: later });
    expect(refused.status).toBe("conflict");
    await toPassIndex(h);
    const replay = await h.run("createCourse", alice, course("c1"), { idempotencyKey: "first-key-1", at: later });
    expect(replay).toEqual({ ...first, replayed: true });
    expect(await stateOf(h)).toBe(before);
    expect(await keysOf(h, "idempotency")).toHaveLength(3);
  });

  test("1,000 expired records go over several passes, oldest first, at most the bound each", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const backlog = 1000;
    const commands = Array.from({ length: backlog }, (_, i) => h.command("createCourse", alice, course(`c${i}`)));
    for (let i = 0; i < backlog; i += 100) {
      await h.machine.apply(commands.slice(i, i + 100).map((command) => h.entry(command)));
    }
    const stamped = (await all(h, "expiringIdempotency")).map((entry) => entry.value.at);
    expect(stamped).toHaveLength(backlog + 2);
    let expired = backlog + 2;
    let now = h.clockMs + retentionMs + 1;
    let pruningCommands = 0;
    const removedEach: number[] = [];
    while (expired > 0) {
      const before = (await all(h, "idempotency")).length;
      now += 1000;
      await toPassIndex(h);
      await h.ok("createCourse", alice, course(`n${pruningCommands}`), { at: now });
      pruningCommands++;
      // Every command adds its own record.
      const removed = before + 1 - (await all(h, "idempotency")).length;
      removedEach.push(removed);
      expired -= removed;
      if (pruningCommands === 1) {
        // Oldest first: the oldest remaining entry is the one right after the pruned slice.
        expect((await all(h, "expiringIdempotency"))[0].value.at).toBe(stamped[prunedPerPass]);
        // An expired record not pruned yet still replays its first result, and a replay prunes nothing.
        const last = commands[backlog - 1];
        const replay = await h.apply({ ...last, at: now });
        expect(replay).toMatchObject({ status: "ok", value: { courseId: `c${backlog - 1}` }, replayed: true });
        expect((await all(h, "idempotency")).length).toBe(before + 1 - removed);
      }
      expect(pruningCommands).toBeLessThanOrEqual(backlog);
    }
    expect(Math.max(...removedEach)).toBe(prunedPerPass);
    expect(removedEach.every((removed) => removed >= 0 && removed <= prunedPerPass)).toBe(true);
    expect(pruningCommands).toBe(Math.ceil((backlog + 2) / prunedPerPass));
    // Only the pruning commands' own records are left, and their entries match them one to one.
    const left = await all(h, "idempotency");
    expect(left).toHaveLength(pruningCommands);
    expect(left.every((record) => record.value.at !== undefined && record.value.at > now - retentionMs)).toBe(true);
    const entries = await all(h, "expiringIdempotency");
    expect(entries.map((entry) => entry.value.recordKey).sort()).toEqual(left.map((record) => record.key));
    // The cursor names the last entry pruned, below every entry left.
    const cursor = await h.store.get("pruneCursors", idempotencyPruneCursorKey);
    expect(cursor).toBeDefined();
    expect(entries.every((entry) => entry.key > (cursor?.after ?? ""))).toBe(true);

    // Another replica on LevelDB, fed the same log in large batches (so one batch holds many
    // commands' deletes), ends byte for byte the same.
    const other = await Harness.level(cleanup);
    // Pruning starts after the cursor, so no list reads past the deletes of earlier commands of
    // the batch: the store is never asked for more than the bound, however many the batch pruned.
    const asked: number[] = [];
    const list = other.store.list.bind(other.store);
    other.store.list = ((collection, prefix, options) => {
      if (collection === "expiringIdempotency") asked.push(options?.limit ?? Number.POSITIVE_INFINITY);
      return list(collection, prefix, options);
    }) as typeof list;
    for (let i = 0; i < h.log.length; i += 97) await other.machine.apply(h.log.slice(i, i + 97));
    expect((await snapshotBytes(other.store)).equals(await snapshotBytes(h.store))).toBe(true);
    expect(asked.length).toBeGreaterThan(pruningCommands);
    // Pages grow from a short first read, and a pass never asks for more than its bound in all.
    expect(Math.max(...asked)).toBeLessThanOrEqual(prunedPerPass);
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
    const jump = a.clockMs + retentionMs;
    await toPassIndex(a);
    await a.ok("createCourse", alice, course("p1"), { at: jump + 1 });
    // One pass took the bound; the rest of the backlog is still there when the snapshot is taken.
    expect((await all(a, "idempotency")).length).toBe(2 + backlog + 1 - prunedPerPass);
    expect(await a.store.get("pruneCursors", idempotencyPruneCursorKey)).toBeDefined();
    const b = await Harness.level(cleanup);
    const meta = { index: a.index, term: 1, config: { voters: ["n1"], outgoing: [], learners: [] } };
    await b.machine.restore(meta, [await snapshotBytes(a.store)]);
    const from = a.log.length;
    for (let i = 0; i < 5; i++) {
      await toPassIndex(a);
      await a.ok("createCourse", alice, course(`q${i}`), { at: jump + 10 + i });
    }
    await b.machine.apply(a.log.slice(from));
    expect((await snapshotBytes(b.store)).equals(await snapshotBytes(a.store))).toBe(true);
    // Everything stamped before the jump is gone; p1 and the five q commands are left.
    expect((await all(b, "idempotency")).length).toBe(6);
  });

  test("a record stamped by a node whose clock is far behind is still pruned later", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    for (let i = 0; i < 40; i++) await h.ok("createCourse", alice, course(`c${i}`));
    const now = h.clockMs + retentionMs + 1;
    await toPassIndex(h);
    await h.ok("createCourse", alice, course("p1"), { at: now });
    const cursor = await h.store.get("pruneCursors", idempotencyPruneCursorKey);
    expect(cursor).toBeDefined();
    expect(await keysOf(h, "idempotency")).toHaveLength(1);
    // Stamped before everything pruned so far: its entry sorts below the cursor, which is dropped
    // by this command even though it is not at a pruning index.
    await noopsUntilNext(h, 1);
    const skewedAt = 5;
    await h.ok("createCourse", alice, course("skewed"), { idempotencyKey: "skewed-key", at: skewedAt });
    const skewedEntry = expiringIdempotencyKey(skewedAt, key("alice", "skewed-key"));
    expect(skewedEntry < (cursor?.after ?? "")).toBe(true);
    expect(await h.store.get("pruneCursors", idempotencyPruneCursorKey)).toBeUndefined();
    // The next pass starts from the first entry again: the skewed record goes.
    await toPassIndex(h);
    await h.ok("createCourse", alice, course("p2"), { at: now + 1000 });
    expect(await h.store.get("idempotency", key("alice", "skewed-key"))).toBeUndefined();
    expect(await h.store.get("expiringIdempotency", skewedEntry)).toBeUndefined();
    expect(await keysOf(h, "idempotency")).toHaveLength(2);
    const after = (await h.store.get("pruneCursors", idempotencyPruneCursorKey))?.after ?? "";
    expect(after).toBe(skewedEntry);
    const entries = await all(h, "expiringIdempotency");
    expect(entries.every((entry) => entry.key > after)).toBe(true);
  });

  test("a record written before records expired (no time, no entry) still replays and is never pruned", async () => {
    const h = await Harness.memory(cleanup);
    await school(h);
    const first = await h.ok("createCourse", alice, course("legacy"), { idempotencyKey: "legacy-key-1" });
    const recordKey = key("alice", "legacy-key-1");
    const stored = await h.store.get("idempotency", recordKey);
    if (stored?.at === undefined) throw new Error("the record has no time");
    // What an older build left: the record without `at`, and no entry in expiry order.
    const { at, ...legacy } = stored;
    await h.store.commit(
      [
        { collection: "idempotency", key: recordKey, value: legacy },
        { collection: "expiringIdempotency", key: expiringIdempotencyKey(at, recordKey), value: undefined },
      ],
      ++h.index,
    );
    const later = h.clockMs + 2 * retentionMs;
    for (let i = 0; i < 3; i++) {
      await toPassIndex(h);
      await h.ok("createCourse", alice, course(`n${i}`), { at: later + i });
    }
    expect(await h.store.get("idempotency", key("anonymous", "key-1-bootstrapAdmin"))).toBeUndefined();
    expect(await h.store.get("idempotency", recordKey)).toEqual(legacy);
    const replay = await h.run("createCourse", alice, course("legacy-again"), {
      idempotencyKey: "legacy-key-1",
      at: later + 10,
    });
    expect(replay).toEqual({ ...first, replayed: true });
    expect(await h.store.get("courses", "legacy-again")).toBeUndefined();
  });

  test("the pass period must be a positive integer (it decides results, like every apply setting)", async () => {
    for (const bad of [0, -16, 1.5]) {
      await expect(Harness.memory(cleanup, { idempotencyPruneEveryEntries: bad })).rejects.toThrow(
        /idempotencyPruneEveryEntries must be a positive integer/,
      );
    }
  });
});
