import { describe, expect, it } from "vitest";
import type { Entry, HardState } from "../../src/core/types.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import { EMPTY_HARD_STATE, type StorageWrite } from "../../src/storage/storage.js";

function entry(index: number, term: number, text = `${index}@${term}`): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

function entries(from: number, to: number, term: number): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push(entry(index, term));
  return result;
}

function hard(term: number, vote: string, commit: number): HardState {
  return { term, vote, commit };
}

const indexTerms = (list: readonly Entry[]): string[] => list.map((e) => `${e.index}@${e.term}`);

describe("MemoryStorage", () => {
  it("starts empty", async () => {
    const state = await new MemoryStorage().load();
    expect(state.hardState).toEqual(EMPTY_HARD_STATE);
    expect(state.entries).toEqual([]);
  });

  it("applies a write synchronously and resolves without any timer", async () => {
    const storage = new MemoryStorage();
    let resolved = false;
    void storage.write({ hardState: hard(1, "n1", 0), entries: entries(1, 3, 1) }).then(() => {
      resolved = true;
    });
    expect(storage.lastIndex).toBe(3);
    await Promise.resolve();
    expect(resolved).toBe(true);
    const state = await storage.load();
    expect(state.hardState).toEqual(hard(1, "n1", 0));
    expect(indexTerms(state.entries)).toEqual(["1@1", "2@1", "3@1"]);
  });

  it("replaces the stored suffix from entries[0].index in one write (rule 4)", async () => {
    const storage = new MemoryStorage();
    await storage.write({ hardState: hard(1, "n1", 1), entries: entries(1, 5, 1) });
    await storage.write({ hardState: hard(2, "n2", 1), entries: entries(3, 4, 2) });
    expect(indexTerms((await storage.load()).entries)).toEqual(["1@1", "2@1", "3@2", "4@2"]);
    // Appending at lastIndex + 1 keeps everything before it.
    await storage.write({ entries: entries(5, 5, 2) });
    expect(indexTerms((await storage.load()).entries)).toEqual(["1@1", "2@1", "3@2", "4@2", "5@2"]);
    // A hard-state-only write leaves the entries alone.
    await storage.write({ hardState: hard(2, "n2", 4), entries: [] });
    const state = await storage.load();
    expect(state.entries).toHaveLength(5);
    expect(state.hardState.commit).toBe(4);
  });

  it("load returns copies, not aliases of its internal arrays", async () => {
    const storage = new MemoryStorage();
    await storage.write({ hardState: hard(1, "", 0), entries: entries(1, 2, 1) });
    const first = await storage.load();
    (first.entries as Entry[]).length = 0;
    (first.hardState as { term: number }).term = 99;
    await storage.write({ entries: entries(3, 3, 1) });
    const second = await storage.load();
    expect(second.entries).toHaveLength(3);
    expect(second.hardState.term).toBe(1);
    expect(first.entries).toHaveLength(0);
  });

  it("keeps its data across close, so a node can restart on it", async () => {
    const storage = new MemoryStorage();
    await storage.write({ hardState: hard(3, "n3", 0), entries: entries(1, 1, 3) });
    await storage.close();
    expect((await storage.load()).hardState).toEqual(hard(3, "n3", 0));
  });

  it("starts from a given state, validating it", async () => {
    const storage = new MemoryStorage({ hardState: hard(2, "n1", 2), entries: [entry(1, 1), entry(2, 2)] });
    expect(storage.lastIndex).toBe(2);
    expect(storage.termAt(2)).toBe(2);
    expect(() => new MemoryStorage({ hardState: hard(1, "", 0), entries: [entry(1, 1), entry(3, 1)] })).toThrow(
      /contiguous/,
    );
  });

  describe("rejects invalid writes with a clear error and changes nothing", () => {
    const cases: Array<{ name: string; write: StorageWrite; error: RegExp }> = [
      { name: "a gap after the last index", write: { entries: entries(5, 5, 2) }, error: /at most at 4/ },
      {
        name: "non-contiguous entries",
        write: { entries: [entry(4, 2), entry(6, 2)] },
        error: /contiguous: entries\[1\]\.index is 6, expected 5/,
      },
      { name: "index 0", write: { entries: [entry(0, 2)] }, error: /positive integer/ },
      { name: "a term of 0", write: { entries: [entry(4, 0)] }, error: /term must be a positive integer/ },
      {
        name: "log terms that decrease",
        write: { entries: [entry(3, 1)] },
        error: /below the previous entry's term 2/,
      },
      {
        name: "an entry term above the current term",
        write: { entries: [entry(4, 3)] },
        error: /above the hard state's term 2/,
      },
      { name: "a term that goes back", write: { hardState: hard(1, "", 1), entries: [] }, error: /term went back/ },
      { name: "a second vote in one term", write: { hardState: hard(2, "n3", 1), entries: [] }, error: /rule 1/ },
      {
        name: "a commit that goes back",
        write: { hardState: hard(2, "n2", 0), entries: [] },
        error: /commit went back/,
      },
      {
        name: "a commit past the last index",
        write: { hardState: hard(2, "n2", 4), entries: [] },
        error: /past the last index 3/,
      },
      { name: "a negative commit", write: { hardState: hard(2, "n2", -1), entries: [] }, error: /non-negative/ },
      {
        name: "a non-string vote",
        write: { hardState: { term: 2, vote: 7, commit: 1 } as unknown as HardState, entries: [] },
        error: /vote must be a string/,
      },
      {
        name: "an unknown entry type",
        write: { entries: [{ ...entry(4, 2), type: "weird" } as unknown as Entry] },
        error: /type must be/,
      },
      {
        name: "data that is not bytes",
        write: { entries: [{ ...entry(4, 2), data: "text" } as unknown as Entry] },
        error: /Uint8Array/,
      },
      {
        name: "entries that are not an array",
        write: { entries: undefined } as unknown as StorageWrite,
        error: /array/,
      },
    ];

    for (const { name, write, error } of cases) {
      it(name, async () => {
        const storage = new MemoryStorage({
          hardState: hard(2, "n2", 1),
          entries: [entry(1, 1), entry(2, 2), entry(3, 2)],
        });
        const before = storage.loadSync();
        await expect(storage.write(write)).rejects.toThrow(error);
        expect(() => storage.writeSync(write)).toThrow(/invalid storage write/);
        expect(storage.loadSync()).toEqual(before);
      });
    }
  });

  it("accepts a vote in a term that had none, and a new vote in a new term", async () => {
    const storage = new MemoryStorage();
    await storage.write({ hardState: hard(1, "", 0), entries: [] });
    await storage.write({ hardState: hard(1, "n2", 0), entries: [] });
    await storage.write({ hardState: hard(2, "n3", 0), entries: [] });
    expect(storage.hardState).toEqual(hard(2, "n3", 0));
  });
});
