import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { Entry, HardState, SnapshotMeta } from "../../src/core/types.js";
import { drainMicrotasks } from "../../src/sim/drain-microtasks.js";
import { Prng } from "../../src/sim/prng.js";
import { SimStorage, type SimStorageOptions } from "../../src/sim/sim-storage.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { readWholeSnapshot } from "../../src/storage/snapshot.js";
import type { SnapshotReader } from "../../src/storage/storage.js";
import type { StorageCorruptionError } from "../../src/storage/storage-errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function entry(index: number, term: number): Entry {
  return { index, term, type: "normal", data: encoder.encode(`${index}@${term}`) };
}

function entries(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
}

function hard(term: number, vote: string, commit: number): HardState {
  return { term, vote, commit };
}

function meta(index: number, term: number): SnapshotMeta {
  return { index, term, config: { voters: ["a", "b", "c"], outgoing: [], learners: [] } };
}

const bytes = (text: string): Uint8Array => encoder.encode(text);
const indexes = (list: readonly Entry[]): number[] => list.map((e) => e.index);

function setup(seed: number, options: SimStorageOptions = {}) {
  const clock = new VirtualClock();
  const storage = new SimStorage(clock, Prng.fromSeed(seed).fork("disk"), options);
  return { clock, storage };
}

async function text(reader: SnapshotReader): Promise<string> {
  return (await readWholeSnapshot(reader)).map((chunk) => decoder.decode(chunk)).join("");
}

async function rejectionOf(promise: Promise<unknown>): Promise<StorageCorruptionError | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => error as StorageCorruptionError,
  );
}

describe("SimStorage snapshots under crashes", () => {
  it("a save is one atomic operation in the write queue: a crash keeps a prefix, never a later write without it", async () => {
    const outcomes = new Set<number>();
    for (let s = 1; s <= 80; s++) {
      const { storage } = setup(s);
      void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
      void storage.saveSnapshot(meta(6, 2), [bytes("six")], 4);
      void storage.write({ hardState: hard(2, "a", 10), entries: [entry(11, 2)] });
      // The save is still consuming its stream: nothing after it can be on the disk yet.
      expect(storage.crash()).toBeLessThanOrEqual(1);
      expect(storage.lastCrash?.lost).toBeGreaterThanOrEqual(2);
      const state = await storage.load();
      expect(await storage.openSnapshot()).toBeUndefined();
      expect(state.entries).toHaveLength(storage.lastCrash?.kept === 1 ? 10 : 0);
    }
    // Once the stream is consumed (within the same instant), every prefix is possible.
    for (let s = 1; s <= 80; s++) {
      const { storage } = setup(s);
      void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
      void storage.saveSnapshot(meta(6, 2), [bytes("six")], 4);
      void storage.write({ hardState: hard(2, "a", 10), entries: [entry(11, 2)] });
      await drainMicrotasks();
      const kept = storage.crash();
      const state = await storage.load();
      const reader = await storage.openSnapshot();
      if (kept < 2) {
        expect(reader).toBeUndefined();
        expect(state.entries).toHaveLength(kept === 0 ? 0 : 10);
      } else {
        expect(reader?.meta.index).toBe(6);
        expect(state.snapshot?.index).toBe(6);
        expect(indexes(state.entries)).toEqual(kept === 2 ? [7, 8, 9, 10] : [7, 8, 9, 10, 11]);
      }
      outcomes.add(kept);
    }
    expect([...outcomes].sort()).toEqual([0, 1, 2, 3]);
  });

  it("a write issued while a save streams becomes durable after the save (issue order)", async () => {
    const { clock, storage } = setup(2, { minSyncMs: 1, maxSyncMs: 30 });
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    await clock.runUntil(100);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield bytes("a");
      await gate;
      yield bytes("b");
    }
    const order: string[] = [];
    const saving = storage.saveSnapshot(meta(6, 2), slow(), 6).then(() => order.push("save"));
    const writing = storage
      .write({ hardState: hard(2, "a", 10), entries: [entry(11, 2)] })
      .then(() => order.push("write"));
    await clock.runUntil(clock.now() + 200);
    expect(order).toEqual([]);
    expect(storage.inflightCount()).toBe(2);
    release();
    await clock.runUntil(clock.now() + 200);
    await Promise.all([saving, writing]);
    expect(order).toEqual(["save", "write"]);
  });

  it("a save whose stream fails leaves the queue: later writes are not held up", async () => {
    const { clock, storage } = setup(3);
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield bytes("x");
      throw new Error("state machine failed");
    }
    const saving = storage.saveSnapshot(meta(6, 2), failing(), 6);
    saving.catch(() => undefined);
    const writing = storage.write({ hardState: hard(2, "a", 9), entries: [] });
    await clock.runUntil(50);
    await expect(saving).rejects.toThrow("state machine failed");
    await expect(writing).resolves.toBeUndefined();
    expect(storage.inflightCount()).toBe(0);
    expect((await storage.load()).hardState.commit).toBe(9);
  });

  it("an install not yet synced is lost whole by a crash; a synced one survives", async () => {
    const { clock, storage } = setup(5, { minSyncMs: 3, maxSyncMs: 3 });
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    await clock.runUntil(10);
    const staging = await storage.stageSnapshot(meta(20, 4));
    await staging.append(bytes("x"));
    let done = false;
    void storage.installSnapshot(staging).then(() => {
      done = true;
    });
    await clock.runUntil(11);
    expect(done).toBe(false);
    expect(await storage.openSnapshot()).toBeUndefined();
    await clock.runUntil(20);
    expect(done).toBe(true);
    expect(storage.syncedSnapshots).toBe(1);
    storage.crash();
    expect(storage.durableState().snapshot?.index).toBe(20);
    expect(storage.durableState().entries).toEqual([]);
  });

  it("a crash deletes a staging: installing it afterwards is refused", async () => {
    const { storage } = setup(6);
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    const staging = await storage.stageSnapshot(meta(20, 4));
    await staging.append(bytes("partial"));
    storage.crash();
    await expect(storage.installSnapshot(staging)).rejects.toMatchObject({ code: "STORAGE_INVALID_WRITE" });
    await expect(storage.installSnapshot(staging)).rejects.toThrow(/deleted by a crash/);
  });

  it("failNextWrite fails a snapshot save too and applies nothing of it (rule 11)", async () => {
    const { clock, storage } = setup(9);
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    storage.failNextWrite(new Error("EIO"));
    const saved = storage.saveSnapshot(meta(6, 2), [bytes("six")], 6);
    saved.catch(() => undefined);
    await clock.runUntil(50);
    await expect(saved).rejects.toThrow("EIO");
    expect(await storage.openSnapshot()).toBeUndefined();
    expect(storage.durableState().entries).toHaveLength(10);
  });

  it("a restarted disk from an initial snapshot serves it", async () => {
    const { storage } = setup(1, {
      initial: { hardState: hard(3, "", 10), snapshot: meta(10, 3), entries: [] },
      initialSnapshotData: [bytes("te"), bytes("n")],
      snapshotBlockBytes: 2,
    });
    const reader = await storage.openSnapshot();
    expect(reader?.meta.index).toBe(10);
    expect(await text(reader as SnapshotReader)).toBe("ten");
    expect((await storage.load()).snapshot?.index).toBe(10);
    expect(() => setup(1, { initial: { hardState: hard(3, "", 10), snapshot: meta(10, 3), entries: [] } })).toThrow(
      /needs its data/,
    );
  });
});

describe("SimStorage torn snapshot files", () => {
  it("a torn save leaves a partial temp file: load discards it and the old snapshot and log stay", async () => {
    for (let s = 1; s <= 20; s++) {
      const { clock, storage } = setup(s);
      void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
      void storage.saveSnapshot(meta(4, 2), [bytes("four")], 2);
      await clock.runUntil(50);
      void storage.saveSnapshot(meta(8, 2), [bytes("eight"), bytes("!")], 8);
      await drainMicrotasks();
      expect(storage.crash({ tear: true })).toBe(0);
      expect(storage.lastCrash?.torn).toBe(true);
      const state = await storage.load();
      expect(state.snapshot?.index).toBe(4);
      expect(indexes(state.entries)).toEqual([5, 6, 7, 8, 9, 10]);
      expect(await text((await storage.openSnapshot()) as SnapshotReader)).toBe("four");
      expect(storage.recoveries).toHaveLength(1);
      expect(storage.recoveries[0]?.keptEntries).toBe(0);
      expect(storage.recoveries[0]?.discardedBytes).toBeGreaterThan(0);
    }
  });

  it("a torn install leaves the log as it was", async () => {
    const { clock, storage } = setup(4);
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    await clock.runUntil(50);
    const staging = await storage.stageSnapshot(meta(20, 4));
    await staging.append(bytes("leader state"));
    void storage.installSnapshot(staging);
    storage.crash({ tear: true });
    const state = await storage.load();
    expect(state.snapshot).toBeUndefined();
    expect(state.entries).toHaveLength(10);
    expect(storage.recoveries[0]?.discardedBytes).toBeGreaterThan(0);
  });
});

describe("SimStorage bit flips in snapshot files", () => {
  /** A disk with a snapshot of `data` at 6 (blocks of 3 bytes), entries 5..10 and a hard state. */
  async function withSnapshot(seed: number, data: string) {
    const { clock, storage } = setup(seed, { snapshotBlockBytes: 3 });
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    void storage.saveSnapshot(meta(6, 2), [bytes(data)], 4);
    await clock.runUntil(100);
    expect(storage.inflightCount()).toBe(0);
    return { clock, storage };
  }

  test.prop([fc.integer({ min: 1, max: 1_000_000 }), fc.string({ minLength: 1, maxLength: 40 })])(
    "any flipped bit is detected: load rejects, and a damaged snapshot is never read back as good data",
    async (seed, data) => {
      const { storage } = await withSnapshot(seed, data);
      const reader = (await storage.openSnapshot()) as SnapshotReader;
      const flip = storage.flipBit();
      expect(flip).toBeDefined();
      const loadError = await rejectionOf(storage.load());
      expect(loadError?.code).toBe("STORAGE_CORRUPTION");
      if (flip?.record === "snapshot-meta" || flip?.record === "snapshot-block") {
        expect(loadError?.record).toBe("snapshot");
        expect(loadError?.index).toBe(6);
        // A reader opened before the flip reads the same file: the damaged block fails its checksum.
        const readError = await rejectionOf(text(reader));
        if (flip.record === "snapshot-block") expect(readError?.code).toBe("STORAGE_CORRUPTION");
        else expect(await text(reader)).toBe(data); // the data blocks are whole
        if (flip.record === "snapshot-meta") {
          expect((await rejectionOf(storage.openSnapshot()))?.code).toBe("STORAGE_CORRUPTION");
        }
      } else {
        expect(loadError?.record).toBe(flip?.record);
        expect(await text(reader)).toBe(data);
      }
    },
  );

  it("a reader only fails on the damaged block: the other blocks still read", async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const { storage } = await withSnapshot(seed, "abcdefghi");
      const flip = storage.flipBit();
      if (flip?.record !== "snapshot-block") continue;
      const reader = (await storage.openSnapshot()) as SnapshotReader;
      const damaged = flip.block as number;
      for (let block = 0; block < 3; block++) {
        const read = reader.read(block * 3, 3);
        if (block === damaged) {
          await expect(read).rejects.toMatchObject({ code: "STORAGE_CORRUPTION", record: "snapshot" });
          await expect(reader.read(block * 3, 3)).rejects.toThrow(new RegExp(`block ${damaged}: checksum mismatch`));
        } else expect(decoder.decode(await read)).toBe("abcdefghi".slice(block * 3, block * 3 + 3));
      }
      return;
    }
    throw new Error("no seed flipped a snapshot block");
  });
});
