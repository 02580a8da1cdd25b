import { describe, expect, it } from "vitest";
import type { Entry, HardState, SnapshotMeta } from "../../src/core/types.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import {
  readWholeSnapshot,
  snapshotByteLength,
  snapshotChecksum,
  snapshotMetaProblem,
  supportsSnapshots,
} from "../../src/storage/snapshot.js";
import type { Storage } from "../../src/storage/storage.js";
import { runSnapshotStorageContract, type SnapshotStorageHarness } from "./snapshot-contract.js";

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

/** MemoryStorage is its own disk: a restart reuses the same object (close keeps the data). */
function memoryHarness(storage: MemoryStorage): SnapshotStorageHarness {
  return {
    storage,
    settle: (promise) => promise,
    reopen: async () => {
      await storage.close();
      return memoryHarness(storage);
    },
    cleanup: () => storage.close(),
  };
}

runSnapshotStorageContract("MemoryStorage", async () => memoryHarness(new MemoryStorage()));

describe("MemoryStorage snapshots", () => {
  it("copies an array's chunks at once: changing them right after the call does not change the snapshot", async () => {
    const storage = new MemoryStorage();
    await storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    const buffer = bytes("abc");
    const saved = storage.saveSnapshot(meta(5, 2), [buffer], 5);
    buffer[0] = 0x7a;
    await saved;
    expect(storage.loadSnapshotSync()?.data).toEqual([bytes("abc")]);
  });

  it("applies an array save synchronously, and keeps readers of a replaced snapshot on their data", async () => {
    const storage = new MemoryStorage();
    await storage.write({ hardState: hard(2, "a", 8), entries: entries(1, 10, 2) });
    void storage.saveSnapshot(meta(5, 2), [bytes("five")], 5);
    expect(storage.snapshotIndex).toBe(5);
    expect(storage.firstIndex).toBe(6);
    const reader = await storage.openSnapshot();
    storage.saveSnapshotSync(meta(7, 2), [bytes("seven")], 7);
    expect(await readWholeSnapshot(reader as NonNullable<typeof reader>)).toEqual([bytes("five")]);
    expect(storage.loadSnapshotSync()?.meta.index).toBe(7);
  });

  it("refuses reads at a negative or fractional offset with a RangeError", async () => {
    const storage = new MemoryStorage({ hardState: hard(1, "", 3), snapshot: meta(3, 1), entries: [] }, [bytes("x")]);
    const reader = await storage.openSnapshot();
    await expect(reader?.read(-1, 1)).rejects.toThrow(RangeError);
    await expect(reader?.read(0.5, 1)).rejects.toThrow(RangeError);
  });

  it("refuses a staging with an invalid meta, and a chunk that is not bytes", async () => {
    const storage = new MemoryStorage();
    await expect(storage.stageSnapshot(meta(0, 1))).rejects.toMatchObject({ code: "STORAGE_INVALID_WRITE" });
    const staging = await storage.stageSnapshot(meta(3, 1));
    await expect(staging.append("text" as unknown as Uint8Array)).rejects.toMatchObject({
      code: "STORAGE_INVALID_WRITE",
    });
  });

  it("refuses a staging of another MemoryStorage", async () => {
    const one = new MemoryStorage();
    const other = new MemoryStorage();
    const staging = await other.stageSnapshot(meta(3, 1));
    await expect(one.installSnapshot(staging)).rejects.toThrow(/belongs to another storage/);
    await other.installSnapshot(staging);
    expect(other.snapshotIndex).toBe(3);
    expect(one.snapshotIndex).toBe(0);
  });
});

describe("MemoryStorage initial state with a snapshot", () => {
  it("starts from a snapshot and the entries after it", async () => {
    const storage = new MemoryStorage(
      { hardState: hard(3, "", 12), snapshot: meta(10, 2), entries: [entry(11, 3), entry(12, 3)] },
      [bytes("ten")],
    );
    const state = await storage.load();
    expect(state.snapshot).toEqual(meta(10, 2));
    expect(indexes(state.entries)).toEqual([11, 12]);
    const reader = await storage.openSnapshot();
    expect(await readWholeSnapshot(reader as NonNullable<typeof reader>)).toEqual([bytes("ten")]);
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
