import type { HardState } from "../core/types.js";
import { asBuffer, type BatchOperation, commitBatch, hardStateKey, type LevelDatabase } from "./level-records.js";
import { encodeHardState } from "./record-codec.js";
import { StorageClosedError, StorageIoError } from "./storage-errors.js";

/** Most parts one synced batch carries; the rest wait for the next batch. */
export const MAX_WRITES_PER_BATCH = 1024;
/** Most encoded bytes one batch carries (a single larger part still goes alone). */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/** One validated write (or snapshot record) waiting for, or riding in, a batch. */
export interface BatchPart {
  /** Puts and deletes, in order. */
  readonly operations: readonly BatchOperation[];
  /** Only the last hard state of a batch is written: earlier ones would be overwritten in it. */
  readonly hardState: HardState | undefined;
  /** Entries of a `write()`; undefined for a part that is not a `write()` (a snapshot record). */
  readonly writeEntries: number | undefined;
  /** Runs once the part is durable, before its promise resolves. */
  readonly onDurable?: () => void;
}

interface Queued extends BatchPart {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Counters for benchmarks and tests. */
export interface GroupCommitStats {
  /** Batches written to LevelDB (synced when `sync` is on), metadata and repairs included. */
  readonly batches: number;
  /** `write()` calls acknowledged durable. */
  readonly acknowledgedWrites: number;
  /** Entries in acknowledged writes. */
  readonly acknowledgedEntries: number;
}

/**
 * At most one LevelDB batch in flight; parts queued meanwhile join the next batch (group
 * commit), in order, and are acknowledged in order once their batch is durable. The first failed
 * batch fails the queue for good: its parts reject with the I/O error, every queued and later
 * part with a closed error (a failed sync is never retried, rule 11).
 */
export class GroupCommitQueue {
  private readonly queue: Queued[] = [];
  private inflight = false;
  private failed: StorageIoError | undefined;
  private idleWaiters: (() => void)[] = [];
  private batches: number;
  private acknowledgedWrites = 0;
  private acknowledgedEntries = 0;

  constructor(
    private readonly db: LevelDatabase,
    private readonly storePath: string,
    private readonly sync: boolean,
    /** Batches already written at open (metadata, repairs). */
    batchesAtOpen: number,
    /** Told about the failed batch, once. */
    private readonly onFailure: (failure: StorageIoError) => void,
  ) {
    this.batches = batchesAtOpen;
  }

  /** Queues `part`; resolves once the batch carrying it is durable. */
  enqueue(part: BatchPart): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.closedBy(this.failed));
    return new Promise<void>((resolve, reject) => {
      let bytes = 0;
      for (const operation of part.operations) {
        bytes += operation.key.length + (operation.type === "put" ? operation.value.length : 0);
      }
      this.queue.push({ ...part, bytes, resolve, reject });
      if (!this.inflight) this.startBatch();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this.inflight) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Counts a batch written outside the queue (at open). */
  countBatch(): void {
    this.batches++;
  }

  stats(): GroupCommitStats {
    return {
      batches: this.batches,
      acknowledgedWrites: this.acknowledgedWrites,
      acknowledgedEntries: this.acknowledgedEntries,
    };
  }

  private closedBy(failure: StorageIoError): StorageClosedError {
    return new StorageClosedError(this.storePath, `an earlier write failed (${failure.message})`, { cause: failure });
  }

  /** Takes the queued parts that fit one batch, in order (at least one). */
  private takeGroup(): Queued[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < MAX_WRITES_PER_BATCH) {
      const next = this.queue[count] as Queued;
      if (count > 0 && bytes + next.bytes > MAX_BATCH_BYTES) break;
      bytes += next.bytes;
      count++;
    }
    return this.queue.splice(0, count);
  }

  private startBatch(): void {
    const group = this.takeGroup();
    this.inflight = true;
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

  private batchDurable(group: readonly Queued[]): void {
    this.batches++;
    this.inflight = false;
    if (this.queue.length > 0) this.startBatch();
    for (const queued of group) {
      if (queued.writeEntries !== undefined) {
        this.acknowledgedWrites++;
        this.acknowledgedEntries += queued.writeEntries;
      }
      queued.onDurable?.();
      queued.resolve();
    }
    if (!this.inflight) this.becameIdle();
  }

  private batchFailed(group: readonly Queued[], cause: unknown): void {
    const failure = new StorageIoError(this.storePath, "write", cause);
    this.failed = failure;
    this.inflight = false;
    this.onFailure(failure);
    const lost = this.queue.splice(0, this.queue.length);
    for (const queued of group) queued.reject(failure);
    for (const queued of lost) queued.reject(this.closedBy(failure));
    this.becameIdle();
  }

  private becameIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
