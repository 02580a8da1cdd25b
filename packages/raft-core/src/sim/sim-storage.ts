import type { TimerHandle } from "../runtime/clock.js";
import { MemoryStorage } from "../storage/memory-storage.js";
import type { PersistedState, Storage, StorageWrite } from "../storage/storage.js";
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
}

/** A write issued but not yet durable. */
interface InflightWrite {
  readonly write: StorageWrite;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** Set by `failNextWrite`: the sync fails with this error and the write is not applied. */
  readonly failure: Error | undefined;
  timer: TimerHandle | undefined;
}

/**
 * A simulated disk on a virtual clock. A write becomes durable after a sync latency drawn from
 * [minSyncMs, maxSyncMs], and writes become durable in issue order (a later write never lands
 * before an earlier one), so what is durable is always a prefix of what was issued.
 *
 * `crash()` models power loss: a random prefix of the in-flight writes (in issue order, never a
 * subset with holes) reaches the disk, the rest is lost, and none of their promises ever settles.
 * The storage object is the disk and outlives the crash: the restarted node calls `load()` on it.
 *
 * @example
 * const disk = new SimStorage(clock, Prng.fromSeed(1).fork("disk:n1"));
 * const done = disk.write({ hardState: { term: 1, vote: "n1", commit: 0 }, entries: [] });
 * await clock.runUntil(clock.now() + 10); // `done` has resolved
 */
export class SimStorage implements Storage {
  /** Writes acknowledged durable (their promise resolved); writes kept by a crash do not count. */
  syncedWrites = 0;
  /** Virtual time of the latest `write` call, or -1 before the first. */
  lastWriteIssuedAt = -1;
  private readonly durable: MemoryStorage;
  /** In issue order; `inflight[inflightHead]` is the next to become durable. */
  private inflight: (InflightWrite | undefined)[] = [];
  private inflightHead = 0;
  /** Completion time of the newest in-flight write: syncs complete in issue order. */
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
    this.durable = new MemoryStorage(options.initial);
  }

  /** The durable state (copies of the stored arrays). In-flight writes are not included. */
  load(): Promise<PersistedState> {
    return Promise.resolve(this.durable.loadSync());
  }

  /** Synchronous view of the durable state, for checkers (copies). */
  durableState(): PersistedState {
    return this.durable.loadSync();
  }

  /**
   * Issues one atomic write; the promise resolves once it is durable. An invalid write (see
   * `storageWriteProblem`) rejects at its sync time and changes nothing.
   */
  write(write: StorageWrite): Promise<void> {
    const failure = this.pendingFailure;
    this.pendingFailure = undefined;
    this.lastWriteIssuedAt = this.clock.now();
    return new Promise<void>((resolve, reject) => {
      const record: InflightWrite = { write, resolve, reject, failure, timer: undefined };
      this.inflight.push(record);
      const syncMs = this.random.nextRange(this.minSyncMs, this.maxSyncMs);
      this.lastCompletionAtMs = Math.max(this.clock.now() + syncMs, this.lastCompletionAtMs);
      record.timer = this.clock.schedule(this.lastCompletionAtMs, this.completeOldest);
    });
  }

  /** Writes issued but not yet durable. */
  inflightCount(): number {
    return this.inflight.length - this.inflightHead;
  }

  /** The next `write` call fails its sync with `error` (its promise rejects, nothing is applied). */
  failNextWrite(error: Error): void {
    this.pendingFailure = error;
  }

  /**
   * Power loss: a random prefix (possibly empty, possibly all) of the in-flight writes becomes
   * durable, the rest is lost; no in-flight promise ever settles. A pending `failNextWrite` is
   * cleared. Returns how many in-flight writes were kept.
   */
  crash(): number {
    const pending = this.inflightCount();
    const kept = this.random.nextInt(pending + 1);
    for (let i = 0; i < pending; i++) {
      const record = this.inflight[this.inflightHead + i] as InflightWrite;
      if (record.timer !== undefined) this.clock.cancelTimer(record.timer);
      if (i < kept && record.failure === undefined) this.applyQuietly(record.write);
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

  /** A sync completed: the oldest in-flight write becomes durable (or fails). */
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
      this.durable.writeSync(record.write);
    } catch (error) {
      record.reject(error);
      return;
    }
    this.syncedWrites++;
    record.resolve();
  };

  /** Applies a write kept by a crash; an invalid one is skipped, as it would have been rejected. */
  private applyQuietly(write: StorageWrite): void {
    try {
      this.durable.writeSync(write);
    } catch {
      // Its promise never settles after a crash, so nobody learns of the rejection.
    }
  }
}
