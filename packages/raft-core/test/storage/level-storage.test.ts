import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Entry } from "../../src/core/types.js";
import { LevelStorage, type LevelStorageOptions, MAX_WRITES_PER_BATCH } from "../../src/storage/level-storage.js";
import { encodeEntry, entryKey, HARD_STATE_KEY } from "../../src/storage/record-codec.js";
import { CORRUPTION_REMEDY, type StorageCorruptionError, type StorageError } from "../../src/storage/storage-errors.js";
import { describeEntries, entries, entry, hard, runStorageContract, type StorageHarness } from "./contract.js";

const IDENTITY: LevelStorageOptions = { clusterId: "cluster-a", nodeId: "n1" };

const tempDirs: string[] = [];

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lectern-level-"));
  tempDirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

afterEach(() => {
  vi.restoreAllMocks();
});

function levelHarness(dir: string, storage: LevelStorage): StorageHarness {
  return {
    storage,
    settle: (promise) => promise,
    reopen: async () => {
      await storage.close();
      return levelHarness(dir, await LevelStorage.open(dir, IDENTITY));
    },
    cleanup: () => storage.close(),
  };
}

runStorageContract("LevelStorage", async () => {
  const dir = await freshDir();
  return levelHarness(dir, await LevelStorage.open(dir, IDENTITY));
});

/** The rejection of `promise`; fails the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    return error as StorageError;
  }
  throw new Error("expected a rejection");
}

type Database = ClassicLevel<Uint8Array, Uint8Array>;

/** Opens a closed store's folder directly with classic-level, runs `edit`, closes it. */
async function editRaw(dir: string, edit: (db: Database) => Promise<void>): Promise<void> {
  const db: Database = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  try {
    await edit(db);
  } finally {
    await db.close();
  }
}

/** Flips one bit of the stored value under `key`, in its last byte (inside the checksummed body). */
async function flipBit(dir: string, key: Uint8Array): Promise<void> {
  await editRaw(dir, async (db) => {
    const value = await db.get(key);
    if (value === undefined) throw new Error("no such key");
    const damaged = Uint8Array.from(value);
    damaged[damaged.length - 1] = (damaged[damaged.length - 1] as number) ^ 0x10;
    await db.put(key, damaged);
  });
}

/** A closed store holding entries 1..5 (terms 1,1,2,2,2) and hard state (2, n1, commit 3). */
async function storeWithFiveEntries(): Promise<string> {
  const dir = await freshDir();
  const storage = await LevelStorage.open(dir, IDENTITY);
  await storage.write({ hardState: hard(2, "n1", 3), entries: [...entries(1, 2, 1), ...entries(3, 5, 2)] });
  await storage.close();
  return dir;
}

describe("LevelStorage identity and format", () => {
  it("records the cluster and node ids and refuses a folder of another node or cluster, naming both (rule 10)", async () => {
    const dir = await freshDir();
    await (await LevelStorage.open(dir, IDENTITY)).close();
    const otherNode = await rejectionOf(LevelStorage.open(dir, { clusterId: "cluster-a", nodeId: "n2" }));
    expect(otherNode.code).toBe("STORAGE_IDENTITY_MISMATCH");
    expect(otherNode.message).toContain('node "n1" of cluster "cluster-a"');
    expect(otherNode.message).toContain('node "n2" of cluster "cluster-a"');
    const otherCluster = await rejectionOf(LevelStorage.open(dir, { clusterId: "cluster-b", nodeId: "n1" }));
    expect(otherCluster.code).toBe("STORAGE_IDENTITY_MISMATCH");
    expect(otherCluster.message).toContain('"cluster-b"');
    // The refusals released the folder: the owner still opens it.
    await (await LevelStorage.open(dir, IDENTITY)).close();
  });

  it("refuses a folder with data but no metadata record, and one with a damaged metadata record", async () => {
    const dir = await freshDir();
    await editRaw(dir, (db) => db.put(HARD_STATE_KEY, Uint8Array.of(1, 2, 3)));
    const missing = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(missing.code).toBe("STORAGE_CORRUPTION");
    expect(missing.message).toContain("metadata");

    const dir2 = await freshDir();
    await (await LevelStorage.open(dir2, IDENTITY)).close();
    await flipBit(dir2, Uint8Array.of(0x6d));
    const damaged = await rejectionOf(LevelStorage.open(dir2, IDENTITY));
    expect(damaged.code).toBe("STORAGE_CORRUPTION");
    expect(damaged.message).toContain("checksum mismatch");
  });

  it("fails to open with a typed I/O error while another handle holds the folder, or when it is a file", async () => {
    const dir = await freshDir();
    const first = await LevelStorage.open(dir, IDENTITY);
    const locked = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(locked.code).toBe("STORAGE_IO");
    expect(locked.message).toContain(dir);
    await first.close();
    const file = join(await freshDir(), "not-a-folder");
    await writeFile(file, "x");
    expect((await rejectionOf(LevelStorage.open(file, IDENTITY))).code).toBe("STORAGE_IO");
  });

  it("rejects missing ids with a TypeError before touching the disk", async () => {
    await expect(LevelStorage.open(await freshDir(), { clusterId: "", nodeId: "n1" })).rejects.toThrow(TypeError);
    await expect(LevelStorage.open(await freshDir(), { clusterId: "c", nodeId: "" })).rejects.toThrow(TypeError);
  });
});

describe("LevelStorage start-up verification", () => {
  it("refuses a damaged middle entry with StorageCorruptionError naming the store, the index and the remedy", async () => {
    const dir = await storeWithFiveEntries();
    await flipBit(dir, entryKey(3));
    const error = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(error.code).toBe("STORAGE_CORRUPTION");
    expect(error).toMatchObject({ storePath: dir, index: 3, record: "entry", remedy: CORRUPTION_REMEDY });
    expect(error.message).toContain(dir);
    expect(error.message).toContain("log entry 3");
    expect(error.message).toContain("remove and re-add it");
  });

  it("a damaged LAST entry is corruption too: an acknowledged entry is never dropped silently", async () => {
    // LevelDB's own log recovery drops a batch torn by a crash, so a record that is there but
    // fails its checksum is damage, wherever it is (the lazily written commit index cannot tell
    // whether the last entry was acknowledged).
    const dir = await storeWithFiveEntries();
    await flipBit(dir, entryKey(5));
    const error = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(error).toMatchObject({ code: "STORAGE_CORRUPTION", index: 5, record: "entry" });
  });

  it("a gap before a damaged last entry, or a damaged entry under the commit index, is corruption", async () => {
    const dir = await storeWithFiveEntries();
    await flipBit(dir, entryKey(5));
    await editRaw(dir, async (db) => {
      await db.del(entryKey(4));
    });
    // Now 1..3 intact, 4 missing, 5 damaged: corruption, named at one of them.
    const gap = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(gap.code).toBe("STORAGE_CORRUPTION");
    expect([4, 5]).toContain((gap as StorageCorruptionError).index);

    const dir2 = await freshDir();
    const storage = await LevelStorage.open(dir2, IDENTITY);
    await storage.write({ hardState: hard(1, "n1", 3), entries: entries(1, 3, 1) });
    await storage.close();
    await flipBit(dir2, entryKey(3));
    const committed = await rejectionOf(LevelStorage.open(dir2, IDENTITY));
    expect(committed).toMatchObject({ code: "STORAGE_CORRUPTION", index: 3, record: "entry" });
  });

  it("a damaged hard state is always corruption, never a torn tail (rule 11)", async () => {
    const dir = await storeWithFiveEntries();
    await flipBit(dir, HARD_STATE_KEY);
    const error = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(error).toMatchObject({ code: "STORAGE_CORRUPTION", record: "hard-state", index: undefined, storePath: dir });
  });

  it("refuses a gap, decreasing terms and a record moved to another key", async () => {
    const gapDir = await storeWithFiveEntries();
    await editRaw(gapDir, (db) => db.del(entryKey(2)));
    expect(await rejectionOf(LevelStorage.open(gapDir, IDENTITY))).toMatchObject({ index: 2 });

    const termDir = await storeWithFiveEntries();
    const key = entryKey(4);
    await editRaw(termDir, (db) => db.put(key, encodeEntry(key, entry(4, 1))));
    const termError = await rejectionOf(LevelStorage.open(termDir, IDENTITY));
    expect(termError).toMatchObject({ code: "STORAGE_CORRUPTION", index: 4 });
    expect(termError.message).toContain("below the previous entry's term");

    // A valid record of index 2 stored under index 3's key fails the checksum, which covers the key.
    const movedDir = await storeWithFiveEntries();
    await editRaw(movedDir, async (db) => {
      await db.put(entryKey(3), (await db.get(entryKey(2))) as Uint8Array);
    });
    expect(await rejectionOf(LevelStorage.open(movedDir, IDENTITY))).toMatchObject({ index: 3 });
  });

  it("load() after writes re-reads the disk, and is refused after close()", async () => {
    const dir = await freshDir();
    const storage = await LevelStorage.open(dir, IDENTITY);
    await storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 3, 1) });
    expect((await storage.load()).entries).toHaveLength(3);
    await storage.close();
    await expect(storage.load()).rejects.toMatchObject({ code: "STORAGE_CLOSED" });
  });
});

/** What one LevelDB batch write looked like. */
interface BatchCall {
  /** Operations in the batch. */
  readonly operations: number;
  readonly options: unknown;
  /** Set once LevelDB reported the batch written (and, with sync, fsynced). */
  completed: boolean;
}

type ChainedWrite = (this: { readonly length: number }, options?: unknown) => Promise<void>;
let chainedBatchPrototype: { write: ChainedWrite };

beforeAll(async () => {
  // LevelStorage writes through classic-level's chained batches; spying on their prototype sees
  // the batches of every database, including the one LevelStorage imports lazily.
  const db = new ClassicLevel(await freshDir());
  await db.open();
  const batch = db.batch();
  chainedBatchPrototype = Object.getPrototypeOf(batch);
  await batch.close();
  await db.close();
});

/**
 * Spies every LevelDB batch write. `intercept` may delay or replace the real write (`proceed`).
 */
function spyBatchWrites(intercept?: (call: BatchCall, proceed: () => Promise<void>) => Promise<void>) {
  const original = chainedBatchPrototype.write;
  const calls: BatchCall[] = [];
  const spy = vi.spyOn(chainedBatchPrototype, "write").mockImplementation(function (
    this: { readonly length: number },
    options?: unknown,
  ) {
    const call: BatchCall = { operations: this.length, options, completed: false };
    calls.push(call);
    const proceed = () =>
      original.call(this, options).then(() => {
        call.completed = true;
      });
    return intercept === undefined ? proceed() : intercept(call, proceed);
  });
  return { calls, spy };
}

describe("LevelStorage durability (sync spy)", () => {
  it("syncs every batch, resolves no write before its batch completed, and groups concurrent writes", async () => {
    const { calls } = spyBatchWrites();
    const dir = await freshDir();
    const storage = await LevelStorage.open(dir, IDENTITY);
    expect(calls).toHaveLength(1); // the metadata record, written at creation
    const writes: Promise<void>[] = [];
    const writeCount = 200;
    for (let i = 1; i <= writeCount; i++) {
      const write = storage.write({ hardState: hard(1, "n1", i - 1), entries: [entry(i, 1)] }).then(() => {
        // Write i put entry i; the completed batches (less their one hard-state put each) must hold it.
        const completedEntries = calls
          .slice(1)
          .reduce((sum, call) => sum + (call.completed ? call.operations - 1 : 0), 0);
        expect(completedEntries).toBeGreaterThanOrEqual(i);
      });
      writes.push(write);
    }
    await Promise.all(writes);
    await storage.close();
    for (const call of calls) expect(call.options).toMatchObject({ sync: true });
    expect(calls.every((call) => call.completed)).toBe(true);
    expect(storage.stats()).toMatchObject({
      batches: calls.length,
      acknowledgedWrites: writeCount,
      acknowledgedEntries: writeCount,
    });
    // The first write went alone (nothing was in flight); the second batch carried everything that
    // waited: 199 entries and one hard state, the last (earlier ones would be overwritten in the batch).
    expect(calls[1]?.operations).toBe(2);
    expect(calls[2]?.operations).toBe(199 + 1);
    expect(calls).toHaveLength(3);
  });

  it("never resolves a write before its batch has completed, and keeps one batch in flight", async () => {
    const storage = await LevelStorage.open(await freshDir(), IDENTITY);
    const held: (() => void)[] = [];
    const { calls } = spyBatchWrites(
      (_call, proceed) => new Promise<void>((resolve, reject) => held.push(() => void proceed().then(resolve, reject))),
    );
    const settled: number[] = [];
    const first = storage.write({ hardState: hard(1, "n1", 0), entries: [entry(1, 1)] }).then(() => settled.push(1));
    const second = storage.write({ entries: [entry(2, 1)] }).then(() => settled.push(2));
    const third = storage.write({ hardState: hard(1, "n1", 2), entries: [entry(3, 1)] }).then(() => settled.push(3));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(held).toHaveLength(1); // one batch in flight; writes 2 and 3 wait for it
    expect(settled).toEqual([]);
    held[0]?.();
    await first;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(settled).toEqual([1]);
    expect(held).toHaveLength(2); // 2 and 3 joined one batch
    expect(calls[1]?.operations).toBe(3); // entries 2 and 3, then the hard state of write 3
    held[1]?.();
    await Promise.all([second, third]);
    expect(settled).toEqual([1, 2, 3]);
    for (const call of calls) expect(call.options).toMatchObject({ sync: true });
    vi.restoreAllMocks();
    await storage.close();
  });

  it("splits a long queue into batches of at most MAX_WRITES_PER_BATCH writes", async () => {
    const { calls } = spyBatchWrites();
    const storage = await LevelStorage.open(await freshDir(), IDENTITY);
    const count = MAX_WRITES_PER_BATCH * 2 + 5;
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= count; i++) writes.push(storage.write({ hardState: hard(1, "", 0), entries: [entry(i, 1)] }));
    await Promise.all(writes);
    await storage.close();
    // Each batch: one put per write's entry, plus the batch's last hard state.
    const sizes = calls.slice(1).map((call) => call.operations - 1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(count);
    expect(Math.max(...sizes)).toBe(MAX_WRITES_PER_BATCH);
  });
});

describe("LevelStorage failures (rule 11)", () => {
  it("rejects the failing batch with a typed error, refuses every later write and never retries", async () => {
    const dir = await freshDir();
    const storage = await LevelStorage.open(dir, IDENTITY);
    await storage.write({ hardState: hard(1, "n1", 0), entries: [entry(1, 1)] });
    const { spy } = spyBatchWrites(() =>
      Promise.reject(Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" })),
    );
    const failing = storage.write({ entries: [entry(2, 1)] });
    const queued = storage.write({ entries: [entry(3, 1)] });
    const failed = await rejectionOf(failing);
    expect(failed).toMatchObject({ code: "STORAGE_IO", operation: "write", causeCode: "ENOSPC", storePath: dir });
    expect((await rejectionOf(queued)).code).toBe("STORAGE_CLOSED");
    const later = await rejectionOf(storage.write({ entries: [entry(2, 1)] }));
    expect(later.code).toBe("STORAGE_CLOSED");
    expect(later.message).toContain("ENOSPC");
    expect(spy).toHaveBeenCalledTimes(1); // the failed batch was not retried
    vi.restoreAllMocks();
    await storage.close();
    // Only the acknowledged write is on disk.
    const reopened = await LevelStorage.open(dir, IDENTITY);
    expect(describeEntries((await reopened.load()).entries)).toEqual(describeEntries([entry(1, 1)]));
    await reopened.close();
  });

  it("rejects writes after close(), and close() waits for writes in flight", async () => {
    const storage = await LevelStorage.open(await freshDir(), IDENTITY);
    let durable = false;
    const pending = storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 50, 1) }).then(() => {
      durable = true;
    });
    await storage.close();
    expect(durable).toBe(true);
    await pending;
    const refused = await rejectionOf(storage.write({ entries: [entry(51, 1)] }));
    expect(refused.code).toBe("STORAGE_CLOSED");
    await storage.close(); // idempotent
  });

  it("rejects an invalid write with a typed error and stays usable", async () => {
    const storage = await LevelStorage.open(await freshDir(), IDENTITY);
    const invalid = await rejectionOf(storage.write({ entries: [entry(2, 0)] }));
    expect(invalid.code).toBe("STORAGE_INVALID_WRITE");
    const tooLongOrigin: Entry = { ...entry(1, 1), origin: "x".repeat(70_000) };
    await storage.write({ hardState: hard(1, "", 0), entries: [] });
    expect((await rejectionOf(storage.write({ entries: [tooLongOrigin] }))).code).toBe("STORAGE_INVALID_WRITE");
    await storage.write({ entries: [entry(1, 1)] });
    expect((await storage.load()).entries).toHaveLength(1);
    await storage.close();
  });
});
