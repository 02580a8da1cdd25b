import { join } from "node:path";
import type { NodeId, SnapshotMeta } from "../core/types.js";
import { openFileSnapshotReader } from "./file-snapshot-reader.js";
import { FileSnapshotStaging } from "./file-snapshot-staging.js";
import { GroupCommitQueue, type GroupCommitStats } from "./group-commit-queue.js";
import { type IndexRange, IssuedLog } from "./issued-log.js";
import { checkIdentity, validateOptions } from "./level-identity.js";
import { asBuffer, type BatchOperation, type LevelDatabase, snapshotKey } from "./level-records.js";
import { readSnapshotRecord, readVerifiedStore, type StoreLocation, type VerifiedStore } from "./level-store-reader.js";
import { storageWriteProblem } from "./memory-storage.js";
import { encodeEntry, encodeSnapshotRecord, entryKey, type SnapshotRecord } from "./record-codec.js";
import { snapshotMetaProblem } from "./snapshot.js";
import { nodeSnapshotFileSystem, type SnapshotFileSystem } from "./snapshot-file-system.js";
import {
  SnapshotFileWriter,
  snapshotFileName,
  snapshotsFolder,
  sweepSnapshotFolder,
  tempFileName,
} from "./snapshot-files.js";
import { SnapshotPins } from "./snapshot-pins.js";
import { snapshotInstallProblem, snapshotSaveProblem } from "./snapshot-rules.js";
import type {
  PersistedState,
  SnapshotChunks,
  SnapshotReader,
  SnapshotStaging,
  Storage,
  StorageWrite,
} from "./storage.js";
import {
  StorageClosedError,
  StorageCorruptionError,
  StorageError,
  StorageInvalidWriteError,
  StorageIoError,
} from "./storage-errors.js";

export { MAX_BATCH_BYTES, MAX_WRITES_PER_BATCH } from "./group-commit-queue.js";

export { LEVEL_STORAGE_FORMAT_VERSION } from "./level-identity.js";

export interface LevelStorageOptions {
  /** The cluster this node belongs to; recorded at creation and checked at every open (rule 10). */
  readonly clusterId: string;
  /** This node's id; recorded at creation and checked at every open. */
  readonly nodeId: NodeId;
  /**
   * Sync (fsync) every batch and snapshot file before acknowledging it. Default true. Only
   * throwaway tests may turn it off: without it an acknowledged write can be lost on power loss.
   */
  readonly sync?: boolean;
  /**
   * The file operations for snapshot files. Default: the local disk through `node:fs/promises`.
   * Tests wrap the default to watch every fsync or to inject failures.
   */
  readonly snapshotFileSystem?: SnapshotFileSystem;
}

/** Counters for benchmarks and tests. */
export type LevelStorageStats = GroupCommitStats;

/** Runs a file operation, turning its failure into a typed I/O error. */
async function fileIo<T>(storePath: string, operation: "open" | "read" | "write", run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageIoError(storePath, operation, error);
  }
}

/** Creates the snapshots folder if missing (making its name durable) and sweeps leftovers. */
async function prepareSnapshotFolder(
  location: StoreLocation,
  storedFile: string | undefined,
  sync: boolean,
): Promise<void> {
  const { fs, storePath, snapshotFolder } = location;
  await fileIo(storePath, "open", async () => {
    const created = await fs.makeDirectory(snapshotFolder);
    // Without this the folder's own name could vanish on power loss, taking a stored file with it.
    if (created && sync) await fs.syncDirectory(storePath);
    await sweepSnapshotFolder(fs, snapshotFolder, storedFile);
  });
}

function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  const { voters, outgoing, learners, addresses } = meta.config;
  const config = { voters: [...voters], outgoing: [...outgoing], learners: [...learners] };
  return {
    index: meta.index,
    term: meta.term,
    config: addresses === undefined ? config : { ...config, addresses: { ...addresses } },
  };
}

/** Deletes of the entry records in `range`. */
function deletesOf(range: IndexRange): BatchOperation[] {
  const operations: BatchOperation[] = [];
  for (let index = range.from; index <= range.to; index++) {
    operations.push({ type: "del", key: asBuffer(entryKey(index)) });
  }
  return operations;
}

/**
 * A durable Raft log on LevelDB (classic-level, loaded lazily so the main entry stays usable in
 * a browser). Holds the hard state, the entries, a metadata record (format version, cluster id,
 * node id) and a snapshot record; every record carries a CRC-32C over (key, index, term, bytes).
 *
 * Writes: each `write()` is validated at once (the rules of {@link storageWriteProblem}); at most
 * one LevelDB batch is in flight, and writes arriving meanwhile join the next batch (group
 * commit). A batch holds hard states and entries together and replaces the stored suffix in the
 * same atomic batch (rule 4); it is synced before any of its writes is acknowledged, and writes
 * are acknowledged in issue order. After a failed batch or snapshot file write every later write
 * is refused: a failed sync is never retried (rule 11).
 *
 * Snapshots: data files live in `snapshots/` inside the data folder. A save or a received
 * snapshot streams into a temp file (CRC-32C computed as bytes arrive, memory bounded), which is
 * fsynced, renamed to `snapshot-<index>-<term>.snap` and made durable with an fsync of the
 * folder; only then does one synced batch record it (meta, length, CRC-32C, file name) and drop
 * the compacted entries (all of them for an install). A crash before that batch leaves the old
 * snapshot in force; the unrecorded file is swept at the next open, with temp files. The old file
 * is deleted once no reader holds it. Writes issued while a save's data streams in may become
 * durable before the save's batch; the save is checked again against the log when its batch is
 * queued.
 *
 * Start-up: `open()` verifies every checksum, index contiguity up to the snapshot, non-decreasing
 * terms, commit <= last index, and that the snapshot file exists with its recorded length (its
 * checksum is verified when a reader opens it). A write torn by a crash never shows: LevelDB's
 * own log recovery drops an incomplete batch, which was never synced, hence never acknowledged.
 * Any record that fails its checksum — the last one included — throws {@link StorageCorruptionError}.
 *
 * @example
 * const storage = await LevelStorage.open("/var/lib/lectern/n1/raft", { clusterId: "lms", nodeId: "n1" });
 * const { hardState, entries } = await storage.load();
 * await storage.write({ hardState: { term: 1, vote: "n1", commit: 0 }, entries: [] });
 * await storage.close();
 */
export class LevelStorage implements Storage {
  private readonly issued: IssuedLog;
  private readonly queue: GroupCommitQueue;
  /** Set by the first failed batch or snapshot file write; every later write is refused with it as the cause. */
  private failure: StorageError | undefined = undefined;
  private closing: Promise<void> | undefined = undefined;
  /** The verified state found at open, handed out by the first load() when nothing was written since. */
  private stateAtOpen: PersistedState | undefined;
  /** The durable snapshot record, if any. */
  private snapshot: SnapshotRecord | undefined;
  private readonly pins: SnapshotPins;
  private readonly readers = new Set<SnapshotReader>();
  private readonly stagings = new Set<FileSnapshotStaging>();
  /** Saves and installs under way; close() waits for them. */
  private readonly snapshotWork = new Set<Promise<unknown>>();
  /**
   * Final file names of the saves and installs under way: two of them never rename onto one
   * name, so a refused one can never delete the file another stored.
   */
  private readonly claimedFiles = new Set<string>();
  /** Numbers the temp files of this process, so two never share a name. */
  private tempFiles = 0;

  private constructor(
    private readonly location: StoreLocation,
    private readonly sync: boolean,
    state: PersistedState,
    /** Stored entries at or below the snapshot's index (a trailing window), not in `state`. */
    window: PersistedState["entries"],
    snapshot: SnapshotRecord | undefined,
    batchesAtOpen: number,
  ) {
    this.issued = new IssuedLog(state.hardState, [...window, ...state.entries], state.snapshot);
    this.stateAtOpen = state;
    this.snapshot = snapshot;
    this.pins = new SnapshotPins(snapshot?.fileName);
    this.queue = new GroupCommitQueue(location.db, location.storePath, sync, batchesAtOpen, (failure) => {
      this.failure ??= failure;
    });
  }

  /** The data folder. */
  get path(): string {
    return this.location.storePath;
  }

  /**
   * Opens (creating if missing) the store in `directory` and verifies it.
   * @throws StorageIdentityError when the folder belongs to another cluster or node;
   * StorageCorruptionError when a record is damaged or the snapshot file is missing or has the
   * wrong size; StorageFormatError for an unknown format; StorageIoError when LevelDB cannot be
   * loaded or opened (e.g. another process holds it).
   */
  static async open(directory: string, options: LevelStorageOptions): Promise<LevelStorage> {
    validateOptions(directory, options);
    const sync = options.sync ?? true;
    let db: LevelDatabase;
    try {
      const { ClassicLevel } = await import("classic-level");
      db = new ClassicLevel<Buffer, Buffer>(directory, { keyEncoding: "buffer", valueEncoding: "buffer" });
      await db.open({ createIfMissing: true });
    } catch (error) {
      throw new StorageIoError(directory, "open", error);
    }
    const location: StoreLocation = {
      db,
      storePath: directory,
      fs: options.snapshotFileSystem ?? nodeSnapshotFileSystem,
      snapshotFolder: snapshotsFolder(directory),
    };
    try {
      const batches = (await checkIdentity(db, directory, options, sync)) === "created" ? 1 : 0;
      // The sweep runs while LevelDB's lock is held: no other process uses this folder.
      const { log, snapshot } = await readVerifiedStoreAfterSweep(location, sync);
      const state: PersistedState =
        snapshot === undefined
          ? { hardState: log.hardState, entries: log.entries }
          : { hardState: log.hardState, snapshot: snapshot.meta, entries: log.entries };
      return new LevelStorage(location, sync, state, log.window ?? [], snapshot, batches);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The durable state, verified: what a restarting node resumes from. Writes still in flight
   * are not included. With a snapshot, only the entries after it are returned.
   * @throws StorageCorruptionError when a record fails verification (nothing is returned then).
   */
  async load(): Promise<PersistedState> {
    if (this.closing !== undefined) throw new StorageClosedError(this.path, "it is closed");
    const atOpen = this.stateAtOpen;
    if (atOpen !== undefined) {
      this.stateAtOpen = undefined;
      const { hardState, snapshot } = atOpen;
      const entries = atOpen.entries.slice();
      return snapshot === undefined ? { hardState, entries } : { hardState, snapshot: copyMeta(snapshot), entries };
    }
    const { log, snapshot } = await readVerifiedStore(this.location);
    const { hardState, entries } = log;
    return snapshot === undefined ? { hardState, entries } : { hardState, snapshot: snapshot.meta, entries };
  }

  /**
   * Queues one atomic write; resolves once the batch carrying it is durable. Resolutions come in
   * issue order. Rejects with StorageInvalidWriteError for a write breaking the log's rules
   * (nothing changes), StorageIoError when the batch fails, StorageClosedError after close() or
   * after an earlier failure.
   */
  write(write: StorageWrite): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    const problem = storageWriteProblem(write, this.issued);
    if (problem !== undefined) return Promise.reject(new StorageInvalidWriteError(this.path, problem));
    let operations: BatchOperation[];
    try {
      operations = this.operationsFor(write);
    } catch (error) {
      return Promise.reject(new StorageInvalidWriteError(this.path, String((error as Error).message ?? error)));
    }
    this.stateAtOpen = undefined;
    this.issued.replaceSuffix(write.entries);
    if (write.hardState !== undefined) this.issued.hardState = write.hardState;
    const hardState = write.hardState === undefined ? undefined : { ...write.hardState };
    return this.queue.enqueue({ operations, hardState, writeEntries: write.entries.length });
  }

  /**
   * Stores a snapshot taken at `meta.index`, streaming `data` into a temp file (the producer may
   * reuse a chunk's buffer once the next chunk is asked for), then records it and drops the
   * entries up to `compactTo` in one synced batch; the previous snapshot's file is deleted once
   * no reader holds it. Rejects with StorageInvalidWriteError when the save breaks the log's rules
   * (checked at once and again when the data has ended), StorageIoError when a file operation or
   * the batch fails (the previous snapshot stays in force), the producer's own error when `data`
   * throws, StorageClosedError after close().
   */
  saveSnapshot(meta: SnapshotMeta, data: SnapshotChunks, compactTo: number): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    const problem = snapshotSaveProblem(meta, compactTo, this.issued) ?? this.claimProblem(meta);
    if (problem !== undefined) return Promise.reject(this.invalid("snapshot save", problem));
    return this.track(meta, () => this.saveSnapshotNow(copyMeta(meta), data, compactTo));
  }

  /**
   * Starts receiving a snapshot from the leader into a temp file in the snapshots folder.
   * Rejects with StorageInvalidWriteError for an invalid meta, StorageIoError when the file
   * cannot be created.
   */
  async stageSnapshot(meta: SnapshotMeta): Promise<SnapshotStaging> {
    const refusal = this.refusal();
    if (refusal !== undefined) throw refusal;
    const problem = snapshotMetaProblem(meta);
    if (problem !== undefined) throw this.invalid("snapshot staging", problem);
    const own = copyMeta(meta);
    const writer = await this.createTempFile(own);
    for (const staging of this.stagings) if (!staging.isOpen) this.stagings.delete(staging);
    const staging = new FileSnapshotStaging(own, this, writer, this.path, (failure) => this.fail(failure));
    this.stagings.add(staging);
    return staging;
  }

  /**
   * Makes a complete staging of this storage the stored snapshot: fsync, rename and folder fsync
   * of its file, then one synced batch records it and deletes every entry. The hard state is
   * untouched. Rejects with StorageInvalidWriteError for a staging of another storage, a
   * discarded or installed one, or a snapshot not past the stored commit index (rule 9).
   */
  installSnapshot(staging: SnapshotStaging): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    const problem =
      staging instanceof FileSnapshotStaging
        ? (staging.installProblem(this) ??
          snapshotInstallProblem(staging.meta, this.issued) ??
          this.claimProblem(staging.meta))
        : "the snapshot staging belongs to another storage";
    if (problem !== undefined) return Promise.reject(this.invalid("snapshot install", problem));
    return this.track(staging.meta, () => this.installSnapshotNow(staging as FileSnapshotStaging));
  }

  /**
   * Opens the stored snapshot's file for reading; undefined when none is stored. The whole file
   * is read once here and checked against the recorded length and CRC-32C, so a damaged file
   * rejects with StorageCorruptionError before any of its bytes is handed out. The file stays
   * readable until the reader closes, even after a newer snapshot replaced it (pinned).
   */
  async openSnapshot(): Promise<SnapshotReader | undefined> {
    if (this.closing !== undefined) throw new StorageClosedError(this.path, "it is closed");
    const record = this.snapshot;
    if (record === undefined) return undefined;
    const name = record.fileName;
    this.pins.pin(name);
    const holder: { reader?: SnapshotReader } = {};
    const reader = await openFileSnapshotReader({
      fs: this.location.fs,
      path: join(this.location.snapshotFolder, name),
      storePath: this.path,
      record,
      onClose: () => {
        if (holder.reader !== undefined) this.readers.delete(holder.reader);
        return this.removeFile(this.pins.unpin(name));
      },
    });
    holder.reader = reader;
    this.readers.add(reader);
    return reader;
  }

  /**
   * Waits for queued writes and snapshot work to settle (a save still streaming its data stops
   * with StorageClosedError), closes every open snapshot reader, discards open stagings, then
   * closes the database. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing === undefined) this.closing = this.closeNow();
    return this.closing;
  }

  stats(): LevelStorageStats {
    return this.queue.stats();
  }

  private async closeNow(): Promise<void> {
    await Promise.allSettled([...this.snapshotWork]);
    await this.queue.whenIdle();
    await Promise.allSettled([...this.readers].map((reader) => reader.close()));
    await Promise.allSettled([...this.stagings].map((staging) => staging.discard()));
    try {
      await this.location.db.close();
    } catch (error) {
      throw new StorageIoError(this.path, "close", error);
    }
  }

  private async saveSnapshotNow(meta: SnapshotMeta, data: SnapshotChunks, compactTo: number): Promise<void> {
    const writer = await this.createTempFile(meta);
    const fileName = snapshotFileName(meta);
    try {
      for await (const chunk of data) {
        if (this.closing !== undefined) throw new StorageClosedError(this.path, "it closed while a snapshot was saved");
        if (!(chunk instanceof Uint8Array)) throw this.invalid("snapshot save", "a snapshot chunk is not a Uint8Array");
        await this.fileWrite(() => writer.append(chunk));
      }
      await this.fileWrite(() => writer.commit(fileName, this.sync));
    } catch (error) {
      await writer.abort();
      throw error;
    }
    // The log may have moved while the data streamed in: check the save again on it as it is now.
    // A failure meanwhile refuses it; a close() meanwhile does not (close waits for this work).
    if (this.failure !== undefined) {
      await this.removeFile(fileName);
      throw this.refusal();
    }
    const problem = snapshotSaveProblem(meta, compactTo, this.issued);
    if (problem !== undefined) {
      await this.removeFile(fileName);
      throw this.invalid("snapshot save", problem);
    }
    const deletes = deletesOf(this.issued.compact(meta, compactTo));
    this.stateAtOpen = undefined;
    await this.recordSnapshot({ meta, bytes: writer.bytes, checksum: writer.checksum, fileName }, deletes);
  }

  private async installSnapshotNow(staging: FileSnapshotStaging): Promise<void> {
    const writer = await staging.take(this);
    const meta = staging.meta;
    const fileName = snapshotFileName(meta);
    try {
      await this.fileWrite(() => writer.commit(fileName, this.sync));
    } catch (error) {
      await writer.abort();
      throw error;
    }
    // A failure meanwhile refuses it; a close() meanwhile does not (close waits for this work).
    if (this.failure !== undefined) {
      await this.removeFile(fileName);
      throw this.refusal();
    }
    const problem = snapshotInstallProblem(meta, this.issued);
    if (problem !== undefined) {
      await this.removeFile(fileName);
      throw this.invalid("snapshot install", problem);
    }
    const deletes = deletesOf(this.issued.install(meta));
    this.stateAtOpen = undefined;
    await this.recordSnapshot({ meta, bytes: writer.bytes, checksum: writer.checksum, fileName }, deletes);
  }

  /**
   * One synced batch: the snapshot record and the deletes of the entries it replaces. Once it is
   * durable the new file is the stored one and the old file goes when no reader holds it.
   */
  private async recordSnapshot(record: SnapshotRecord, deletes: BatchOperation[]): Promise<void> {
    const operations: BatchOperation[] = [
      { type: "put", key: snapshotKey(), value: asBuffer(encodeSnapshotRecord(record)) },
      ...deletes,
    ];
    let retired: string | undefined;
    await this.queue.enqueue({
      operations,
      hardState: undefined,
      writeEntries: undefined,
      onDurable: () => {
        this.snapshot = record;
        retired = this.pins.replace(record.fileName);
      },
    });
    await this.removeFile(retired);
  }

  private async createTempFile(meta: SnapshotMeta): Promise<SnapshotFileWriter> {
    const { fs, snapshotFolder } = this.location;
    const name = tempFileName(meta, ++this.tempFiles);
    return this.fileWrite(() => SnapshotFileWriter.create(fs, snapshotFolder, name));
  }

  /** Runs a snapshot file write; a failure is a StorageIoError and refuses every later write (rule 11). */
  private async fileWrite<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof StorageError) throw error;
      const failure = new StorageIoError(this.path, "write", error);
      this.fail(failure);
      throw failure;
    }
  }

  private fail(failure: StorageError): void {
    this.failure ??= failure;
  }

  /** Deletes a snapshot file that is no longer needed, best-effort: a leftover is swept at the next open. */
  private removeFile(name: string | undefined): Promise<void> {
    if (name === undefined) return Promise.resolve();
    return this.location.fs.remove(join(this.location.snapshotFolder, name)).catch(() => undefined);
  }

  /** Why no save or install of `meta` may start now (one is under way), or undefined. */
  private claimProblem(meta: SnapshotMeta): string | undefined {
    const name = snapshotFileName(meta);
    if (!this.claimedFiles.has(name) && name !== this.pins.storedFile) return undefined;
    return `a snapshot at index ${meta.index} term ${meta.term} is already being stored`;
  }

  /** Runs a save or install of `meta`, claiming its file name and letting close() wait for it. */
  private track(meta: SnapshotMeta, run: () => Promise<void>): Promise<void> {
    const name = snapshotFileName(meta);
    this.claimedFiles.add(name);
    const work = run();
    this.snapshotWork.add(work);
    const forget = () => {
      this.snapshotWork.delete(work);
      this.claimedFiles.delete(name);
    };
    work.then(forget, forget);
    return work;
  }

  private invalid(operation: string, problem: string): StorageInvalidWriteError {
    return new StorageInvalidWriteError(this.path, `${operation}: ${problem}`);
  }

  private refusal(): StorageError | undefined {
    if (this.failure !== undefined) {
      return new StorageClosedError(
        this.path,
        `an earlier write failed and failed syncs are never retried (${this.failure.message})`,
        { cause: this.failure },
      );
    }
    if (this.closing !== undefined) return new StorageClosedError(this.path, "it is closed");
    return undefined;
  }

  /** The puts and deletes of one write, computed against the issued log before it applies. */
  private operationsFor(write: StorageWrite): BatchOperation[] {
    const operations: BatchOperation[] = [];
    const entries = write.entries;
    const last = entries[entries.length - 1];
    if (last === undefined) return operations;
    for (const entry of entries) {
      const key = entryKey(entry.index);
      operations.push({ type: "put", key: asBuffer(key), value: asBuffer(encodeEntry(key, entry)) });
    }
    // Truncation and append in one batch (rule 4): drop stored entries past the new last index.
    operations.push(...deletesOf({ from: last.index + 1, to: this.issued.lastStoredIndex }));
    return operations;
  }
}

/**
 * Prepares the snapshots folder, sweeping everything but the recorded file, then verifies the
 * store. A damaged snapshot record throws before anything is swept: its file is kept.
 */
async function readVerifiedStoreAfterSweep(location: StoreLocation, sync: boolean): Promise<VerifiedStore> {
  const record = await readSnapshotRecord(location);
  await prepareSnapshotFolder(location, record?.fileName, sync);
  // No torn tails at this level: LevelDB's write-ahead log checksums each batch and drops an
  // incomplete one at recovery, so a record we wrote is there whole or not at all. A record that
  // fails its checksum is damage (bit rot, a bad sector) even if it is the last one: an
  // acknowledged entry must never be dropped silently (the commit index is written lazily and
  // cannot tell an acknowledged last entry from an unacknowledged one).
  return readVerifiedStore(location);
}
