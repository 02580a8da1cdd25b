import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { Entry, HardState } from "../../src/core/types.js";
import { Prng } from "../../src/sim/prng.js";
import { SimStorage, type SimStorageOptions } from "../../src/sim/sim-storage.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import type { PersistedState, StorageWrite } from "../../src/storage/storage.js";
import type { StorageCorruptionError } from "../../src/storage/storage-errors.js";

/** `tag` makes entries written by different writes distinguishable when read back. */
function entry(index: number, term: number, tag = 0): Entry {
  return { index, term, type: "normal", data: new Uint8Array([index & 0xff, term & 0xff, tag & 0xff]) };
}

function entries(from: number, to: number, term: number, tag = 0): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push(entry(index, term, tag));
  return result;
}

function hard(term: number, vote: string, commit: number): HardState {
  return { term, vote, commit };
}

function setup(seed = 1, options: SimStorageOptions = {}) {
  const clock = new VirtualClock();
  const storage = new SimStorage(clock, Prng.fromSeed(seed).fork("disk"), options);
  return { clock, storage };
}

/** Tracks whether a promise settled, and how. */
function watch(promise: Promise<void>): { state: "pending" | "resolved" | "rejected"; error?: unknown } {
  const watched: { state: "pending" | "resolved" | "rejected"; error?: unknown } = { state: "pending" };
  promise.then(
    () => {
      watched.state = "resolved";
    },
    (error: unknown) => {
      watched.state = "rejected";
      watched.error = error;
    },
  );
  return watched;
}

const indexTerms = (list: readonly Entry[]): string[] => list.map((e) => `${e.index}@${e.term}`);

/** One generated write: maybe a new term, entries that may overwrite up to `back` uncommitted ones, a commit step. */
const step = fc.record({
  newTerm: fc.boolean(),
  back: fc.nat(4),
  count: fc.nat(3),
  commitStep: fc.nat(2),
  withHardState: fc.boolean(),
});

function buildWrites(steps: readonly (typeof step extends fc.Arbitrary<infer T> ? T : never)[]): StorageWrite[] {
  let term = 1;
  let vote = "n1";
  let commit = 0;
  let lastIndex = 0;
  const writes: StorageWrite[] = [{ hardState: hard(term, vote, commit), entries: [] }];
  for (const s of steps) {
    if (s.newTerm) {
      term++;
      vote = `n${term % 3}`;
    }
    const start = Math.max(commit + 1, lastIndex + 1 - s.back);
    const newEntries = s.count === 0 ? [] : entries(start, start + s.count - 1, term, writes.length);
    if (newEntries.length > 0) lastIndex = start + s.count - 1;
    commit = Math.min(lastIndex, commit + s.commitStep);
    const hardState = s.newTerm || s.commitStep > 0 || s.withHardState ? hard(term, vote, commit) : undefined;
    writes.push(hardState === undefined ? { entries: newEntries } : { hardState, entries: newEntries });
  }
  return writes;
}

describe("SimStorage durability", () => {
  it("is durable once the write resolves, after a latency within [minSyncMs, maxSyncMs]", async () => {
    const syncTimes = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const { clock, storage } = setup(seed, { minSyncMs: 2, maxSyncMs: 4 });
      const write = watch(storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 2, 1) }));
      expect(storage.inflightCount()).toBe(1);
      expect((await storage.load()).entries).toEqual([]);
      const resolved = await clock.runWhile(() => write.state === "pending", 100);
      expect(resolved).toBe(true);
      expect(write.state).toBe("resolved");
      syncTimes.add(clock.now());
      expect(storage.inflightCount()).toBe(0);
      expect(storage.syncedWrites).toBe(1);
      const state = await storage.load();
      expect(state.hardState).toEqual(hard(1, "n1", 0));
      expect(indexTerms(state.entries)).toEqual(["1@1", "2@1"]);
    }
    expect([...syncTimes].sort()).toEqual([2, 3, 4]);
  });

  it("makes writes durable in issue order even when a later write draws a shorter sync", async () => {
    const { clock, storage } = setup(3, { minSyncMs: 1, maxSyncMs: 20 });
    const order: number[] = [];
    const writes = [];
    for (let i = 1; i <= 20; i++) {
      writes.push(storage.write({ entries: [entry(i, 1)], hardState: hard(1, "", 0) }).then(() => order.push(i)));
    }
    await clock.runUntil(1000);
    await Promise.all(writes);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(storage.syncedWrites).toBe(20);
  });

  it("applies truncation: a write's entries replace the stored suffix from entries[0].index (rule 4)", async () => {
    const { clock, storage } = setup();
    void storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 5, 1) });
    void storage.write({ hardState: hard(2, "n2", 2), entries: entries(3, 3, 2) });
    await clock.runUntil(100);
    const state = storage.durableState();
    expect(indexTerms(state.entries)).toEqual(["1@1", "2@1", "3@2"]);
    expect(state.hardState).toEqual(hard(2, "n2", 2));
  });

  it("records when the last write was issued", async () => {
    const { clock, storage } = setup();
    expect(storage.lastWriteIssuedAt).toBe(-1);
    await clock.runUntil(17);
    void storage.write({ entries: [] });
    expect(storage.lastWriteIssuedAt).toBe(17);
  });

  it("load returns copies, not aliases of the durable arrays", async () => {
    const { clock, storage } = setup();
    void storage.write({ hardState: hard(1, "", 0), entries: entries(1, 3, 1) });
    await clock.runUntil(10);
    const loaded = await storage.load();
    (loaded.entries as Entry[]).length = 0;
    expect(storage.durableState().entries).toHaveLength(3);
  });

  it("starts from an initial state", async () => {
    const { storage } = setup(1, { initial: { hardState: hard(4, "n2", 1), entries: [entry(1, 4)] } });
    expect((await storage.load()).hardState).toEqual(hard(4, "n2", 1));
  });
});

describe("SimStorage crash", () => {
  it("loses writes that were not durable; their promises never settle", async () => {
    const { clock, storage } = setup(1, { minSyncMs: 5, maxSyncMs: 5 });
    const first = watch(storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 1, 1) }));
    await clock.runUntil(5);
    expect(first.state).toBe("resolved");
    const lost = [
      watch(storage.write({ entries: entries(2, 2, 1) })),
      watch(storage.write({ entries: entries(3, 3, 1) })),
    ];
    await clock.runUntil(7);
    const kept = storage.crash();
    expect(storage.inflightCount()).toBe(0);
    expect(clock.pendingCount()).toBe(0);
    await clock.runUntil(100);
    expect(lost.map((w) => w.state)).toEqual(["pending", "pending"]);
    expect(storage.durableState().entries).toHaveLength(1 + kept);
    expect(storage.syncedWrites).toBe(1);
  });

  it("keeps a random prefix: none, some or all in-flight writes, chosen by seed", async () => {
    const keptCounts = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const { storage } = setup(seed);
      for (let i = 1; i <= 3; i++) void storage.write({ hardState: hard(1, "", 0), entries: [entry(i, 1)] });
      const kept = storage.crash();
      keptCounts.add(kept);
      expect(indexTerms(storage.durableState().entries)).toEqual(indexTerms(entries(1, kept, 1)));
    }
    expect([...keptCounts].sort()).toEqual([0, 1, 2, 3]);
  });

  it("works again after a crash, as the restarted node's disk", async () => {
    const { clock, storage } = setup(2);
    void storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 2, 1) });
    storage.crash();
    const recovered = await storage.load();
    const next = watch(
      storage.write({ hardState: hard(2, "n2", 0), entries: [entry(recovered.entries.length + 1, 2)] }),
    );
    await clock.runUntil(clock.now() + 10);
    expect(next.state).toBe("resolved");
    expect(storage.durableState().hardState.term).toBe(2);
  });

  // Any sequence of valid writes, interrupted by a crash at any time, leaves exactly the state of
  // some prefix of them (never a subset with holes), and never loses an acknowledged write.
  test.prop([fc.array(step, { maxLength: 12 }), fc.nat(40), fc.integer({ min: 1, max: 1_000_000 })])(
    "a crash leaves the state of a prefix of the writes, including every acknowledged one",
    async (steps, crashAtMs, seed) => {
      const writes = buildWrites(steps);
      const { clock, storage } = setup(seed);
      const watched = writes.map((w) => watch(storage.write(w)));
      await clock.runUntil(crashAtMs);
      const acknowledged = watched.filter((w) => w.state === "resolved").length;
      expect(watched.every((w) => w.state !== "rejected")).toBe(true);
      const kept = storage.crash();
      const durable = storage.durableState();

      const model = new MemoryStorage();
      const prefixStates = [model.loadSync()];
      for (const write of writes) {
        model.writeSync(write);
        prefixStates.push(model.loadSync());
      }
      const key = (state: PersistedState): string =>
        `${state.hardState.term}/${state.hardState.vote}/${state.hardState.commit}|${state.entries.map((e) => `${e.index}@${e.term}#${e.data[2]}`).join(",")}`;
      const matches = prefixStates.flatMap((state, length) => (key(state) === key(durable) ? [length] : []));
      expect(matches.length).toBeGreaterThan(0);
      // Equal states are indistinguishable, so some prefix with this state must cover every acknowledged write.
      const lastMatching = Math.max(...matches);
      expect(lastMatching).toBeGreaterThanOrEqual(acknowledged);
      // Exactly: the acknowledged writes plus the `kept` oldest in-flight ones, in issue order.
      expect(key(durable)).toBe(key(prefixStates[acknowledged + kept] as PersistedState));
    },
  );
});

describe("SimStorage faults and bad input", () => {
  it("failNextWrite rejects that write only, applies nothing of it (rule 11)", async () => {
    const { clock, storage } = setup();
    storage.failNextWrite(new Error("EIO: fsync failed"));
    const failed = watch(storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 1, 1) }));
    await clock.runUntil(10);
    expect(failed.state).toBe("rejected");
    expect(String(failed.error)).toMatch(/EIO/);
    expect(storage.durableState().entries).toEqual([]);
    expect(storage.syncedWrites).toBe(0);

    const next = watch(storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 1, 1) }));
    await clock.runUntil(20);
    expect(next.state).toBe("resolved");
    expect(storage.durableState().entries).toHaveLength(1);
  });

  it("rejects an invalid write at its sync time and keeps the durable state", async () => {
    const { clock, storage } = setup();
    const gap = watch(storage.write({ entries: entries(3, 3, 1) }));
    await clock.runUntil(10);
    expect(gap.state).toBe("rejected");
    expect(String(gap.error)).toMatch(/invalid storage write/);
    expect(storage.durableState().entries).toEqual([]);
  });

  it("rejects impossible options", () => {
    const clock = new VirtualClock();
    expect(() => new SimStorage(clock, Prng.fromSeed(1), { minSyncMs: 3, maxSyncMs: 2 })).toThrow(RangeError);
    expect(() => new SimStorage(clock, Prng.fromSeed(1), { minSyncMs: -1 })).toThrow(RangeError);
  });

  it("closes without losing anything", async () => {
    const { clock, storage } = setup();
    void storage.write({ hardState: hard(1, "", 0), entries: entries(1, 1, 1) });
    await clock.runUntil(10);
    await storage.close();
    expect((await storage.load()).entries).toHaveLength(1);
  });
});

describe("SimStorage torn writes (a crash leaves the first lost operation half-written)", () => {
  /** A durable log 1..3 at term 1, commit 2. */
  async function seeded(seed: number) {
    const { clock, storage } = setup(seed);
    void storage.write({ hardState: hard(1, "n1", 2), entries: entries(1, 3, 1) });
    await clock.runUntil(10);
    expect(storage.syncedWrites).toBe(1);
    return { clock, storage };
  }

  it("tears an append between or inside entry frames: load keeps whole entries, discards the torn one, never all", async () => {
    const keptCounts = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const { storage } = await seeded(seed);
      const append = watch(storage.write({ entries: entries(4, 8, 1, 7) }));
      expect(storage.crash({ tear: true })).toBe(0);
      expect(storage.lastCrash).toEqual({ kept: 0, torn: true, lost: 1 });
      expect(storage.tornWrites).toBe(1);
      const state = await storage.load();
      const kept = state.entries.length - 3;
      keptCounts.add(kept);
      // A prefix of the torn append continues the log; its last entry never survives whole.
      expect(indexTerms(state.entries)).toEqual(indexTerms([...entries(1, 3, 1), ...entries(4, 3 + kept, 1)]));
      expect(state.entries.slice(3).every((e) => e.data[2] === 7)).toBe(true);
      expect(kept).toBeLessThan(5);
      expect(state.hardState).toEqual(hard(1, "n1", 2));
      expect(storage.recoveries).toHaveLength(1);
      expect(storage.recoveries[0]?.keptEntries).toBe(kept);
      // It was never acknowledged.
      expect(append.state).toBe("pending");
    }
    expect(keptCounts.has(0)).toBe(true);
    expect([...keptCounts].some((kept) => kept > 0)).toBe(true);
  });

  it("tears an atomic batch (hard state, truncation) inside its one frame: load discards it whole", async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const { storage } = await seeded(seed);
      // Truncates 3 and appends 3..4 at term 2, with a new term and vote: one atomic batch.
      void storage.write({ hardState: hard(2, "n2", 2), entries: entries(3, 4, 2) });
      storage.crash({ tear: true });
      expect(storage.lastCrash?.torn).toBe(true);
      const state = await storage.load();
      expect(state.hardState).toEqual(hard(1, "n1", 2));
      expect(indexTerms(state.entries)).toEqual(["1@1", "2@1", "3@1"]);
      expect(storage.recoveries[0]?.keptEntries).toBe(0);
      expect(storage.recoveries[0]?.discardedBytes).toBeGreaterThan(0);
    }
  });

  it("keeps a prefix of the in-flight operations whole and tears the next one; later ones never reach the disk", async () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const { storage } = await seeded(seed);
      void storage.write({ hardState: hard(1, "n1", 3), entries: [] });
      void storage.write({ entries: entries(4, 5, 1) });
      void storage.write({ entries: entries(6, 7, 1) });
      const kept = storage.crash({ tear: true });
      expect(kept).toBeLessThan(3);
      const state = await storage.load();
      const last = state.entries.at(-1)?.index ?? 0;
      if (kept === 0) {
        expect(state.hardState.commit).toBe(2);
        expect(last).toBe(3);
      } else {
        expect(state.hardState.commit).toBe(3);
        const wholeLast = kept === 1 ? 3 : 5;
        // Only the torn operation (the next one) may have left whole frames behind.
        expect(last).toBeGreaterThanOrEqual(wholeLast);
        expect(last).toBeLessThan(wholeLast + 2);
      }
      outcomes.add(String(kept));
    }
    expect([...outcomes].sort()).toEqual(["0", "1", "2"]);
  });

  it("recovers a torn tail before the next write lands even without a load", async () => {
    const { clock, storage } = await seeded(3);
    void storage.write({ entries: entries(4, 6, 1) });
    storage.crash({ tear: true });
    const next = watch(storage.write({ hardState: hard(2, "n3", 2), entries: entries(3, 3, 2) }));
    await clock.runUntil(clock.now() + 10);
    expect(next.state).toBe("resolved");
    const state = await storage.load();
    expect(indexTerms(state.entries)).toEqual(["1@1", "2@1", "3@2"]);
    expect(storage.recoveries).toHaveLength(0);
  });

  it("a crash without tear, or with nothing in flight, tears nothing", async () => {
    const { storage } = await seeded(4);
    storage.crash({ tear: true });
    expect(storage.lastCrash).toEqual({ kept: 0, torn: false, lost: 0 });
    void storage.write({ entries: entries(4, 4, 1) });
    storage.crash();
    expect(storage.lastCrash?.torn).toBe(false);
    await storage.load();
    expect(storage.recoveries).toEqual([]);
    expect(storage.tornWrites).toBe(0);
  });

  // Whatever the writes and whenever the crash: the disk holds the acknowledged writes, the kept
  // in-flight ones, and at most a prefix of the torn one's entries when it was a plain append.
  test.prop([fc.array(step, { maxLength: 12 }), fc.nat(40), fc.integer({ min: 1, max: 1_000_000 })])(
    "a torn crash never loses an acknowledged write and never keeps part of an atomic batch",
    async (steps, crashAtMs, seed) => {
      const writes = buildWrites(steps);
      const { clock, storage } = setup(seed);
      const watched = writes.map((w) => watch(storage.write(w)));
      await clock.runUntil(crashAtMs);
      const acknowledged = watched.filter((w) => w.state === "resolved").length;
      const kept = storage.crash({ tear: true });
      const loaded = await storage.load();

      const model = new MemoryStorage();
      for (const write of writes.slice(0, acknowledged + kept)) model.writeSync(write);
      const base = model.loadSync();
      const torn = writes[acknowledged + kept];
      expect(loaded.hardState).toEqual(base.hardState);
      const extra = loaded.entries.length - base.entries.length;
      expect(extra).toBeGreaterThanOrEqual(0);
      const appendOnly =
        torn !== undefined && torn.hardState === undefined && torn.entries[0]?.index === base.entries.length + 1;
      if (!appendOnly) expect(extra).toBe(0);
      else expect(extra).toBeLessThan(torn.entries.length);
      const expected = [...base.entries, ...(torn?.entries.slice(0, extra) ?? [])];
      expect(loaded.entries.map((e) => `${e.index}@${e.term}#${e.data[2]}`)).toEqual(
        expected.map((e) => `${e.index}@${e.term}#${e.data[2]}`),
      );
    },
  );
});

describe("SimStorage bit flips (always detected by load)", () => {
  /** Writes `writes` and lets them all become durable. */
  async function durable(seed: number, writes: readonly StorageWrite[]) {
    const { clock, storage } = setup(seed);
    for (const write of writes) void storage.write(write);
    await clock.runUntil(clock.now() + 200);
    expect(storage.inflightCount()).toBe(0);
    return { clock, storage };
  }

  test.prop([fc.array(step, { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 1_000_000 })])(
    "a flipped bit anywhere in a stored record makes load reject with StorageCorruptionError",
    async (steps, seed) => {
      const { storage } = await durable(seed, buildWrites(steps));
      const before = storage.durableState();
      const flip = storage.flipBit();
      expect(flip).toBeDefined();
      const error = (await storage.load().then(
        () => undefined,
        (e: unknown) => e,
      )) as StorageCorruptionError | undefined;
      expect(error?.code).toBe("STORAGE_CORRUPTION");
      expect(error?.record).toBe(flip?.record === "entry" ? "entry" : "hard-state");
      if (flip?.record === "entry") expect(error?.index).toBe(flip.index);
      expect(error?.message).toMatch(/checksum mismatch|too short|version/);
      // Detection changes nothing: the disk still holds the same (damaged) data.
      await expect(storage.load()).rejects.toThrow(/storage corruption/);
      expect(storage.durableState()).toEqual(before);
    },
  );

  it("a flip in the last entry is corruption, never mistaken for a torn tail", async () => {
    let lastEntryFlips = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const { storage } = await durable(seed, [{ hardState: hard(1, "n1", 1), entries: entries(1, 2, 1) }]);
      const flip = storage.flipBit();
      if (flip?.record !== "entry" || flip.index !== 2) continue;
      lastEntryFlips++;
      await expect(storage.load()).rejects.toMatchObject({ code: "STORAGE_CORRUPTION", index: 2 });
    }
    expect(lastEntryFlips).toBeGreaterThan(0);
  });

  it("flips nothing on an empty disk; a record rewritten after the flip is whole again", async () => {
    const { clock, storage } = setup(5);
    expect(storage.flipBit()).toBeUndefined();
    void storage.write({ hardState: hard(1, "n1", 0), entries: [] });
    await clock.runUntil(10);
    expect(storage.flipBit()?.record).toBe("hard-state");
    await expect(storage.load()).rejects.toMatchObject({ code: "STORAGE_CORRUPTION", record: "hard-state" });
    void storage.write({ hardState: hard(2, "n2", 0), entries: [] });
    await clock.runUntil(20);
    expect((await storage.load()).hardState).toEqual(hard(2, "n2", 0));
    expect(storage.flips).toHaveLength(1);
  });
});
