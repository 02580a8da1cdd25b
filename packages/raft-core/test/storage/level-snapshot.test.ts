import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ClassicLevel } from "classic-level";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Entry, HardState, SnapshotMeta } from "../../src/core/types.js";
import { crc32cUpdate } from "../../src/storage/crc32c.js";
import { LevelStorage, type LevelStorageOptions } from "../../src/storage/level-storage.js";
import {
  decodeSnapshotRecord,
  encodeSnapshotRecord,
  entryKey,
  SNAPSHOT_KEY,
  type SnapshotRecord,
} from "../../src/storage/record-codec.js";
import { readerChunks, readWholeSnapshot } from "../../src/storage/snapshot.js";
import {
  nodeSnapshotFileSystem,
  type SnapshotFile,
  type SnapshotFileSystem,
} from "../../src/storage/snapshot-file-system.js";
import type { SnapshotReader } from "../../src/storage/storage.js";
import { CORRUPTION_REMEDY, type StorageError } from "../../src/storage/storage-errors.js";
import { runSnapshotStorageContract, type SnapshotStorageHarness } from "./snapshot-contract.js";

const IDENTITY: LevelStorageOptions = { clusterId: "cluster-a", nodeId: "n1" };
const MIB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const tempDirs: string[] = [];

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lectern-level-snap-"));
  tempDirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

afterEach(() => {
  vi.restoreAllMocks();
});

function levelHarness(dir: string, storage: LevelStorage, options: LevelStorageOptions): SnapshotStorageHarness {
  return {
    storage,
    settle: (promise) => promise,
    reopen: async () => {
      await storage.close();
      return levelHarness(dir, await LevelStorage.open(dir, options), options);
    },
    cleanup: () => storage.close(),
  };
}

runSnapshotStorageContract("LevelStorage", async () => {
  const dir = await freshDir();
  return levelHarness(dir, await LevelStorage.open(dir, IDENTITY), IDENTITY);
});

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
  return { index, term, config: { voters: ["n1", "n2", "n3"], outgoing: [], learners: [] } };
}

const bytes = (text: string): Uint8Array => encoder.encode(text);
const indexes = (list: readonly Entry[]): number[] => list.map((e) => e.index);
const snapshotsOf = (dir: string): string => join(dir, "snapshots");

async function rejectionOf(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    return error as StorageError;
  }
  throw new Error("expected a rejection");
}

/** An open store with log 1..10 at term 2, committed to 8. */
async function seeded(options: Partial<LevelStorageOptions> = {}): Promise<{ dir: string; storage: LevelStorage }> {
  const dir = await freshDir();
  const storage = await LevelStorage.open(dir, { ...IDENTITY, ...options });
  await storage.write({ hardState: hard(2, "n1", 8), entries: entries(1, 10, 2) });
  return { dir, storage };
}

async function dataOf(storage: LevelStorage): Promise<string | undefined> {
  const reader = await storage.openSnapshot();
  if (reader === undefined) return undefined;
  try {
    return (await readWholeSnapshot(reader)).map((chunk) => decoder.decode(chunk)).join("");
  } finally {
    await reader.close();
  }
}

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(snapshotsOf(dir))).sort();
}

describe("LevelStorage snapshot files", () => {
  it("stores the data in snapshots/snapshot-<index>-<term>.snap and deletes a replaced file nobody reads", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(4, 2), [bytes("four")], 4);
    expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap"]);
    expect(decoder.decode(await readFile(join(snapshotsOf(dir), "snapshot-4-2.snap")))).toBe("four");
    await storage.saveSnapshot(meta(6, 2), [bytes("six")], 6);
    expect(await filesIn(dir)).toEqual(["snapshot-6-2.snap"]);
    await storage.close();
  });

  it("keeps a replaced file while a reader holds it, deletes it when the last reader closes (rule 9)", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(4, 2), [bytes("four")], 4);
    const first = (await storage.openSnapshot()) as SnapshotReader;
    const second = (await storage.openSnapshot()) as SnapshotReader;
    await storage.saveSnapshot(meta(6, 2), [bytes("six")], 6);
    expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap", "snapshot-6-2.snap"]);
    await first.close();
    expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap", "snapshot-6-2.snap"]);
    expect(decoder.decode(await second.read(0, 10))).toBe("four");
    await second.close();
    expect(await filesIn(dir)).toEqual(["snapshot-6-2.snap"]);
    await storage.close();
  });

  it("close() closes open readers and discards open stagings (their temp files go)", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(4, 2), [bytes("four")], 4);
    const reader = (await storage.openSnapshot()) as SnapshotReader;
    const staging = await storage.stageSnapshot(meta(20, 3));
    await staging.append(bytes("partial"));
    expect((await filesIn(dir)).filter((name) => name.endsWith(".tmp"))).toHaveLength(1);
    await storage.close();
    await expect(reader.read(0, 1)).rejects.toMatchObject({ code: "STORAGE_CLOSED" });
    expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap"]);
  });

  it("staging.discard() removes its temp file; the stored snapshot is untouched", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(4, 2), [bytes("four")], 4);
    const staging = await storage.stageSnapshot(meta(20, 3));
    await staging.append(bytes("received"));
    const files = await filesIn(dir);
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^snapshot-20-3\.\d+\.tmp$/);
    expect(files[1]).toBe("snapshot-4-2.snap");
    await staging.discard();
    expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap"]);
    expect(await dataOf(storage)).toBe("four");
    await storage.close();
  });

  it("sweeps temp files and unrecorded snapshot files at open, and leaves other names alone", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(4, 2), [bytes("four")], 4);
    await storage.close();
    const folder = snapshotsOf(dir);
    await writeFile(join(folder, "snapshot-9-2.snap"), "orphan of a crash before its record");
    await writeFile(join(folder, "snapshot-12-3.4.tmp"), "half-received");
    await writeFile(join(folder, "README"), "not ours");
    const reopened = await LevelStorage.open(dir, IDENTITY);
    expect(await filesIn(dir)).toEqual(["README", "snapshot-4-2.snap"]);
    expect(await dataOf(reopened)).toBe("four");
    await reopened.close();
  });

  it("keeps a trailing window below the snapshot across a restart, and compacts it later", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(6, 2), [bytes("six")], 3);
    await storage.close();
    let reopened = await LevelStorage.open(dir, IDENTITY);
    let state = await reopened.load();
    expect(state.snapshot).toEqual(meta(6, 2));
    expect(indexes(state.entries)).toEqual([7, 8, 9, 10]);
    await reopened.write({ hardState: hard(2, "n1", 10), entries: [] });
    await reopened.saveSnapshot(meta(9, 2), [bytes("nine")], 8);
    await reopened.close();
    await editRaw(dir, async (db) => {
      const keys = await db.keys({ gte: entryKey(0), lt: entryKey(100) }).all();
      expect(keys.map((key) => new DataView(key.buffer, key.byteOffset).getUint32(5))).toEqual([9, 10]);
    });
    reopened = await LevelStorage.open(dir, IDENTITY);
    state = await reopened.load();
    expect(indexes(state.entries)).toEqual([10]);
    expect(await dataOf(reopened)).toBe("nine");
    await reopened.close();
  });
});

type Database = ClassicLevel<Uint8Array, Uint8Array>;

async function editRaw(dir: string, edit: (db: Database) => Promise<void>): Promise<void> {
  const db: Database = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  try {
    await edit(db);
  } finally {
    await db.close();
  }
}

describe("LevelStorage snapshot verification", () => {
  it("a flipped byte in the file passes the size check at load and is refused when a reader opens it", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(6, 2), [bytes("snapshot data")], 6);
    await storage.close();
    const file = join(snapshotsOf(dir), "snapshot-6-2.snap");
    const content = await readFile(file);
    content[3] = (content[3] as number) ^ 0x01;
    await writeFile(file, content);
    const reopened = await LevelStorage.open(dir, IDENTITY);
    expect((await reopened.load()).snapshot?.index).toBe(6);
    const error = await rejectionOf(reopened.openSnapshot());
    expect(error).toMatchObject({ code: "STORAGE_CORRUPTION", record: "snapshot", index: 6, storePath: dir });
    expect(error.message).toContain(file);
    expect(error.message).toContain("fails its checksum");
    expect(error.message).toContain(CORRUPTION_REMEDY);
    await reopened.close();
    // The damaged file is kept for the operator: corruption never deletes data.
    expect(await filesIn(dir)).toEqual(["snapshot-6-2.snap"]);
  });

  it("a truncated or missing snapshot file stops the open with StorageCorruptionError naming the file", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(6, 2), [bytes("snapshot data")], 6);
    await storage.close();
    const file = join(snapshotsOf(dir), "snapshot-6-2.snap");
    await truncate(file, 5);
    const truncated = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(truncated).toMatchObject({ code: "STORAGE_CORRUPTION", record: "snapshot", index: 6 });
    expect(truncated.message).toContain(`${file} is 5 bytes, but the snapshot record says 13`);
    expect(truncated.message).toContain("remove and re-add it");
    await rm(file);
    const missing = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(missing).toMatchObject({ code: "STORAGE_CORRUPTION", record: "snapshot" });
    expect(missing.message).toContain(`${file} is missing`);
  });

  it("a damaged snapshot record is corruption, and its file is not swept", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(6, 2), [bytes("six")], 6);
    await storage.close();
    await editRaw(dir, async (db) => {
      const value = Uint8Array.from((await db.get(SNAPSHOT_KEY)) as Uint8Array);
      value[value.length - 1] = (value[value.length - 1] as number) ^ 0x04;
      await db.put(SNAPSHOT_KEY, value);
    });
    const error = await rejectionOf(LevelStorage.open(dir, IDENTITY));
    expect(error).toMatchObject({ code: "STORAGE_CORRUPTION", record: "snapshot" });
    expect(error.message).toContain("checksum mismatch");
    expect(await filesIn(dir)).toEqual(["snapshot-6-2.snap"]);
  });

  it("a gap between the snapshot and the entries, or entries that stop short of it, are corruption", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(6, 2), [bytes("six")], 6);
    await storage.close();
    await editRaw(dir, (db) => db.del(entryKey(7)));
    expect(await rejectionOf(LevelStorage.open(dir, IDENTITY))).toMatchObject({
      code: "STORAGE_CORRUPTION",
      index: 7,
    });

    const second = await seeded();
    await second.storage.saveSnapshot(meta(6, 2), [bytes("six")], 2);
    await second.storage.close();
    await editRaw(second.dir, async (db) => {
      for (let index = 6; index <= 10; index++) await db.del(entryKey(index));
    });
    expect(await rejectionOf(LevelStorage.open(second.dir, IDENTITY))).toMatchObject({
      code: "STORAGE_CORRUPTION",
      index: 6,
    });
  });
});

describe("LevelStorage snapshot atomicity", () => {
  it("a crash between the file's rename and the batch that records it leaves the old snapshot in force", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(4, 2), [bytes("old")], 4);
    // The "crash": the new file is written, fsynced and renamed, but its record batch never lands.
    const { spy } = spyBatchWrites(() => Promise.reject(new Error("power lost")));
    const failed = await rejectionOf(storage.saveSnapshot(meta(8, 2), [bytes("new")], 8));
    expect(failed).toMatchObject({ code: "STORAGE_IO" });
    expect(spy).toHaveBeenCalledTimes(1);
    vi.restoreAllMocks();
    expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap", "snapshot-8-2.snap"]);
    await storage.close();
    const reopened = await LevelStorage.open(dir, IDENTITY);
    const state = await reopened.load();
    expect(state.snapshot).toEqual(meta(4, 2));
    expect(indexes(state.entries)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(await dataOf(reopened)).toBe("old");
    expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap"]);
    await reopened.close();
  });

  it("a written file with no record (the crash as it lands on disk) is ignored and swept", async () => {
    const { dir, storage } = await seeded();
    await storage.saveSnapshot(meta(4, 2), [bytes("old")], 4);
    await storage.close();
    await writeFile(join(snapshotsOf(dir), "snapshot-8-2.snap"), "new");
    const reopened = await LevelStorage.open(dir, IDENTITY);
    expect((await reopened.load()).snapshot).toEqual(meta(4, 2));
    expect(await dataOf(reopened)).toBe("old");
    // The same snapshot can be saved again afterwards.
    await reopened.saveSnapshot(meta(8, 2), [bytes("new again")], 8);
    expect(await dataOf(reopened)).toBe("new again");
    await reopened.close();
  });

  it("refuses a second save of the same snapshot while the first is under way, so it can never clobber the stored file", async () => {
    const { dir, storage } = await seeded();
    const first = storage.saveSnapshot(meta(8, 2), [bytes("first")], 8);
    const second = await rejectionOf(storage.saveSnapshot(meta(8, 2), [bytes("second")], 8));
    expect(second.code).toBe("STORAGE_INVALID_WRITE");
    expect(second.message).toContain("already being stored");
    await first;
    expect(await dataOf(storage)).toBe("first");
    expect(await filesIn(dir)).toEqual(["snapshot-8-2.snap"]);
    await storage.close();
  });

  it("writes keep flowing while a save's data streams in (the save waits for nothing but its data)", async () => {
    const { storage } = await seeded();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield bytes("a");
      await gate;
      yield bytes("b");
    }
    let saved = false;
    const saving = storage.saveSnapshot(meta(8, 2), slow(), 8).then(() => {
      saved = true;
    });
    await storage.write({ hardState: hard(2, "n1", 11), entries: [entry(11, 2)] });
    expect(saved).toBe(false);
    release();
    await saving;
    expect(indexes((await storage.load()).entries)).toEqual([9, 10, 11]);
    await storage.close();
  });

  it("close() during a streaming save stops it with StorageClosedError and removes its temp file", async () => {
    const { dir, storage } = await seeded();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield bytes("a");
      await gate;
      yield bytes("b");
    }
    const saving = rejectionOf(storage.saveSnapshot(meta(8, 2), slow(), 8));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closing = storage.close();
    release();
    await closing;
    expect((await saving).code).toBe("STORAGE_CLOSED");
    expect(await filesIn(dir)).toEqual([]);
  });
});

/** The garbage collector, exposed at run time (vitest's workers start without --expose-gc). */
function exposedGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

describe("LevelStorage big snapshots", () => {
  it("streams a 64 MiB snapshot to disk and back with memory far below its size", async () => {
    const { storage } = await seeded();
    const totalMiB = 64;
    // Collecting garbage before each sample measures what is held, not what awaits collection
    // (every read returns a fresh buffer, and V8 collects external memory lazily).
    const collect = exposedGc();
    collect();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let samples = 0;
    const sample = () => {
      if (++samples % 8 === 0) collect();
      peak = Math.max(peak, process.memoryUsage().rss);
    };
    let written = 0;
    async function* generated(): AsyncGenerator<Uint8Array> {
      const chunk = new Uint8Array(MIB);
      for (let i = 0; i < totalMiB; i++) {
        for (let j = 0; j < chunk.length; j += 4096) chunk[j] = (i * 31 + j) & 0xff;
        chunk[0] = i;
        written = crc32cUpdate(written, chunk);
        sample();
        yield chunk;
      }
    }
    await storage.saveSnapshot(meta(8, 2), generated(), 8);
    const peakWhileSaving = peak;
    const reader = (await storage.openSnapshot()) as SnapshotReader;
    expect(reader.bytes).toBe(totalMiB * MIB);
    expect(reader.checksum).toBe(written);
    let readBack = 0;
    let pieces = 0;
    for await (const piece of readerChunks(reader, MIB)) {
      readBack = crc32cUpdate(readBack, piece);
      pieces++;
      sample();
    }
    await reader.close();
    expect(pieces).toBe(totalMiB);
    expect(readBack).toBe(written);
    const growthMiB = (peak - baseline) / MIB;
    if (process.env.LECTERN_REPORT_RSS)
      console.info(
        `64 MiB snapshot: peak RSS growth ${growthMiB.toFixed(1)} MiB (saving ${((peakWhileSaving - baseline) / MIB).toFixed(1)})`,
      );
    // Holding the snapshot would add at least 64 MiB; streaming holds about one chunk (plus up
    // to 8 collectable ones between samples). Loose on purpose: RSS is a noisy measure.
    expect(growthMiB).toBeLessThan(totalMiB / 4);
    await storage.close();
  });
});

/** One recorded durability event, in the order it happened. */
type DiskEvent =
  | { readonly kind: "create" | "append" | "sync" | "close" | "remove"; readonly path: string }
  | { readonly kind: "rename"; readonly path: string; readonly to: string }
  | { readonly kind: "syncDirectory"; readonly path: string }
  | { readonly kind: "batch"; readonly options: unknown; completed: boolean };

/**
 * The default file system, recording every file operation and fsync in `events`. `fail` may throw
 * instead of an operation (to inject ENOSPC or EIO).
 */
function spyFileSystem(events: DiskEvent[], fail?: (kind: string, path: string) => Error | undefined) {
  const check = (kind: string, path: string) => {
    const error = fail?.(kind, path);
    if (error !== undefined) throw error;
  };
  const wrap = (path: string, file: SnapshotFile): SnapshotFile => ({
    async append(chunk) {
      check("append", path);
      await file.append(chunk);
      events.push({ kind: "append", path });
    },
    readAt: (into, position) => file.readAt(into, position),
    async sync() {
      check("sync", path);
      await file.sync();
      events.push({ kind: "sync", path });
    },
    async close() {
      await file.close();
      events.push({ kind: "close", path });
    },
  });
  const fs: SnapshotFileSystem = {
    ...nodeSnapshotFileSystem,
    async create(path) {
      check("create", path);
      const file = await nodeSnapshotFileSystem.create(path);
      events.push({ kind: "create", path });
      return wrap(path, file);
    },
    async rename(from, to) {
      check("rename", from);
      await nodeSnapshotFileSystem.rename(from, to);
      events.push({ kind: "rename", path: from, to });
    },
    async syncDirectory(path) {
      check("syncDirectory", path);
      await nodeSnapshotFileSystem.syncDirectory(path);
      events.push({ kind: "syncDirectory", path });
    },
    async remove(path) {
      await nodeSnapshotFileSystem.remove(path);
      events.push({ kind: "remove", path });
    },
  };
  return fs;
}

type ChainedWrite = (this: { readonly length: number }, options?: unknown) => Promise<void>;
let chainedBatchPrototype: { write: ChainedWrite };

beforeAll(async () => {
  const db = new ClassicLevel(await freshDir());
  await db.open();
  const batch = db.batch();
  chainedBatchPrototype = Object.getPrototypeOf(batch);
  await batch.close();
  await db.close();
});

/** Spies every LevelDB batch write; `intercept` may replace the real write. */
function spyBatchWrites(intercept?: () => Promise<void>, events?: DiskEvent[]) {
  const original = chainedBatchPrototype.write;
  const spy = vi.spyOn(chainedBatchPrototype, "write").mockImplementation(function (
    this: { readonly length: number },
    options?: unknown,
  ) {
    const event: DiskEvent = { kind: "batch", options, completed: false };
    events?.push(event);
    if (intercept !== undefined) return intercept();
    return original.call(this, options).then(() => {
      event.completed = true;
    });
  });
  return { spy };
}

/** Index of the first event matching `predicate` at or after `from`; -1 when none. */
function indexOfEvent(events: readonly DiskEvent[], predicate: (event: DiskEvent) => boolean, from = 0): number {
  for (let i = from; i < events.length; i++) if (predicate(events[i] as DiskEvent)) return i;
  return -1;
}

/**
 * Proves the save or install whose file was renamed at `renameAt` was durable before its record:
 * every append to the temp file came before one fsync of it, the fsync before the rename, the
 * rename before an fsync of the snapshots folder, and that before a synced batch (the record).
 */
function expectDurableSequence(events: readonly DiskEvent[], renameAt: number, folder: string): void {
  const rename = events[renameAt] as Extract<DiskEvent, { kind: "rename" }>;
  let lastAppend = -1;
  for (let i = 0; i < renameAt; i++) {
    const event = events[i] as DiskEvent;
    if (event.kind === "append" && event.path === rename.path) lastAppend = i;
  }
  expect(lastAppend).toBeGreaterThan(-1);
  const syncAt = indexOfEvent(events, (event) => event.kind === "sync" && event.path === rename.path);
  expect(syncAt).toBeGreaterThan(lastAppend);
  expect(syncAt).toBeLessThan(renameAt);
  const folderSyncAt = indexOfEvent(
    events,
    (event) => event.kind === "syncDirectory" && event.path === folder,
    renameAt,
  );
  expect(folderSyncAt).toBeGreaterThan(renameAt);
  const batchAt = indexOfEvent(events, (event) => event.kind === "batch", folderSyncAt);
  expect(batchAt).toBeGreaterThan(folderSyncAt);
  expect(events[batchAt]).toMatchObject({ kind: "batch", options: { sync: true }, completed: true });
}

describe("LevelStorage snapshot durability (sync spy)", () => {
  it("fsyncs every snapshot file before its rename, the folder after it, and records it in a synced batch", async () => {
    const events: DiskEvent[] = [];
    const dir = await freshDir();
    spyBatchWrites(undefined, events);
    const storage = await LevelStorage.open(dir, { ...IDENTITY, snapshotFileSystem: spyFileSystem(events) });
    // A new data folder: its snapshots folder's name is made durable before anything goes in it.
    expect(events.filter((event) => event.kind === "syncDirectory")).toEqual([{ kind: "syncDirectory", path: dir }]);
    await storage.write({ hardState: hard(2, "n1", 8), entries: entries(1, 10, 2) });
    const folder = snapshotsOf(dir);

    let acknowledgedAt = -1;
    await storage.saveSnapshot(meta(6, 2), [bytes("six"), bytes(" data")], 6).then(() => {
      acknowledgedAt = events.length;
    });
    const saveRename = indexOfEvent(events, (event) => event.kind === "rename");
    expectDurableSequence(events, saveRename, folder);
    // Acknowledged only after the record batch completed.
    expect(acknowledgedAt).toBeGreaterThan(indexOfEvent(events, (event) => event.kind === "batch", saveRename));

    const staging = await storage.stageSnapshot(meta(20, 4));
    await staging.append(bytes("received "));
    await staging.append(bytes("state"));
    await storage.installSnapshot(staging);
    const installRename = indexOfEvent(events, (event) => event.kind === "rename", saveRename + 1);
    expectDurableSequence(events, installRename, folder);
    expect((events[installRename] as { to: string }).to).toBe(join(folder, "snapshot-20-4.snap"));
    await storage.close();

    // Every batch was synced and completed; every written file was synced before it was renamed.
    for (const event of events)
      if (event.kind === "batch") expect(event).toMatchObject({ options: { sync: true }, completed: true });
    const written = new Set(events.flatMap((event) => (event.kind === "append" ? [event.path] : [])));
    for (const path of written) {
      expect(indexOfEvent(events, (event) => event.kind === "sync" && event.path === path)).toBeGreaterThan(-1);
    }
  });
});

describe("LevelStorage snapshot failures (rule 11)", () => {
  it.each([
    ["ENOSPC while writing the data", "append", "ENOSPC"],
    ["EIO when syncing the file", "sync", "EIO"],
    ["EIO when syncing the folder", "syncDirectory", "EIO"],
  ])(
    "%s rejects with StorageIoError, removes the temp file, keeps the old snapshot and refuses later writes",
    async (_name, failing, code) => {
      const events: DiskEvent[] = [];
      let armed = false;
      const fs = spyFileSystem(events, (kind) =>
        armed && kind === failing ? Object.assign(new Error(`${code}: simulated`), { code }) : undefined,
      );
      const dir = await freshDir();
      const storage = await LevelStorage.open(dir, { ...IDENTITY, snapshotFileSystem: fs });
      await storage.write({ hardState: hard(2, "n1", 8), entries: entries(1, 10, 2) });
      await storage.saveSnapshot(meta(4, 2), [bytes("old")], 4);
      armed = true;
      const error = await rejectionOf(storage.saveSnapshot(meta(8, 2), [bytes("new "), bytes("data")], 8));
      expect(error).toMatchObject({ code: "STORAGE_IO", operation: "write", causeCode: code, storePath: dir });
      expect((await filesIn(dir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
      expect(await dataOf(storage)).toBe("old");
      const later = await rejectionOf(storage.write({ entries: [entry(11, 2)] }));
      expect(later.code).toBe("STORAGE_CLOSED");
      expect(later.message).toContain(code);
      await storage.close();
      armed = false;
      const reopened = await LevelStorage.open(dir, IDENTITY);
      const state = await reopened.load();
      expect(state.snapshot).toEqual(meta(4, 2));
      expect(indexes(state.entries)).toEqual([5, 6, 7, 8, 9, 10]);
      expect(await dataOf(reopened)).toBe("old");
      expect(await filesIn(dir)).toEqual(["snapshot-4-2.snap"]);
      await reopened.close();
    },
  );

  it("ENOSPC while receiving a snapshot rejects the append, removes the temp file and refuses the install", async () => {
    let armed = false;
    const fs = spyFileSystem([], (kind) =>
      armed && kind === "append" ? Object.assign(new Error("ENOSPC: simulated"), { code: "ENOSPC" }) : undefined,
    );
    const dir = await freshDir();
    const storage = await LevelStorage.open(dir, { ...IDENTITY, snapshotFileSystem: fs });
    await storage.write({ hardState: hard(2, "n1", 8), entries: entries(1, 10, 2) });
    const staging = await storage.stageSnapshot(meta(20, 4));
    await staging.append(bytes("first"));
    armed = true;
    expect(await rejectionOf(staging.append(bytes("second")))).toMatchObject({
      code: "STORAGE_IO",
      causeCode: "ENOSPC",
    });
    expect(await filesIn(dir)).toEqual([]);
    expect((await rejectionOf(storage.installSnapshot(staging))).code).toBe("STORAGE_CLOSED");
    await storage.close();
  });
});

describe("snapshot record codec", () => {
  const record: SnapshotRecord = {
    meta: {
      index: 2 ** 40 + 7,
      term: 9,
      config: { voters: ["n1", "n2"], outgoing: ["n3"], learners: ["n4"], addresses: { n1: "h1:1", n4: "h4:4" } },
    },
    bytes: 2 ** 33 + 1,
    checksum: 0xe3069283,
    fileName: "snapshot-1099511627783-9.snap",
  };

  it("round-trips every field, large integers and addresses included", () => {
    expect(decodeSnapshotRecord(encodeSnapshotRecord(record))).toEqual({ ok: true, value: record });
    const withoutAddresses = {
      ...record,
      meta: { ...record.meta, config: { voters: ["a"], outgoing: [], learners: [] } },
    };
    expect(decodeSnapshotRecord(encodeSnapshotRecord(withoutAddresses))).toEqual({ ok: true, value: withoutAddresses });
  });

  it("detects a flipped bit anywhere in the record, and refuses a file name with a folder in it", () => {
    const encoded = encodeSnapshotRecord(record);
    for (const at of [0, 6, 20, 30, encoded.length - 1]) {
      const damaged = Uint8Array.from(encoded);
      damaged[at] = (damaged[at] as number) ^ 0x02;
      expect(decodeSnapshotRecord(damaged).ok).toBe(false);
    }
    expect(() => encodeSnapshotRecord({ ...record, fileName: "../escape.snap" })).toThrow(RangeError);
  });
});
