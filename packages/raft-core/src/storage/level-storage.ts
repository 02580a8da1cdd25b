import type { ClassicLevel } from "classic-level";
import type { Entry, HardState, NodeId } from "../core/types.js";
import { FIRST_LOG_INDEX, type RawRecord, verifyLog } from "./log-verifier.js";
import { type LogPosition, storageWriteProblem } from "./memory-storage.js";
import {
  decodeMetadata,
  ENTRY_KEY_RANGE,
  encodeEntry,
  encodeHardState,
  encodeMetadata,
  entryKey,
  HARD_STATE_KEY,
  METADATA_KEY,
} from "./record-codec.js";
import type { PersistedState, Storage, StorageWrite } from "./storage.js";
import {
  StorageClosedError,
  StorageCorruptionError,
  StorageError,
  StorageFormatError,
  StorageIdentityError,
  StorageInvalidWriteError,
  StorageIoError,
} from "./storage-errors.js";

/** The key layout and record encoding this version writes and reads (see record-codec.ts). */
export const LEVEL_STORAGE_FORMAT_VERSION = 1;
/** Most writes one synced batch carries; the rest wait for the next batch. */
export const MAX_WRITES_PER_BATCH = 1024;
/** Most encoded bytes one batch carries (a single larger write still goes alone). */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** Records fetched per iterator step at load. */
const LOAD_CHUNK_RECORDS = 1024;

/**
 * Keys and values cross into LevelDB as Buffers ("buffer" encoding) through chained batches: on
 * classic-level 3 that costs about 4 us per operation against about 25 us for an array batch
 * of Uint8Arrays, and the per-operation cost is what limits a synced batch of many entries.
 */
type LevelDatabase = ClassicLevel<Buffer, Buffer>;
type BatchOperation =
  | { readonly type: "put"; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: "del"; readonly key: Buffer };

/** A Buffer sharing `bytes`' memory (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array over a Buffer's memory, so callers never receive Buffers. */
function asPlainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Functions rather than constants: importing this module must not touch Node's Buffer.
const hardStateKey = (): Buffer => asBuffer(HARD_STATE_KEY);
const metadataKey = (): Buffer => asBuffer(METADATA_KEY);
const entryKeyRange = () => ({ gte: asBuffer(ENTRY_KEY_RANGE.gte), lt: asBuffer(ENTRY_KEY_RANGE.lt) });

/** Writes `operations` as one atomic LevelDB batch; with `sync`, it resolves only once fsynced. */
function commitBatch(db: LevelDatabase, operations: readonly BatchOperation[], sync: boolean): Promise<void> {
  const batch = db.batch();
  try {
    for (const operation of operations) {
      if (operation.type === "put") batch.put(operation.key, operation.value);
      else batch.del(operation.key);
    }
  } catch (error) {
    void batch.close();
    throw error;
  }
  return batch.write({ sync });
}

export interface LevelStorageOptions {
  /** The cluster this node belongs to; recorded at creation and checked at every open (rule 10). */
  readonly clusterId: string;
  /** This node's id; recorded at creation and checked at every open. */
  readonly nodeId: NodeId;
  /**
   * Sync (fsync) every batch before acknowledging it. Default true. Only throwaway tests may turn
   * it off: without it an acknowledged write can be lost on power loss.
   */
  readonly sync?: boolean;
}

/** Counters for benchmarks and tests. */
export interface LevelStorageStats {
  /** Batches written to LevelDB (synced when `sync` is on), metadata and repairs included. */
  readonly batches: number;
  /** `write()` calls acknowledged durable. */
  readonly acknowledgedWrites: number;
  /** Entries in acknowledged writes. */
  readonly acknowledgedEntries: number;
}

/** A validated write waiting for, or riding in, a batch. */
interface QueuedWrite {
  /** Entry puts and truncating deletes, in order. */
  readonly operations: readonly BatchOperation[];
  /** Only the last hard state of a batch is written: earlier ones would be overwritten in it. */
  readonly hardState: HardState | undefined;
  readonly entryCount: number;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** The log as it will be once every accepted write is durable; new writes are validated on it. */
class IssuedLog implements LogPosition {
  readonly firstIndex = FIRST_LOG_INDEX;
  /** terms[i] is the term of index FIRST_LOG_INDEX + i. */
  private readonly terms: number[];
  constructor(
    public hardState: HardState,
    entries: readonly Entry[],
  ) {
    this.terms = entries.map((entry) => entry.term);
  }
  get lastIndex(): number {
    return this.firstIndex + this.terms.length - 1;
  }
  termAt(index: number): number | undefined {
    return this.terms[index - this.firstIndex];
  }
  /** Entries from `entries[0].index` on replace the suffix (rule 4). */
  replaceSuffix(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    this.terms.length = first.index - this.firstIndex;
    for (const entry of entries) this.terms.push(entry.term);
  }
}

async function readAll(db: LevelDatabase): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  const iterator = db.iterator(entryKeyRange());
  try {
    for (;;) {
      const chunk = await iterator.nextv(LOAD_CHUNK_RECORDS);
      if (chunk.length === 0) return records;
      for (const [key, value] of chunk) records.push({ key: asPlainBytes(key), value: asPlainBytes(value) });
    }
  } finally {
    await iterator.close();
  }
}

/** Runs a read, turning a database failure into a typed error (typed errors pass through). */
async function reading<T>(storePath: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageIoError(storePath, "read", error);
  }
}

/**
 * Checks that the folder belongs to this cluster and node, recording both (and the format
 * version) in a new folder.
 */
async function checkIdentity(
  db: LevelDatabase,
  storePath: string,
  options: LevelStorageOptions,
  sync: boolean,
): Promise<"created" | "matched"> {
  const stored = await reading(storePath, () => db.get(metadataKey()));
  if (stored === undefined) {
    const anyKey = await reading(storePath, () => db.keys({ limit: 1 }).all());
    if (anyKey.length > 0) {
      throw new StorageCorruptionError(storePath, "metadata", undefined, "it is missing but the store holds data");
    }
    const metadata = encodeMetadata({ formatVersion: LEVEL_STORAGE_FORMAT_VERSION, ...identityOf(options) });
    await writeBatch(db, storePath, [{ type: "put", key: metadataKey(), value: asBuffer(metadata) }], sync);
    return "created";
  }
  const decoded = decodeMetadata(asPlainBytes(stored));
  if (!decoded.ok) throw new StorageCorruptionError(storePath, "metadata", undefined, decoded.problem);
  const found = decoded.value;
  if (found.formatVersion !== LEVEL_STORAGE_FORMAT_VERSION) {
    throw new StorageFormatError(storePath, found.formatVersion, LEVEL_STORAGE_FORMAT_VERSION);
  }
  if (found.clusterId !== options.clusterId || found.nodeId !== options.nodeId) {
    throw new StorageIdentityError(storePath, identityOf(options), found);
  }
  return "matched";
}

function identityOf(options: LevelStorageOptions): { clusterId: string; nodeId: string } {
  return { clusterId: options.clusterId, nodeId: options.nodeId };
}

async function writeBatch(db: LevelDatabase, storePath: string, operations: BatchOperation[], sync: boolean) {
  try {
    await commitBatch(db, operations, sync);
  } catch (error) {
    throw new StorageIoError(storePath, "write", error);
  }
}

function validateOptions(directory: string, options: LevelStorageOptions): void {
  if (typeof directory !== "string" || directory === "") throw new TypeError("directory must be a non-empty path");
  if (typeof options?.clusterId !== "string" || options.clusterId === "") {
    throw new TypeError("options.clusterId must be a non-empty string");
  }
  if (typeof options.nodeId !== "string" || options.nodeId === "") {
    throw new TypeError("options.nodeId must be a non-empty string");
  }
}

/**
 * A durable Raft log on LevelDB (classic-level, loaded lazily so the main entry stays usable in
 * a browser). Holds the hard state, the entries and a metadata record (format version, cluster
 * id, node id); every record carries a CRC-32C over (key, index, term, bytes).
 *
 * Writes: each `write()` is validated at once (the rules of {@link storageWriteProblem}); at most
 * one LevelDB batch is in flight, and writes arriving meanwhile join the next batch (group
 * commit). A batch holds hard states and entries together and replaces the stored suffix in the
 * same atomic batch (rule 4); it is synced before any of its writes is acknowledged, and writes
 * are acknowledged in issue order. After a failed batch every later write is refused: a failed
 * sync is never retried (rule 11).
 *
 * Start-up: `open()` verifies every checksum, index contiguity, non-decreasing terms and
 * commit <= last index. A damaged last entry is a torn, never-acknowledged write and is removed;
 * anything else damaged throws {@link StorageCorruptionError}.
 *
 * @example
 * const storage = await LevelStorage.open("/var/lib/lectern/n1/raft", { clusterId: "lms", nodeId: "n1" });
 * const { hardState, entries } = await storage.load();
 * await storage.write({ hardState: { term: 1, vote: "n1", commit: 0 }, entries: [] });
 * await storage.close();
 */
export class LevelStorage implements Storage {
  private readonly issued: IssuedLog;
  private readonly queue: QueuedWrite[] = [];
  private inflight: readonly QueuedWrite[] | undefined = undefined;
  /** Set by the first failed batch; every later write is refused with it as the cause. */
  private failure: StorageError | undefined = undefined;
  private closing: Promise<void> | undefined = undefined;
  /** Resolves `close()` once the queue has drained. */
  private onIdle: (() => void) | undefined = undefined;
  /** The verified state found at open, handed out by the first load() when nothing was written since. */
  private stateAtOpen: PersistedState | undefined;
  private batches: number;
  private acknowledgedWrites = 0;
  private acknowledgedEntries = 0;

  private constructor(
    private readonly db: LevelDatabase,
    /** The data folder. */
    readonly path: string,
    private readonly sync: boolean,
    state: PersistedState,
    batchesAtOpen: number,
  ) {
    this.issued = new IssuedLog(state.hardState, state.entries);
    this.stateAtOpen = state;
    this.batches = batchesAtOpen;
  }

  /**
   * Opens (creating if missing) the store in `directory` and verifies it.
   * @throws StorageIdentityError when the folder belongs to another cluster or node;
   * StorageCorruptionError when a record is damaged; StorageFormatError for an unknown format;
   * StorageIoError when LevelDB cannot be loaded or opened (e.g. another process holds it).
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
    try {
      let batches = (await checkIdentity(db, directory, options, sync)) === "created" ? 1 : 0;
      const hardStateValue = await reading(directory, () => db.get(hardStateKey()));
      const records = await reading(directory, () => readAll(db));
      const verified = verifyLog(hardStateValue && asPlainBytes(hardStateValue), records, {
        storePath: directory,
        allowTornTail: true,
      });
      if (verified.tornIndex !== undefined) {
        // The torn record was never acknowledged: remove it so later loads see a clean log.
        await writeBatch(db, directory, [{ type: "del", key: asBuffer(entryKey(verified.tornIndex)) }], sync);
        batches++;
      }
      return new LevelStorage(
        db,
        directory,
        sync,
        { hardState: verified.hardState, entries: verified.entries },
        batches,
      );
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The durable state, verified: what a restarting node resumes from. Writes still in flight
   * are not included.
   * @throws StorageCorruptionError when a record fails verification (nothing is returned then).
   */
  async load(): Promise<PersistedState> {
    if (this.closing !== undefined) throw new StorageClosedError(this.path, "it is closed");
    const atOpen = this.stateAtOpen;
    if (atOpen !== undefined) {
      this.stateAtOpen = undefined;
      return { hardState: atOpen.hardState, entries: atOpen.entries.slice() };
    }
    const hardStateValue = await reading(this.path, () => this.db.get(hardStateKey()));
    const records = await reading(this.path, () => readAll(this.db));
    const { hardState, entries } = verifyLog(hardStateValue && asPlainBytes(hardStateValue), records, {
      storePath: this.path,
      allowTornTail: false,
    });
    return { hardState, entries };
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
    return new Promise<void>((resolve, reject) => {
      let bytes = 0;
      for (const operation of operations)
        bytes += operation.key.length + (operation.type === "put" ? operation.value.length : 0);
      const hardState = write.hardState === undefined ? undefined : { ...write.hardState };
      this.queue.push({ operations, hardState, entryCount: write.entries.length, bytes, resolve, reject });
      if (this.inflight === undefined) this.startBatch();
    });
  }

  /** Waits for queued writes to settle, then closes the database. Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const drained =
        this.inflight === undefined ? Promise.resolve() : new Promise<void>((resolve) => (this.onIdle = resolve));
      this.closing = drained.then(() => this.closeDatabase());
    }
    return this.closing;
  }

  stats(): LevelStorageStats {
    return {
      batches: this.batches,
      acknowledgedWrites: this.acknowledgedWrites,
      acknowledgedEntries: this.acknowledgedEntries,
    };
  }

  private async closeDatabase(): Promise<void> {
    try {
      await this.db.close();
    } catch (error) {
      throw new StorageIoError(this.path, "close", error);
    }
  }

  private refusal(): StorageError | undefined {
    if (this.failure !== undefined) {
      return new StorageClosedError(
        this.path,
        `an earlier write failed and failed syncs are never retried (${this.failure.message})`,
        {
          cause: this.failure,
        },
      );
    }
    if (this.closing !== undefined) return new StorageClosedError(this.path, "it is closed");
    return undefined;
  }

  /** The puts and deletes of one write, computed against the issued log before it applies. */
  private operationsFor(write: StorageWrite): BatchOperation[] {
    const operations: BatchOperation[] = [];
    const entries = write.entries;
    if (entries.length > 0) {
      for (const entry of entries) {
        const key = entryKey(entry.index);
        operations.push({ type: "put", key: asBuffer(key), value: asBuffer(encodeEntry(key, entry)) });
      }
      // Truncation and append in one batch (rule 4): drop stored entries past the new last index.
      const newLast = (entries[entries.length - 1] as Entry).index;
      for (let index = newLast + 1; index <= this.issued.lastIndex; index++) {
        operations.push({ type: "del", key: asBuffer(entryKey(index)) });
      }
    }
    return operations;
  }

  /** Takes the queued writes that fit one batch, in order (at least one). */
  private takeGroup(): QueuedWrite[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < MAX_WRITES_PER_BATCH) {
      const next = this.queue[count] as QueuedWrite;
      if (count > 0 && bytes + next.bytes > MAX_BATCH_BYTES) break;
      bytes += next.bytes;
      count++;
    }
    return this.queue.splice(0, count);
  }

  private startBatch(): void {
    const group = this.takeGroup();
    this.inflight = group;
    const operations: BatchOperation[] = [];
    let hardState: HardState | undefined;
    for (const queued of group) {
      for (const operation of queued.operations) operations.push(operation);
      hardState = queued.hardState ?? hardState;
    }
    if (hardState !== undefined) {
      operations.push({ type: "put", key: hardStateKey(), value: asBuffer(encodeHardState(hardState)) });
    }
    let pending: Promise<void>;
    try {
      pending = commitBatch(this.db, operations, this.sync);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      () => this.batchDurable(group),
      (error: unknown) => this.batchFailed(group, error),
    );
  }

  private batchDurable(group: readonly QueuedWrite[]): void {
    this.batches++;
    this.inflight = undefined;
    if (this.queue.length > 0) this.startBatch();
    for (const queued of group) {
      this.acknowledgedWrites++;
      this.acknowledgedEntries += queued.entryCount;
      queued.resolve();
    }
    if (this.inflight === undefined) this.becameIdle();
  }

  private batchFailed(group: readonly QueuedWrite[], cause: unknown): void {
    const failure = new StorageIoError(this.path, "write", cause);
    this.failure = failure;
    this.inflight = undefined;
    const lost = this.queue.splice(0, this.queue.length);
    for (const queued of group) queued.reject(failure);
    for (const queued of lost)
      queued.reject(
        new StorageClosedError(this.path, `an earlier write failed (${failure.message})`, { cause: failure }),
      );
    this.becameIdle();
  }

  private becameIdle(): void {
    const onIdle = this.onIdle;
    this.onIdle = undefined;
    onIdle?.();
  }
}
