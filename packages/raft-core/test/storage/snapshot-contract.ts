import { describe, expect, it } from "vitest";
import type { Entry, HardState, SnapshotMeta } from "../../src/core/types.js";
import {
  readWholeSnapshot,
  type SnapshotStorage,
  snapshotChecksum,
  supportsSnapshots,
} from "../../src/storage/snapshot.js";
import type { SnapshotReader, SnapshotStaging } from "../../src/storage/storage.js";

/**
 * One snapshot-capable storage under test, as the snapshot contract sees it. Each factory call
 * gives a fresh, empty store.
 *
 * - `settle(promise)`: waits until `promise` settles, doing whatever makes the store progress
 *   meanwhile (a simulated disk runs its virtual clock; real storages return the promise), and
 *   returns its outcome. Every storage call of the contract goes through it.
 * - `reopen()`: closes the store and opens it again on the same durable data (a restart); the
 *   old harness is not used afterwards.
 * - `cleanup()`: releases everything (handles, temp folders); called once at the end of a test,
 *   on the last harness.
 */
export interface SnapshotStorageHarness {
  readonly storage: SnapshotStorage;
  settle<T>(promise: Promise<T>): Promise<T>;
  reopen(): Promise<SnapshotStorageHarness>;
  cleanup(): Promise<void>;
}

export type SnapshotStorageFactory = () => Promise<SnapshotStorageHarness>;

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

function meta(index: number, term: number, voters: readonly string[] = ["a", "b", "c"]): SnapshotMeta {
  return { index, term, config: { voters, outgoing: [], learners: [] } };
}

const bytes = (text: string): Uint8Array => encoder.encode(text);
const indexes = (list: readonly Entry[]): number[] => list.map((e) => e.index);

/** Every byte of `chunks` as one string. */
function text(chunks: readonly Uint8Array[]): string {
  return chunks.map((chunk) => decoder.decode(chunk)).join("");
}

/** The rejection of `promise`, failing the test when it resolves. */
async function rejection(h: SnapshotStorageHarness, promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await h.settle(promise);
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

/** A log 1..10 at term 2, committed to 8. */
async function seed(h: SnapshotStorageHarness): Promise<void> {
  await h.settle(h.storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) }));
}

/** The stored snapshot's meta and data as a string, or undefined; the reader is closed again. */
async function storedSnapshot(h: SnapshotStorageHarness): Promise<{ meta: SnapshotMeta; data: string } | undefined> {
  const reader = await h.settle(h.storage.openSnapshot());
  if (reader === undefined) return undefined;
  try {
    return { meta: reader.meta, data: text(await h.settle(readWholeSnapshot(reader))) };
  } finally {
    await h.settle(reader.close());
  }
}

/** Stages `chunks` for `snapshotMeta`, appending one at a time. */
async function staged(
  h: SnapshotStorageHarness,
  snapshotMeta: SnapshotMeta,
  chunks: readonly string[],
): Promise<SnapshotStaging> {
  const staging = await h.settle(h.storage.stageSnapshot(snapshotMeta));
  for (const chunk of chunks) await h.settle(staging.append(bytes(chunk)));
  return staging;
}

/** An async stream of `chunks` that hands out ONE buffer, refilled for every chunk. */
async function* reusingOneBuffer(chunks: readonly string[]): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(64);
  for (const chunk of chunks) {
    const encoded = bytes(chunk);
    buffer.set(encoded);
    yield buffer.subarray(0, encoded.length);
    buffer.fill(0x7a);
  }
}

/**
 * The behaviour every storage with snapshots must show (the snapshot half of the Storage seam):
 * streamed saves that compact the log, staged installs that replace it (rule 9), pinned random-
 * access readers, refusals that change nothing, and snapshots that survive a restart.
 */
export function runSnapshotStorageContract(name: string, factory: SnapshotStorageFactory): void {
  describe(`Snapshot storage contract: ${name}`, () => {
    async function withHarness(body: (h: SnapshotStorageHarness) => Promise<SnapshotStorageHarness | undefined>) {
      let h = await factory();
      try {
        h = (await body(h)) ?? h;
      } finally {
        await h.cleanup();
      }
    }

    it("implements every snapshot method and has no snapshot until one is saved", () =>
      withHarness(async (h) => {
        expect(supportsSnapshots(h.storage)).toBe(true);
        await seed(h);
        expect(await h.settle(h.storage.openSnapshot())).toBeUndefined();
        expect((await h.settle(h.storage.load())).snapshot).toBeUndefined();
      }));

    it("saveSnapshot stores meta and data, drops entries up to compactTo; load returns the entries after the snapshot", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.saveSnapshot(meta(6, 2), [bytes("state"), bytes("@6")], 3));
        const reader = await h.settle(h.storage.openSnapshot());
        expect(reader?.meta).toEqual(meta(6, 2));
        expect(reader?.bytes).toBe(7);
        expect(reader?.checksum).toBe(snapshotChecksum([bytes("state@6")]));
        await h.settle((reader as SnapshotReader).close());
        expect((await storedSnapshot(h))?.data).toBe("state@6");
        const state = await h.settle(h.storage.load());
        expect(state.snapshot).toEqual(meta(6, 2));
        expect(indexes(state.entries)).toEqual([7, 8, 9, 10]);
        expect(state.hardState).toEqual(hard(2, "a", 8));
      }));

    it("a reader reads at any offset: shorter only at the end, empty at or past it", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.saveSnapshot(meta(6, 2), [bytes("abc"), bytes(""), bytes("defg"), bytes("hij")], 6));
        const reader = (await h.settle(h.storage.openSnapshot())) as SnapshotReader;
        const read = async (offset: number, max: number) => decoder.decode(await h.settle(reader.read(offset, max)));
        expect(await read(0, 2)).toBe("ab");
        expect(await read(2, 4)).toBe("cdef"); // across chunk boundaries
        expect(await read(7, 100)).toBe("hij");
        expect(await read(10, 5)).toBe("");
        expect(await read(25, 5)).toBe("");
        expect(await read(3, 0)).toBe("");
        await h.settle(reader.close());
      }));

    it("streams a save from an async producer that reuses one buffer, and stores an empty snapshot", () =>
      withHarness(async (h) => {
        await seed(h);
        const chunks = ["first ", "", "second chunk ", "x", "last"];
        await h.settle(h.storage.saveSnapshot(meta(5, 2), reusingOneBuffer(chunks), 2));
        expect(await storedSnapshot(h)).toEqual({ meta: meta(5, 2), data: chunks.join("") });
        await h.settle(h.storage.saveSnapshot(meta(7, 2), [], 4));
        const reader = (await h.settle(h.storage.openSnapshot())) as SnapshotReader;
        expect([reader.meta.index, reader.bytes, reader.checksum]).toEqual([7, 0, 0]);
        expect(await h.settle(reader.read(0, 10))).toHaveLength(0);
        await h.settle(reader.close());
        expect(indexes((await h.settle(h.storage.load())).entries)).toEqual([8, 9, 10]);
      }));

    it("keeps writing after a compaction, and refuses to rewrite entries the snapshot covers", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.saveSnapshot(meta(6, 2), [bytes("s")], 6));
        await h.settle(h.storage.write({ hardState: hard(3, "b", 9), entries: [entry(10, 3), entry(11, 3)] }));
        expect(indexes((await h.settle(h.storage.load())).entries)).toEqual([7, 8, 9, 10, 11]);
        const error = await rejection(h, h.storage.write({ entries: [entry(6, 3)] }));
        expect(error.message).toMatch(/before the first stored index 7/);
      }));

    // Whether such a write becomes durable before the save (LevelStorage) or after it (strict issue
    // order, SimStorage) is the storage's choice: both leave a valid log; the outcome is the same.
    it("a write issued while a save's data streams in lands, and the save compacts the log around it", () =>
      withHarness(async (h) => {
        await seed(h);
        let release: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        async function* slow(): AsyncGenerator<Uint8Array> {
          yield bytes("before ");
          await gate;
          yield bytes("after");
        }
        const saving = h.storage.saveSnapshot(meta(8, 2), slow(), 7);
        const writing = h.storage.write({ hardState: hard(2, "a", 10), entries: [entry(11, 2)] });
        release();
        await h.settle(Promise.all([saving, writing]));
        expect(await storedSnapshot(h)).toEqual({ meta: meta(8, 2), data: "before after" });
        const state = await h.settle(h.storage.load());
        expect(indexes(state.entries)).toEqual([9, 10, 11]);
        expect(state.hardState).toEqual(hard(2, "a", 10));
      }));

    it("keeps the configuration's member addresses, across a restart too", () =>
      withHarness(async (h) => {
        await seed(h);
        const withAddresses: SnapshotMeta = {
          ...meta(6, 2),
          config: { voters: ["a", "b"], outgoing: [], learners: ["c"], addresses: { a: "h1:1", b: "h2:2", c: "h3:3" } },
        };
        await h.settle(h.storage.saveSnapshot(withAddresses, [bytes("s")], 6));
        expect((await storedSnapshot(h))?.meta).toEqual(withAddresses);
        const reopened = await h.reopen();
        expect((await reopened.settle(reopened.storage.load())).snapshot).toEqual(withAddresses);
        expect((await storedSnapshot(reopened))?.meta).toEqual(withAddresses);
        return reopened;
      }));

    it.each([
      ["an index the log does not hold with that term", () => meta(6, 1), 6, /holds term 2 at the snapshot index 6/],
      ["an index past the last stored entry", () => meta(50, 2), 50, /holds no entry at the snapshot index 50/],
      ["compactTo past the snapshot index", () => meta(6, 2), 7, /compactTo must be an integer in \[0, 6\]/],
      ["a configuration without voters", () => meta(6, 2, []), 6, /voters must not be empty/],
      ["a zero index", () => meta(0, 2), 0, /index must be a positive integer/],
    ])("refuses a save of %s and changes nothing", (_name, makeMeta, compactTo, message) =>
      withHarness(async (h) => {
        await seed(h);
        const error = await rejection(h, h.storage.saveSnapshot(makeMeta(), [bytes("x")], compactTo));
        expect(error.message).toMatch(message);
        expect(error.code).toBe("STORAGE_INVALID_WRITE");
        expect(await h.settle(h.storage.openSnapshot())).toBeUndefined();
        expect(indexes((await h.settle(h.storage.load())).entries)).toEqual(indexes(entries(1, 10, 2)));
      }),
    );

    it("refuses a save that is not newer than the stored snapshot", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.saveSnapshot(meta(6, 2), [bytes("six")], 4));
        const error = await rejection(h, h.storage.saveSnapshot(meta(5, 2), [bytes("five")], 4));
        expect(error.message).toMatch(/not newer than the stored snapshot's 6/);
        expect(await storedSnapshot(h)).toEqual({ meta: meta(6, 2), data: "six" });
      }));

    it("a save whose producer fails rejects with the producer's error and keeps the previous snapshot", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.saveSnapshot(meta(4, 2), [bytes("four")], 2));
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield bytes("partial");
          throw new Error("state machine failed");
        }
        const error = await rejection(h, h.storage.saveSnapshot(meta(6, 2), failing(), 6));
        expect(error.message).toBe("state machine failed");
        expect(await storedSnapshot(h)).toEqual({ meta: meta(4, 2), data: "four" });
        expect(indexes((await h.settle(h.storage.load())).entries)).toEqual([5, 6, 7, 8, 9, 10]);
      }));

    it("a staging counts bytes and CRC-32C; installing it discards every entry and keeps the hard state (rule 9)", () =>
      withHarness(async (h) => {
        await seed(h);
        const staging = await h.settle(h.storage.stageSnapshot(meta(20, 4)));
        expect([staging.bytes, staging.checksum]).toEqual([0, 0]);
        await h.settle(staging.append(bytes("leader ")));
        expect(staging.bytes).toBe(7);
        await h.settle(staging.append(bytes("state")));
        expect(staging.bytes).toBe(12);
        expect(staging.checksum).toBe(snapshotChecksum([bytes("leader state")]));
        await h.settle(h.storage.installSnapshot(staging));
        expect(await storedSnapshot(h)).toEqual({ meta: meta(20, 4), data: "leader state" });
        let state = await h.settle(h.storage.load());
        expect(state.snapshot).toEqual(meta(20, 4));
        expect(state.entries).toEqual([]);
        expect(state.hardState).toEqual(hard(2, "a", 8));
        // The Ready's write that follows the install: a newer term, commit at the snapshot, entries after it.
        await h.settle(h.storage.write({ hardState: hard(4, "", 20), entries: [entry(21, 4)] }));
        state = await h.settle(h.storage.load());
        expect(indexes(state.entries)).toEqual([21]);
        expect(state.hardState).toEqual(hard(4, "", 20));
        const gap = await rejection(h, h.storage.write({ entries: [entry(23, 4)] }));
        expect(gap.message).toMatch(/at most at 22/);
      }));

    it("an install replaces a log that reached past the snapshot index (rule 9)", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.installSnapshot(await staged(h, meta(9, 3), ["s"])));
        const state = await h.settle(h.storage.load());
        expect(state.entries).toEqual([]);
        expect(state.snapshot?.index).toBe(9);
      }));

    it("refuses to install a snapshot at or below the stored commit index (rule 9)", () =>
      withHarness(async (h) => {
        await seed(h);
        const staging = await staged(h, meta(8, 2), ["s"]);
        const error = await rejection(h, h.storage.installSnapshot(staging));
        expect(error.message).toMatch(/not past the stored commit index 8/);
        expect(error.code).toBe("STORAGE_INVALID_WRITE");
        expect(indexes((await h.settle(h.storage.load())).entries)).toHaveLength(10);
        expect(await h.settle(h.storage.openSnapshot())).toBeUndefined();
        await h.settle(staging.discard());
      }));

    it("refuses a discarded, a foreign and an already installed staging with StorageInvalidWriteError", () =>
      withHarness(async (h) => {
        await seed(h);
        const discarded = await staged(h, meta(12, 3), ["discarded"]);
        await h.settle(discarded.discard());
        await h.settle(discarded.discard()); // idempotent
        const afterDiscard = await rejection(h, discarded.append(bytes("more")));
        expect(afterDiscard.code).toBe("STORAGE_INVALID_WRITE");
        const foreign: SnapshotStaging = {
          meta: meta(12, 3),
          bytes: 1,
          checksum: snapshotChecksum([bytes("f")]),
          append: async () => undefined,
          discard: async () => undefined,
        };
        for (const refused of [discarded, foreign]) {
          const error = await rejection(h, h.storage.installSnapshot(refused));
          expect(error.code).toBe("STORAGE_INVALID_WRITE");
        }
        expect(await h.settle(h.storage.openSnapshot())).toBeUndefined();
        expect(indexes((await h.settle(h.storage.load())).entries)).toHaveLength(10);
        const installed = await staged(h, meta(12, 3), ["twelve"]);
        await h.settle(h.storage.installSnapshot(installed));
        const again = await rejection(h, h.storage.installSnapshot(installed));
        expect(again.code).toBe("STORAGE_INVALID_WRITE");
        expect(await storedSnapshot(h)).toEqual({ meta: meta(12, 3), data: "twelve" });
      }));

    it("a reader keeps reading its snapshot after a newer one replaced it (pinned, rule 9); closing is idempotent", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.saveSnapshot(meta(4, 2), [bytes("old snapshot")], 4));
        const old = (await h.settle(h.storage.openSnapshot())) as SnapshotReader;
        await h.settle(h.storage.saveSnapshot(meta(8, 2), [bytes("new one")], 6));
        expect(await storedSnapshot(h)).toEqual({ meta: meta(8, 2), data: "new one" });
        expect(old.meta).toEqual(meta(4, 2));
        expect(text(await h.settle(readWholeSnapshot(old)))).toBe("old snapshot");
        await h.settle(old.close());
        await h.settle(old.close());
        await rejection(h, old.read(0, 1));
        // A reader of an installed snapshot's predecessor is pinned the same way.
        const second = (await h.settle(h.storage.openSnapshot())) as SnapshotReader;
        await h.settle(h.storage.installSnapshot(await staged(h, meta(30, 5), ["installed"])));
        expect(decoder.decode(await h.settle(second.read(4, 3)))).toBe("one");
        await h.settle(second.close());
        expect((await storedSnapshot(h))?.data).toBe("installed");
      }));

    it("saved and installed snapshots survive a restart with the entries after them", () =>
      withHarness(async (h) => {
        await seed(h);
        await h.settle(h.storage.saveSnapshot(meta(6, 2), reusingOneBuffer(["saved ", "state"]), 5));
        let current = await h.reopen();
        let state = await current.settle(current.storage.load());
        expect(state.snapshot).toEqual(meta(6, 2));
        expect(indexes(state.entries)).toEqual([7, 8, 9, 10]);
        expect(state.hardState).toEqual(hard(2, "a", 8));
        expect((await storedSnapshot(current))?.data).toBe("saved state");
        // The reopened store validates against the snapshot it loaded.
        const below = await rejection(current, current.storage.write({ entries: [entry(6, 2)] }));
        expect(below.message).toMatch(/before the first stored index 7/);
        await current.settle(current.storage.installSnapshot(await staged(current, meta(15, 3), ["in", "stalled"])));
        current = await current.reopen();
        state = await current.settle(current.storage.load());
        expect(state.snapshot).toEqual(meta(15, 3));
        expect(state.entries).toEqual([]);
        expect((await storedSnapshot(current))?.data).toBe("installed");
        await current.settle(current.storage.write({ hardState: hard(3, "", 15), entries: [entry(16, 3)] }));
        current = await current.reopen();
        state = await current.settle(current.storage.load());
        expect(indexes(state.entries)).toEqual([16]);
        expect(state.hardState).toEqual(hard(3, "", 15));
        return current;
      }));
  });
}
