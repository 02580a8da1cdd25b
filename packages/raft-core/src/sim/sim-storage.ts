import type { SnapshotMeta } from "../core/types.js";
import type { TimerHandle } from "../runtime/clock.js";
import { MemoryStorage } from "../storage/memory-storage.js";
import type { PersistedState, Storage, StorageWrite, StoredSnapshot } from "../storage/storage.js";
import type { Prng } from "./prng.js";
import type { VirtualClock } from "./virtual-clock.js";

export const DEFAULT_MIN_SYNC_MS = 1;
export const DEFAULT_MAX_SYNC_MS = 5;

export interface SimStorageOptions {
  /** Smallest simulated sync latency, inclusive. Default {@link DEFAULT_MIN_SYNC_MS}. */
  readonly minSyncMs?: number;
  /** Largest simulated sync latency, inclusive. Default {@link DEFAULT_MAX_SYNC_MS}. */
  readonly maxSyncMs?: number;
  /** What the disk holds at creation (validated); empty by default. */
  readonly initial?: PersistedState;
  /** The data of `initial.snapshot`, required with it. */
  readonly initialSnapshotData?: readonly Uint8Array[];
}

/** One atomic durable operation: a log write, a snapshot save (with compaction) or a snapshot install. */
type DiskOperation =
  | { readonly kind: "write"; readonly write: StorageWrite }
  | {
      readonly kind: "saveSnapshot";
      readonly meta: SnapshotMeta;
      readonly data: readonly Uint8Array[];
      readonly compactTo: number;
    }
  | { readonly kind: "installSnapshot"; readonly meta: SnapshotMeta; readonly data: readonly Uint8Array[] };

/** An operation issued but not yet durable. */
interface InflightWrite {
  readonly operation: DiskOperation;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** Set by `failNextWrite`: the sync fails with this error and the operation is not applied. */
  readonly failure: Error | undefined;
  timer: TimerHandle | undefined;
}

/**
 * A simulated disk on a virtual clock. A write becomes durable after a sync latency drawn from
 * [minSyncMs, maxSyncMs], and writes become durable in issue order (a later write never lands
 * before an earlier one), so what is durable is always a prefix of what was issued.
 *
 * Snapshot saves (with their compaction) and installs are atomic operations in the same queue as
 * log writes: they become durable in issue order with the writes, and a crash keeps or loses each
 * of them whole, with the same prefix rule.
 *
 * `crash()` models power loss: a random prefix of the in-flight operations (in issue order, never
 * a subset with holes) reaches the disk, the rest is lost, and none of their promises ever
 * settles. The storage object is the disk and outlives the crash: the restarted node calls
 * `load()` on it.
 *
 * @example
 * const disk = new SimStorage(clock, Prng.fromSeed(1).fork("disk:n1"));
 * const done = disk.write({ hardState: { term: 1, vote: "n1", commit: 0 }, entries: [] });
 * await clock.runUntil(clock.now() + 10); // `done` has resolved
 */
export class SimStorage implements Storage {
  /** Log writes acknowledged durable (their promise resolved); writes kept by a crash do not count. */
  syncedWrites = 0;
  /** Snapshot saves and installs acknowledged durable. */
  syncedSnapshots = 0;
  /** Virtual time of the latest `write` call, or -1 before the first. */
  lastWriteIssuedAt = -1;
  private readonly durable: MemoryStorage;
  /** In issue order; `inflight[inflightHead]` is the next to become durable. */
  private inflight: (InflightWrite | undefined)[] = [];
  private inflightHead = 0;
  /** Completion time of the newest in-flight operation: syncs complete in issue order. */
  private lastCompletionAtMs = 0;
  private pendingFailure: Error | undefined = undefined;
  private readonly minSyncMs: number;
  private readonly maxSyncMs: number;

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Prng,
    options: SimStorageOptions = {},
  ) {
    this.minSyncMs = options.minSyncMs ?? DEFAULT_MIN_SYNC_MS;
    this.maxSyncMs = options.maxSyncMs ?? DEFAULT_MAX_SYNC_MS;
    if (!Number.isSafeInteger(this.minSyncMs) || this.minSyncMs < 0) {
      throw new RangeError(`minSyncMs must be a non-negative integer, got ${this.minSyncMs}`);
    }
    if (!Number.isSafeInteger(this.maxSyncMs) || this.maxSyncMs < this.minSyncMs) {
      throw new RangeError(`maxSyncMs must be an integer >= minSyncMs, got ${this.maxSyncMs}`);
    }
    this.durable = new MemoryStorage(options.initial, options.initialSnapshotData);
  }

  /** The durable state (copies of the stored arrays): the snapshot's meta and the entries after it. */
  load(): Promise<PersistedState> {
    return Promise.resolve(this.durable.loadSync());
  }

  /** Synchronous view of the durable state, for checkers (copies). In-flight operations are not included. */
  durableState(): PersistedState {
    return this.durable.loadSync();
  }

  /** The durable snapshot and its data, or undefined; in-flight saves and installs are not included. */
  loadSnapshot(): Promise<StoredSnapshot | undefined> {
    return Promise.resolve(this.durable.loadSnapshotSync());
  }

  /**
   * Issues one atomic write; the promise resolves once it is durable. An invalid write (see
   * `storageWriteProblem`) rejects at its sync time and changes nothing.
   */
  write(write: StorageWrite): Promise<void> {
    this.lastWriteIssuedAt = this.clock.now();
    return this.issue({ kind: "write", write });
  }

  /**
   * Issues a snapshot save: at its sync time the snapshot replaces the stored one and the entries
   * up to `compactTo` are dropped, atomically. The data is copied now, so the caller may reuse its
   * buffers. An invalid save (see `MemoryStorage.saveSnapshotSync`) rejects and changes nothing.
   */
  saveSnapshot(meta: SnapshotMeta, data: readonly Uint8Array[], compactTo: number): Promise<void> {
    return this.issue({ kind: "saveSnapshot", meta, data: copyChunks(data), compactTo });
  }

  /**
   * Issues a snapshot install: at its sync time the snapshot replaces the stored one and every
   * stored entry is discarded, atomically. The data is copied now.
   */
  installSnapshot(meta: SnapshotMeta, data: readonly Uint8Array[]): Promise<void> {
    return this.issue({ kind: "installSnapshot", meta, data: copyChunks(data) });
  }

  /** Operations (writes, snapshot saves and installs) issued but not yet durable. */
  inflightCount(): number {
    return this.inflight.length - this.inflightHead;
  }

  /**
   * The next operation issued (a `write`, or a snapshot save or install) fails its sync with
   * `error`: its promise rejects and nothing of it is applied.
   */
  failNextWrite(error: Error): void {
    this.pendingFailure = error;
  }

  /**
   * Power loss: a random prefix (possibly empty, possibly all) of the in-flight operations becomes
   * durable, the rest is lost; no in-flight promise ever settles. A pending `failNextWrite` is
   * cleared. Returns how many in-flight operations were kept.
   */
  crash(): number {
    const pending = this.inflightCount();
    const kept = this.random.nextInt(pending + 1);
    for (let i = 0; i < pending; i++) {
      const record = this.inflight[this.inflightHead + i] as InflightWrite;
      if (record.timer !== undefined) this.clock.cancelTimer(record.timer);
      if (i < kept && record.failure === undefined) this.applyQuietly(record.operation);
    }
    this.inflight = [];
    this.inflightHead = 0;
    this.lastCompletionAtMs = 0;
    this.pendingFailure = undefined;
    return kept;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private issue(operation: DiskOperation): Promise<void> {
    const failure = this.pendingFailure;
    this.pendingFailure = undefined;
    return new Promise<void>((resolve, reject) => {
      const record: InflightWrite = { operation, resolve, reject, failure, timer: undefined };
      this.inflight.push(record);
      const syncMs = this.random.nextRange(this.minSyncMs, this.maxSyncMs);
      this.lastCompletionAtMs = Math.max(this.clock.now() + syncMs, this.lastCompletionAtMs);
      record.timer = this.clock.schedule(this.lastCompletionAtMs, this.completeOldest);
    });
  }

  /** A sync completed: the oldest in-flight operation becomes durable (or fails). */
  private readonly completeOldest = (): void => {
    const record = this.inflight[this.inflightHead];
    if (record === undefined) return;
    this.inflight[this.inflightHead] = undefined;
    this.inflightHead++;
    if (this.inflightHead === this.inflight.length) {
      this.inflight.length = 0;
      this.inflightHead = 0;
    }
    if (record.failure !== undefined) {
      record.reject(record.failure);
      return;
    }
    try {
      this.apply(record.operation);
    } catch (error) {
      record.reject(error);
      return;
    }
    if (record.operation.kind === "write") this.syncedWrites++;
    else this.syncedSnapshots++;
    record.resolve();
  };

  private apply(operation: DiskOperation): void {
    switch (operation.kind) {
      case "write":
        this.durable.writeSync(operation.write);
        return;
      case "saveSnapshot":
        this.durable.saveSnapshotSync(operation.meta, operation.data, operation.compactTo);
        return;
      case "installSnapshot":
        this.durable.installSnapshotSync(operation.meta, operation.data);
        return;
    }
  }

  /** Applies an operation kept by a crash; an invalid one is skipped, as it would have been rejected. */
  private applyQuietly(operation: DiskOperation): void {
    try {
      this.apply(operation);
    } catch {
      // Its promise never settles after a crash, so nobody learns of the rejection.
    }
  }
}

/** Copies the chunk list (the bytes are copied again when the operation lands, by MemoryStorage). */
function copyChunks(data: readonly Uint8Array[]): readonly Uint8Array[] {
  return Array.isArray(data) ? data.map((chunk) => (chunk instanceof Uint8Array ? chunk.slice() : chunk)) : data;
}
