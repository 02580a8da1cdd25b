import { describe, expect, it } from "vitest";
import type { Entry, HardState } from "../../src/core/types.js";
import { EMPTY_HARD_STATE, type Storage, type StorageWrite } from "../../src/storage/storage.js";

/**
 * One storage implementation under test. Each `factory()` call gives a fresh, empty store.
 */
export interface StorageHarness {
  readonly storage: Storage;
  /**
   * Waits until `promise` settles, doing whatever makes the store progress meanwhile (a
   * simulated disk advances its virtual clock), and returns its outcome.
   */
  settle<T>(promise: Promise<T>): Promise<T>;
  /** Closes the store and opens it again on the same durable data (a restart). */
  reopen(): Promise<StorageHarness>;
  /** Releases everything (temp folders, handles). */
  cleanup(): Promise<void>;
}

export type StorageFactory = () => Promise<StorageHarness>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `tag` tells apart entries written at the same (index, term) by different writes. */
export function entry(index: number, term: number, tag = ""): Entry {
  return { index, term, type: "normal", data: encoder.encode(`${index}@${term}${tag}`) };
}

export function entries(from: number, to: number, term: number, tag = ""): Entry[] {
  const list: Entry[] = [];
  for (let index = from; index <= to; index++) list.push(entry(index, term, tag));
  return list;
}

export function hard(term: number, vote: string, commit: number): HardState {
  return { term, vote, commit };
}

/** index@term:data for each entry: compares everything that matters in one readable string. */
export function describeEntries(list: readonly Entry[]): string[] {
  return list.map((e) => `${e.index}@${e.term}:${decoder.decode(e.data)}`);
}

/** Writes through `harness`, settling the promise. */
async function put(harness: StorageHarness, write: StorageWrite): Promise<void> {
  await harness.settle(harness.storage.write(write));
}

/** The rejection of `promise`, failing the test when it resolves. */
async function rejection(harness: StorageHarness, promise: Promise<unknown>): Promise<Error> {
  try {
    await harness.settle(promise);
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the write to be rejected, but it was accepted");
}

/** The writes every Raft disk must refuse (MemoryStorage's rules), each on a log 1..3 at term 2, commit 1. */
const INVALID_WRITES: readonly { readonly name: string; readonly write: StorageWrite; readonly message: RegExp }[] = [
  { name: "a gap after the last index", write: { entries: [entry(5, 2)] }, message: /at most at 4/ },
  { name: "non-contiguous entries", write: { entries: [entry(4, 2), entry(6, 2)] }, message: /contiguous/ },
  { name: "a term below the previous entry's", write: { entries: [entry(4, 1)] }, message: /never decrease/ },
  { name: "an entry term above the hard state's", write: { entries: [entry(4, 3)] }, message: /above the hard state/ },
  { name: "the term going back", write: { hardState: hard(1, "n1", 1), entries: [] }, message: /went back/ },
  {
    name: "a second vote in one term (rule 1)",
    write: { hardState: hard(2, "n3", 1), entries: [] },
    message: /one vote per term/,
  },
  { name: "commit going back", write: { hardState: hard(2, "n2", 0), entries: [] }, message: /commit went back/ },
  {
    name: "commit past the last index",
    write: { hardState: hard(2, "n2", 4), entries: [] },
    message: /past the last index/,
  },
  {
    name: "an unknown entry type",
    write: { entries: [{ ...entry(4, 2), type: "bogus" as Entry["type"] }] },
    message: /type must be/,
  },
  {
    name: "data that is not bytes",
    write: { entries: [{ ...entry(4, 2), data: "text" as unknown as Uint8Array }] },
    message: /Uint8Array/,
  },
  { name: "an index of 0", write: { entries: [entry(0, 2)] }, message: /positive integer/ },
];

/**
 * The behaviour every `Storage` must show: the Ready contract's persistence half (one atomic,
 * durable write of hard state + entries; entries replace the suffix, rule 4), restarts, refusal
 * of invalid writes, and in-order acknowledgement of concurrent writes.
 */
export function runStorageContract(name: string, factory: StorageFactory): void {
  describe(`Storage contract: ${name}`, () => {
    async function withHarness(body: (harness: StorageHarness) => Promise<StorageHarness | undefined>): Promise<void> {
      let harness = await factory();
      try {
        harness = (await body(harness)) ?? harness;
      } finally {
        await harness.cleanup();
      }
    }

    it("loads an empty store as the empty hard state and no entries", () =>
      withHarness(async (harness) => {
        const state = await harness.settle(harness.storage.load());
        expect(state.hardState).toEqual(EMPTY_HARD_STATE);
        expect(state.entries).toEqual([]);
        return undefined;
      }));

    it("loads back hard state and entries written together, with every field", () =>
      withHarness(async (harness) => {
        const written: Entry[] = [
          { index: 1, term: 1, type: "noop", data: new Uint8Array() },
          { index: 2, term: 1, type: "normal", data: Uint8Array.of(0, 255, 7), origin: "n2", requestId: 41 },
          { index: 3, term: 2, type: "config", data: encoder.encode("{voters}"), origin: "nœud-3" },
          { index: 4, term: 2, type: "normal", data: new Uint8Array(70_000).fill(9), requestId: 2 ** 40 + 3 },
        ];
        await put(harness, { hardState: hard(2, "n1", 3), entries: written });
        const state = await harness.settle(harness.storage.load());
        expect(state.hardState).toEqual(hard(2, "n1", 3));
        expect(state.entries.map((e) => ({ ...e, data: Array.from(e.data) }))).toEqual(
          written.map((e) => ({ ...e, data: Array.from(e.data) })),
        );
        return undefined;
      }));

    it("replaces the stored suffix from entries[0].index in one write (rule 4)", () =>
      withHarness(async (harness) => {
        await put(harness, { hardState: hard(1, "n1", 1), entries: entries(1, 5, 1) });
        await put(harness, { hardState: hard(2, "n2", 1), entries: entries(3, 4, 2) });
        let state = await harness.settle(harness.storage.load());
        expect(describeEntries(state.entries)).toEqual(["1@1:1@1", "2@1:2@1", "3@2:3@2", "4@2:4@2"]);
        // Appending at lastIndex + 1 keeps everything before it; a hard-state-only write keeps the log.
        await put(harness, { entries: entries(5, 5, 2, "new") });
        await put(harness, { hardState: hard(2, "n2", 5), entries: [] });
        // Overwriting the last entry alone leaves a log of the same length.
        await put(harness, { hardState: hard(3, "", 5), entries: [] });
        await put(harness, { entries: [entry(6, 3)] });
        await put(harness, { entries: [entry(6, 3, "again")] });
        state = await harness.settle(harness.storage.load());
        expect(describeEntries(state.entries)).toEqual([
          "1@1:1@1",
          "2@1:2@1",
          "3@2:3@2",
          "4@2:4@2",
          "5@2:5@2new",
          "6@3:6@3again",
        ]);
        expect(state.hardState).toEqual(hard(3, "", 5));
        return undefined;
      }));

    it("keeps everything across a restart (close and reopen)", () =>
      withHarness(async (harness) => {
        await put(harness, { hardState: hard(1, "n1", 0), entries: entries(1, 10, 1) });
        await put(harness, { hardState: hard(3, "n3", 4), entries: entries(5, 7, 3) });
        const reopened = await harness.reopen();
        const state = await reopened.settle(reopened.storage.load());
        expect(state.hardState).toEqual(hard(3, "n3", 4));
        expect(describeEntries(state.entries)).toEqual([
          ...describeEntries(entries(1, 4, 1)),
          ...describeEntries(entries(5, 7, 3)),
        ]);
        // The reopened store continues the log and validates against what it loaded.
        await put(reopened, { entries: [entry(8, 3)] });
        const refused = await rejection(reopened, reopened.storage.write({ entries: [entry(10, 3)] }));
        expect(refused.message).toMatch(/at most at 9/);
        return reopened;
      }));

    for (const invalid of INVALID_WRITES) {
      it(`rejects a write with ${invalid.name} and changes nothing`, () =>
        withHarness(async (harness) => {
          await put(harness, { hardState: hard(2, "n2", 1), entries: [...entries(1, 2, 1), entry(3, 2)] });
          const before = await harness.settle(harness.storage.load());
          const error = await rejection(harness, harness.storage.write(invalid.write));
          expect(error.message).toMatch(invalid.message);
          const after = await harness.settle(harness.storage.load());
          expect(after.hardState).toEqual(before.hardState);
          expect(describeEntries(after.entries)).toEqual(describeEntries(before.entries));
          // A refused write leaves the store usable.
          await put(harness, { hardState: hard(2, "n2", 4), entries: [entry(4, 2)] });
          expect((await harness.settle(harness.storage.load())).entries).toHaveLength(4);
          return undefined;
        }));
    }

    it("resolves many concurrent writes in issue order, each durable when it resolves", () =>
      withHarness(async (harness) => {
        const writeCount = 60;
        const order: number[] = [];
        const promises: Promise<void>[] = [];
        for (let i = 1; i <= writeCount; i++) {
          // Every fifth write also truncates and rewrites its predecessor (rule 4 inside a group).
          const write: StorageWrite =
            i % 5 === 0
              ? { hardState: hard(i, "n1", i - 2), entries: [entry(i - 1, i, "r"), entry(i, i)] }
              : { hardState: hard(i, "n1", i - 1), entries: [entry(i, i)] };
          promises.push(harness.storage.write(write).then(() => void order.push(i)));
        }
        await harness.settle(Promise.all(promises));
        expect(order).toEqual(Array.from({ length: writeCount }, (_, k) => k + 1));
        const state = await harness.settle(harness.storage.load());
        expect(state.hardState).toEqual(hard(writeCount, "n1", writeCount - 2));
        expect(state.entries).toHaveLength(writeCount);
        for (const stored of state.entries) {
          const rewritten = (stored.index + 1) % 5 === 0;
          const expected = rewritten ? entry(stored.index, stored.index + 1, "r") : entry(stored.index, stored.index);
          expect(describeEntries([stored])).toEqual(describeEntries([expected]));
        }
        return undefined;
      }));
  });
}
