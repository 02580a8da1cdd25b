import { describe, expect, it } from "vitest";
import type { Entry, HardState, SnapshotMeta } from "../../src/core/types.js";
import { Prng } from "../../src/sim/prng.js";
import { SimStorage } from "../../src/sim/sim-storage.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import {
  type SnapshotStorage,
  snapshotByteLength,
  snapshotChecksum,
  snapshotMetaProblem,
  supportsSnapshots,
} from "../../src/storage/snapshot.js";
import type { Storage } from "../../src/storage/storage.js";

const encoder = new TextEncoder();

function entry(index: number, term: number): Entry {
  return { index, term, type: "normal", data: encoder.encode(`${index}@${term}`) };
}

function entries(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
}

function hard(term: number, vote: string, commit: number): HardState {
  return { term, vote, commit };
}

function meta(index: number, term: number, voters: readonly string[] = ["a", "b", "c"]): SnapshotMeta {
  return { index, term, config: { voters, outgoing: [], learners: [] } };
}

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

const indexes = (list: readonly Entry[]): number[] => list.map((e) => e.index);

/** One implementation under test, with a way to let its promises settle. */
interface Harness {
  readonly storage: SnapshotStorage;
  settle<T>(promise: Promise<T>): Promise<T>;
}

function memoryHarness(): Harness {
  return { storage: new MemoryStorage(), settle: (promise) => promise };
}

let seed = 0;
function simHarness(): Harness {
  const clock = new VirtualClock();
  const storage = new SimStorage(clock, Prng.fromSeed(++seed).fork("disk"));
  return {
    storage,
    async settle<T>(promise: Promise<T>): Promise<T> {
      let settled = false;
      const observed = promise.finally(() => {
        settled = true;
      });
      observed.catch(() => undefined);
      await clock.runWhile(() => !settled, clock.now() + 10_000);
      return observed;
    },
  };
}

async function rejection(h: Harness, promise: Promise<unknown>): Promise<Error> {
  try {
    await h.settle(promise);
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

/** A log 1..10 at term 2, committed to 8. */
async function seeded(h: Harness): Promise<Harness> {
  await h.settle(h.storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) }));
  return h;
}

for (const [name, make] of [
  ["MemoryStorage", memoryHarness],
  ["SimStorage", simHarness],
] as const) {
  describe(`${name} snapshots`, () => {
    it("implements every snapshot method", () => {
      expect(supportsSnapshots(make().storage)).toBe(true);
    });

    it("has no snapshot until one is saved", async () => {
      const h = await seeded(make());
      expect(await h.storage.loadSnapshot()).toBeUndefined();
      expect((await h.storage.load()).snapshot).toBeUndefined();
    });

    it("saveSnapshot stores meta and data, drops entries up to compactTo, and load returns the entries after the snapshot", async () => {
      const h = await seeded(make());
      await h.settle(h.storage.saveSnapshot(meta(6, 2), [bytes("state"), bytes("@6")], 3));
      const loaded = await h.storage.loadSnapshot();
      expect(loaded?.meta).toEqual(meta(6, 2));
      expect(loaded?.data.map((d) => new TextDecoder().decode(d))).toEqual(["state", "@6"]);
      const state = await h.storage.load();
      expect(state.snapshot).toEqual(meta(6, 2));
      expect(indexes(state.entries)).toEqual([7, 8, 9, 10]);
      expect(state.hardState).toEqual(hard(2, "a", 8));
    });

    it("keeps writing after a compaction, and refuses to rewrite entries the snapshot covers", async () => {
      const h = await seeded(make());
      await h.settle(h.storage.saveSnapshot(meta(6, 2), [bytes("s")], 6));
      await h.settle(h.storage.write({ hardState: hard(3, "b", 9), entries: [entry(10, 3), entry(11, 3)] }));
      expect(indexes((await h.storage.load()).entries)).toEqual([7, 8, 9, 10, 11]);
      const error = await rejection(h, h.storage.write({ entries: [entry(6, 3)] }));
      expect(error.message).toMatch(/before the first stored index 7/);
    });

    it("keeps the configuration's member addresses", async () => {
      const h = await seeded(make());
      const withAddresses: SnapshotMeta = {
        ...meta(6, 2),
        config: { voters: ["a", "b"], outgoing: [], learners: ["c"], addresses: { a: "h1:1", b: "h2:2", c: "h3:3" } },
      };
      await h.settle(h.storage.saveSnapshot(withAddresses, [bytes("s")], 6));
      expect((await h.storage.loadSnapshot())?.meta).toEqual(withAddresses);
      expect((await h.storage.load()).snapshot).toEqual(withAddresses);
    });

    it("copies the data: reusing the caller's buffers does not change the stored snapshot", async () => {
      const h = await seeded(make());
      const buffer = bytes("abc");
      const saved = h.storage.saveSnapshot(meta(5, 2), [buffer], 5);
      buffer[0] = 0x7a;
      await h.settle(saved);
      const loaded = await h.storage.loadSnapshot();
      expect(new TextDecoder().decode(loaded?.data[0])).toBe("abc");
    });

    it.each([
      ["an index the log does not hold with that term", () => meta(6, 1), 6, /holds term 2 at the snapshot index 6/],
      ["an index past the stored commit", () => meta(9, 2), 9, /past the stored commit index 8/],
      ["compactTo past the snapshot index", () => meta(6, 2), 7, /compactTo must be an integer in \[0, 6\]/],
      ["a configuration without voters", () => meta(6, 2, []), 6, /voters must not be empty/],
      ["a zero index", () => meta(0, 2), 0, /index must be a positive integer/],
    ])("refuses a save of %s and changes nothing", async (_name, makeMeta, compactTo, message) => {
      const h = await seeded(make());
      const error = await rejection(h, h.storage.saveSnapshot(makeMeta(), [bytes("x")], compactTo));
      expect(error.message).toMatch(message);
      expect(await h.storage.loadSnapshot()).toBeUndefined();
      expect(indexes((await h.storage.load()).entries)).toEqual(entries(1, 10, 2).map((e) => e.index));
    });

    it("refuses a save that is not newer than the stored snapshot", async () => {
      const h = await seeded(make());
      await h.settle(h.storage.saveSnapshot(meta(6, 2), [bytes("six")], 4));
      const error = await rejection(h, h.storage.saveSnapshot(meta(5, 2), [bytes("five")], 4));
      expect(error.message).toMatch(/not newer than the stored snapshot's 6/);
      expect((await h.storage.loadSnapshot())?.meta.index).toBe(6);
    });

    it("installSnapshot discards every entry and keeps the hard state; the log restarts after it", async () => {
      const h = await seeded(make());
      await h.settle(h.storage.installSnapshot(meta(20, 4), [bytes("leader state")]));
      let state = await h.storage.load();
      expect(state.snapshot).toEqual(meta(20, 4));
      expect(state.entries).toEqual([]);
      expect(state.hardState).toEqual(hard(2, "a", 8));
      // The Ready's write that follows the install: a newer term, commit at the snapshot, entries after it.
      await h.settle(h.storage.write({ hardState: hard(4, "", 20), entries: [entry(21, 4)] }));
      state = await h.storage.load();
      expect(indexes(state.entries)).toEqual([21]);
      expect(state.hardState).toEqual(hard(4, "", 20));
      const gap = await rejection(h, h.storage.write({ entries: [entry(23, 4)] }));
      expect(gap.message).toMatch(/at most at 22/);
    });

    it("an install replaces a log that reached past the snapshot index (rule 9)", async () => {
      const h = await seeded(make());
      await h.settle(h.storage.installSnapshot(meta(9, 3), [bytes("s")]));
      const state = await h.storage.load();
      expect(state.entries).toEqual([]);
      expect(state.snapshot?.index).toBe(9);
    });

    it("refuses to install a snapshot at or below the stored commit index (rule 9)", async () => {
      const h = await seeded(make());
      const error = await rejection(h, h.storage.installSnapshot(meta(8, 2), [bytes("s")]));
      expect(error.message).toMatch(/not past the stored commit index 8/);
      expect(indexes((await h.storage.load()).entries)).toHaveLength(10);
    });
  });
}

describe("MemoryStorage initial state with a snapshot", () => {
  it("starts from a snapshot and the entries after it", async () => {
    const storage = new MemoryStorage(
      { hardState: hard(3, "", 12), snapshot: meta(10, 2), entries: [entry(11, 3), entry(12, 3)] },
      [bytes("ten")],
    );
    const state = await storage.load();
    expect(state.snapshot).toEqual(meta(10, 2));
    expect(indexes(state.entries)).toEqual([11, 12]);
    expect((await storage.loadSnapshot())?.data).toEqual([bytes("ten")]);
    await storage.write({ entries: [entry(13, 3)] });
    expect(storage.lastIndex).toBe(13);
  });

  it("starts from a snapshot with no entries after it, checking term order against the snapshot term", async () => {
    const storage = new MemoryStorage({ hardState: hard(3, "", 10), snapshot: meta(10, 3), entries: [] }, []);
    expect(storage.lastIndex).toBe(10);
    await expect(storage.write({ entries: [entry(11, 2)] })).rejects.toThrow(/below the previous entry's term 3/);
    await storage.write({ entries: [entry(11, 3)] });
    expect(indexes((await storage.load()).entries)).toEqual([11]);
  });

  it("refuses entries that do not follow the snapshot, and a snapshot without data", () => {
    expect(
      () => new MemoryStorage({ hardState: hard(3, "", 0), snapshot: meta(10, 2), entries: [entry(12, 3)] }, []),
    ).toThrow(/must follow the snapshot at 10, but start at 12/);
    expect(() => new MemoryStorage({ hardState: hard(3, "", 0), snapshot: meta(10, 2), entries: [] })).toThrow(
      /a snapshot needs its data/,
    );
  });
});

describe("SimStorage snapshots under crashes", () => {
  it("a save is one atomic operation in the write queue: a crash keeps a prefix, never a later write without it", async () => {
    const outcomes = new Set<string>();
    for (let s = 1; s <= 80; s++) {
      const clock = new VirtualClock();
      const storage = new SimStorage(clock, Prng.fromSeed(s).fork("disk"));
      void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
      void storage.saveSnapshot(meta(6, 2), [bytes("six")], 4);
      void storage.write({ hardState: hard(2, "a", 10), entries: [entry(11, 2)] });
      const kept = storage.crash();
      const state = storage.durableState();
      const snapshot = await storage.loadSnapshot();
      // Whatever survived is exactly the first `kept` operations, each whole.
      if (kept === 0) {
        expect(state.entries).toEqual([]);
        expect(snapshot).toBeUndefined();
      } else if (kept === 1) {
        expect(indexes(state.entries)).toHaveLength(10);
        expect(snapshot).toBeUndefined();
      } else {
        expect(snapshot?.meta.index).toBe(6);
        expect(state.snapshot?.index).toBe(6);
        expect(indexes(state.entries)).toEqual(kept === 2 ? [7, 8, 9, 10] : [7, 8, 9, 10, 11]);
      }
      outcomes.add(String(kept));
    }
    expect([...outcomes].sort()).toEqual(["0", "1", "2", "3"]);
  });

  it("an install not yet synced is lost whole by a crash; a synced one survives", async () => {
    const clock = new VirtualClock();
    const storage = new SimStorage(clock, Prng.fromSeed(5).fork("disk"), { minSyncMs: 3, maxSyncMs: 3 });
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    await clock.runUntil(10);
    const install = storage.installSnapshot(meta(20, 4), [bytes("x")]);
    let done = false;
    void install.then(() => {
      done = true;
    });
    await clock.runUntil(11);
    expect(done).toBe(false);
    expect(await storage.loadSnapshot()).toBeUndefined();
    await clock.runUntil(20);
    expect(done).toBe(true);
    expect(storage.syncedSnapshots).toBe(1);
    storage.crash();
    expect(storage.durableState().snapshot?.index).toBe(20);
    expect(storage.durableState().entries).toEqual([]);
  });

  it("failNextWrite fails a snapshot save too and applies nothing of it (rule 11)", async () => {
    const clock = new VirtualClock();
    const storage = new SimStorage(clock, Prng.fromSeed(9).fork("disk"));
    void storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    storage.failNextWrite(new Error("EIO"));
    const saved = storage.saveSnapshot(meta(6, 2), [bytes("six")], 6);
    saved.catch(() => undefined);
    await clock.runUntil(50);
    await expect(saved).rejects.toThrow("EIO");
    expect(await storage.loadSnapshot()).toBeUndefined();
    expect(storage.durableState().entries).toHaveLength(10);
  });

  it("a restarted disk from an initial snapshot serves it", async () => {
    const clock = new VirtualClock();
    const storage = new SimStorage(clock, Prng.fromSeed(1).fork("disk"), {
      initial: { hardState: hard(3, "", 10), snapshot: meta(10, 3), entries: [] },
      initialSnapshotData: [bytes("ten")],
    });
    expect((await storage.loadSnapshot())?.meta.index).toBe(10);
    expect((await storage.load()).snapshot?.index).toBe(10);
  });
});

describe("snapshot helpers", () => {
  it("checksums the data as one buffer, whatever the chunk boundaries", () => {
    const whole = snapshotChecksum([bytes("123456789")]);
    expect(whole).toBe(0xe3069283);
    expect(snapshotChecksum([bytes("1234"), bytes(""), bytes("56789")])).toBe(whole);
    expect(snapshotByteLength([bytes("1234"), bytes("56789")])).toBe(9);
  });

  it("names what is wrong with a snapshot meta", () => {
    expect(snapshotMetaProblem(meta(3, 1))).toBeUndefined();
    expect(snapshotMetaProblem({ ...meta(3, 1), term: 0 })).toMatch(/term must be a positive integer/);
    expect(snapshotMetaProblem({ index: 3, term: 1, config: { voters: ["a"], outgoing: [""], learners: [] } })).toMatch(
      /config.outgoing/,
    );
  });

  it("a storage without the methods supports no snapshots", () => {
    const bare: Storage = {
      load: async () => ({ hardState: hard(0, "", 0), entries: [] }),
      write: async () => undefined,
      close: async () => undefined,
    };
    expect(supportsSnapshots(bare)).toBe(false);
  });
});
