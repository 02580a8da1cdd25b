import type { SnapshotMeta } from "../core/types.js";
import type { TimerHandle } from "../runtime/clock.js";
import { snapshotMetaProblem } from "../storage/snapshot.js";
import {
  EMPTY_HARD_STATE,
  type PersistedState,
  type SnapshotChunks,
  type SnapshotReader,
  type SnapshotStaging,
  type Storage,
  type StorageWrite,
} from "../storage/storage.js";
import { StorageInvalidWriteError } from "../storage/storage-errors.js";
import type { Prng } from "./prng.js";
import { type BitFlip, type DiskOperation, type FlippedRecord, SimDisk, type TailRecovery } from "./sim-disk.js";
import {
  DEFAULT_SIM_SNAPSHOT_BLOCK_BYTES,
  SimSnapshotReader,
  SimSnapshotStaging,
  SnapshotFile,
} from "./sim-snapshot-file.js";
import type { VirtualClock } from "./virtual-clock.js";

export const DEFAULT_MIN_SYNC_MS = 1;
export const DEFAULT_MAX_SYNC_MS = 5;
/** The name a SimStorage gives itself in errors unless told otherwise. */
export const DEFAULT_SIM_STORE_PATH = "sim-disk";

export interface SimStorageOptions {
  /** Smallest simulated sync latency, inclusive. Default {@link DEFAULT_MIN_SYNC_MS}. */
  readonly minSyncMs?: number;
  /** Largest simulated sync latency, inclusive. Default {@link DEFAULT_MAX_SYNC_MS}. */
  readonly maxSyncMs?: number;
  /** What the disk holds at creation (validated); empty by default. */
  readonly initial?: PersistedState;
  /** The data of `initial.snapshot`, required with it. */
  readonly initialSnapshotData?: readonly Uint8Array[];
  /** The disk's name in error messages (`StorageError.storePath`). Default {@link DEFAULT_SIM_STORE_PATH}. */
  readonly storePath?: string;
  /** Size of the checksummed blocks of a snapshot file. Default {@link DEFAULT_SIM_SNAPSHOT_BLOCK_BYTES}. */
  readonly snapshotBlockBytes?: number;
}

/** How a crash treats the operations in flight. */
export interface CrashOptions {
  /**
   * Tear the first operation the crash loses: part of its bytes reached the disk (see
   * {@link SimDisk.tear}). Whenever an operation is in flight, one is torn.
   */
  readonly tear?: boolean;
}

/** What a crash did to the in-flight operations. */
export interface CrashOutcome {
  /** In-flight operations that reached the disk whole (a prefix, in issue order). */
  readonly kept: number;
  /** True when the operation after them was left half-written. */
  readonly torn: boolean;
  /** In-flight operations lost (the torn one included). */
  readonly lost: number;
}

/** An operation issued but not yet durable. */
interface InflightOperation {
  /** Undefined while a snapshot save is still consuming its stream (its place in the queue is kept). */
  operation: DiskOperation | undefined;
  /** Its own sync latency has passed; it becomes durable once every earlier one has. */
  synced: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** Set by `failNextWrite`: the sync fails with this error and the operation is not applied. */
  readonly failure: Error | undefined;
  timer: TimerHandle | undefined;
}

/**
 * A simulated disk on a virtual clock. An operation becomes durable after a sync latency drawn
 * from [minSyncMs, maxSyncMs], and operations become durable in issue order (a later one never
 * lands before an earlier one), so what is durable is always a prefix of what was issued.
 *
 * Snapshot saves (with their compaction) and installs are atomic operations in the same queue as
 * log writes. A save takes its place in the queue when it is called, then consumes its stream;
 * its sync starts once the stream has ended.
 *
 * The disk holds bytes (see {@link SimDisk}): every record and every snapshot block carries a
 * CRC-32C, and `load()` and snapshot reads verify them, rejecting with `StorageCorruptionError`.
 *
 * `crash()` models power loss: a random prefix of the in-flight operations (never a subset with
 * holes) reaches the disk, the rest is lost, and none of their promises ever settles. With
 * `{ tear: true }` the first lost operation is left half-written; `load()` recognises the torn
 * tail and discards it (it was never acknowledged). `flipBit()` damages one stored record, which
 * the next `load()` (or read of the snapshot) always detects. The storage object is the disk and
 * outlives crashes: the restarted node calls `load()` on it.
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
  /** Of those, installs of a snapshot received from a leader. */
  syncedInstalls = 0;
  /** Virtual time of the latest `write` call, or -1 before the first. */
  lastWriteIssuedAt = -1;
  /** Crashes that left a torn operation on the disk. */
  tornWrites = 0;
  /** Torn tails `load()` found and discarded (or completed from whole frames). */
  readonly recoveries: TailRecovery[] = [];
  /** What the latest `crash()` did, or undefined before the first. */
  lastCrash: CrashOutcome | undefined;
  /** Every bit flipped by `flipBit`, in order. */
  readonly flips: BitFlip[] = [];
  readonly storePath: string;
  private readonly disk: SimDisk;
  /** In issue order; `inflight[inflightHead]` is the next to become durable. */
  private inflight: (InflightOperation | undefined)[] = [];
  private inflightHead = 0;
  /** Completion time of the newest in-flight sync: syncs complete in issue order. */
  private lastCompletionAtMs = 0;
  private pendingFailure: Error | undefined = undefined;
  /** Counts crashes: work started before one (a stream being consumed, a staging) is dropped. */
  private epoch = 0;
  private readonly minSyncMs: number;
  private readonly maxSyncMs: number;
  private readonly snapshotBlockBytes: number;

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Prng,
    options: SimStorageOptions = {},
  ) {
    this.minSyncMs = options.minSyncMs ?? DEFAULT_MIN_SYNC_MS;
    this.maxSyncMs = options.maxSyncMs ?? DEFAULT_MAX_SYNC_MS;
    this.snapshotBlockBytes = options.snapshotBlockBytes ?? DEFAULT_SIM_SNAPSHOT_BLOCK_BYTES;
    this.storePath = options.storePath ?? DEFAULT_SIM_STORE_PATH;
    if (!Number.isSafeInteger(this.minSyncMs) || this.minSyncMs < 0) {
      throw new RangeError(`minSyncMs must be a non-negative integer, got ${this.minSyncMs}`);
    }
    if (!Number.isSafeInteger(this.maxSyncMs) || this.maxSyncMs < this.minSyncMs) {
      throw new RangeError(`maxSyncMs must be an integer >= minSyncMs, got ${this.maxSyncMs}`);
    }
    if (!Number.isSafeInteger(this.snapshotBlockBytes) || this.snapshotBlockBytes < 1) {
      throw new RangeError(`snapshotBlockBytes must be a positive integer, got ${this.snapshotBlockBytes}`);
    }
    this.disk = new SimDisk(this.storePath);
    if (options.initial !== undefined || options.initialSnapshotData !== undefined) {
      this.disk.initialize(
        options.initial ?? { hardState: EMPTY_HARD_STATE, entries: [] },
        options.initialSnapshotData,
        this.snapshotBlockBytes,
      );
    }
  }

  /**
   * Opens the disk as a starting node does: recovers a torn tail a crash left (whole frames of a
   * torn append are kept, the torn rest is discarded), then reads every record back and verifies
   * its checksum. Rejects with `StorageCorruptionError` on damage; then nothing is changed.
   */
  load(): Promise<PersistedState> {
    try {
      // Verify before repairing, so a damaged disk is left exactly as it was found.
      const verified = this.disk.verifiedState();
      if (!this.disk.hasTornTail()) return Promise.resolve(verified);
      const recovery = this.disk.recover() as TailRecovery;
      this.recoveries.push(recovery);
      return Promise.resolve(this.disk.verifiedState());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Synchronous view of what the disk believes it holds, for checkers and tests (copies, not read
   * back from the bytes). In-flight operations and a torn tail are not included.
   */
  durableState(): PersistedState {
    return this.disk.believedState();
  }

  /**
   * Issues one atomic write; the promise resolves once it is durable. An invalid write (see
   * `storageWriteProblem`) rejects at its sync time and changes nothing.
   */
  write(write: StorageWrite): Promise<void> {
    this.lastWriteIssuedAt = this.clock.now();
    const record = this.reserve();
    this.ready(record, { kind: "write", write });
    return record.promise;
  }

  /**
   * Issues a snapshot save: it takes its place in the queue now, consumes `data` (copying each
   * chunk), then syncs; at its sync time the snapshot replaces the stored one and the entries up
   * to `compactTo` are dropped, atomically. An invalid save rejects and changes nothing; so does a
   * stream that fails or yields something other than bytes.
   */
  saveSnapshot(meta: SnapshotMeta, data: SnapshotChunks, compactTo: number): Promise<void> {
    const record = this.reserve();
    const epoch = this.epoch;
    const metaProblem = snapshotMetaProblem(meta);
    if (metaProblem !== undefined) {
      this.withdraw(
        record.entry,
        new StorageInvalidWriteError(this.storePath, `invalid snapshot save: ${metaProblem}`),
      );
      return record.promise;
    }
    void collectChunks(data, this.storePath).then(
      (chunks) => {
        if (epoch !== this.epoch) return;
        const file = SnapshotFile.write(meta, chunks, this.snapshotBlockBytes);
        this.ready(record, { kind: "saveSnapshot", file, compactTo });
      },
      (error: unknown) => {
        if (epoch === this.epoch) this.withdraw(record.entry, error);
      },
    );
    return record.promise;
  }

  /** Starts assembling a snapshot received from the leader in a temp file (see `SimSnapshotStaging`). */
  stageSnapshot(meta: SnapshotMeta): Promise<SnapshotStaging> {
    const problem = snapshotMetaProblem(meta);
    if (problem !== undefined) {
      return Promise.reject(new StorageInvalidWriteError(this.storePath, `invalid snapshot staging: ${problem}`));
    }
    return Promise.resolve(new SimSnapshotStaging(this, this.epoch, meta, this.storePath));
  }

  /**
   * Issues a snapshot install: at its sync time the staged snapshot replaces the stored one and
   * every stored entry is discarded, atomically. A staging of another storage, a discarded or
   * installed one, or one a crash deleted is refused.
   */
  installSnapshot(staging: SnapshotStaging): Promise<void> {
    const problem =
      !(staging instanceof SimSnapshotStaging) || staging.owner !== this
        ? "the staging belongs to another storage"
        : staging.epoch !== this.epoch
          ? "the staging was deleted by a crash"
          : staging.installProblem();
    if (problem !== undefined) {
      return Promise.reject(new StorageInvalidWriteError(this.storePath, `invalid snapshot install: ${problem}`));
    }
    const file = SnapshotFile.write(
      staging.meta,
      (staging as SimSnapshotStaging).takeChunks(),
      this.snapshotBlockBytes,
    );
    const record = this.reserve();
    this.ready(record, { kind: "installSnapshot", file });
    return record.promise;
  }

  /**
   * Opens the durable snapshot for reading (its meta record verified), or undefined when none is
   * stored. The reader holds the file: it stays readable after a newer snapshot replaces it, and
   * every read verifies the blocks it touches.
   */
  openSnapshot(): Promise<SnapshotReader | undefined> {
    const file = this.disk.snapshot;
    if (file === undefined) return Promise.resolve(undefined);
    try {
      return Promise.resolve(new SimSnapshotReader(file, file.readHeader(this.storePath), this.storePath));
    } catch (error) {
      return Promise.reject(error);
    }
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
   * durable, the rest is lost; no in-flight promise ever settles. With `tear`, the first lost
   * operation is left half-written on the disk (whenever one is in flight, the prefix then stops
   * before the last). A save still consuming its stream has nothing on the disk yet, so the prefix
   * stops before it. A pending `failNextWrite` is cleared; stagings are deleted. Returns how many
   * in-flight operations were kept (`lastCrash` tells the rest).
   */
  crash(options: CrashOptions = {}): number {
    const pending = this.inflightCount();
    let writable = 0;
    while (writable < pending && this.inflight[this.inflightHead + writable]?.operation !== undefined) writable++;
    const tear = options.tear === true && writable > 0;
    const kept = tear ? this.random.nextInt(writable) : this.random.nextInt(writable + 1);
    for (let i = 0; i < pending; i++) {
      const record = this.inflight[this.inflightHead + i] as InflightOperation;
      if (record.timer !== undefined) this.clock.cancelTimer(record.timer);
      if (i < kept && record.failure === undefined) this.applyQuietly(record.operation as DiskOperation);
    }
    const victim = tear ? (this.inflight[this.inflightHead + kept] as InflightOperation) : undefined;
    const torn =
      victim?.operation !== undefined && victim.failure === undefined && this.disk.tear(victim.operation, this.random);
    if (torn) this.tornWrites++;
    this.inflight = [];
    this.inflightHead = 0;
    this.lastCompletionAtMs = 0;
    this.pendingFailure = undefined;
    this.epoch++;
    this.lastCrash = { kept, torn, lost: pending - kept };
    return kept;
  }

  /**
   * Flips one bit in a stored (synced) record or snapshot block, drawn from the disk's random
   * stream. The next `load()`, or a read of the damaged snapshot block, rejects with
   * `StorageCorruptionError`, unless a later write replaces the record first. Returns where it
   * landed, or undefined when the disk holds nothing yet (or no record of the kind `only` names).
   */
  flipBit(only?: FlippedRecord): BitFlip | undefined {
    const flip = this.disk.flipBit(this.random, only);
    if (flip !== undefined) this.flips.push(flip);
    return flip;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Takes the next place in the queue; the operation follows with `ready` or `withdraw`. */
  private reserve(): { entry: InflightOperation; promise: Promise<void> } {
    const failure = this.pendingFailure;
    this.pendingFailure = undefined;
    let entry!: InflightOperation;
    const promise = new Promise<void>((resolve, reject) => {
      entry = { operation: undefined, synced: false, resolve, reject, failure, timer: undefined };
    });
    this.inflight.push(entry);
    return { entry, promise };
  }

  /** The operation's bytes are known: its sync starts now. */
  private ready(record: { entry: InflightOperation }, operation: DiskOperation): void {
    const entry = record.entry;
    entry.operation = operation;
    const syncMs = this.random.nextRange(this.minSyncMs, this.maxSyncMs);
    this.lastCompletionAtMs = Math.max(this.clock.now() + syncMs, this.lastCompletionAtMs);
    entry.timer = this.clock.schedule(this.lastCompletionAtMs, () => {
      entry.timer = undefined;
      entry.synced = true;
      this.completeSynced();
    });
  }

  /** An operation that never reached the disk (its stream failed): it leaves the queue and rejects. */
  private withdraw(entry: InflightOperation, error: unknown): void {
    const at = this.inflight.indexOf(entry, this.inflightHead);
    if (at >= 0) this.inflight.splice(at, 1);
    entry.reject(error);
    this.completeSynced();
  }

  /** Makes durable, in issue order, every synced operation at the head of the queue. */
  private completeSynced(): void {
    for (;;) {
      const record = this.inflight[this.inflightHead];
      if (record === undefined || !record.synced) break;
      this.inflight[this.inflightHead] = undefined;
      this.inflightHead++;
      if (this.inflightHead === this.inflight.length) {
        this.inflight.length = 0;
        this.inflightHead = 0;
      }
      this.finish(record);
    }
  }

  private finish(record: InflightOperation): void {
    const operation = record.operation as DiskOperation;
    if (record.failure !== undefined) {
      record.reject(record.failure);
      return;
    }
    try {
      this.disk.apply(operation);
    } catch (error) {
      record.reject(error);
      return;
    }
    if (operation.kind === "write") this.syncedWrites++;
    else this.syncedSnapshots++;
    if (operation.kind === "installSnapshot") this.syncedInstalls++;
    record.resolve();
  }

  /** Applies an operation kept by a crash; an invalid one is skipped, as it would have been rejected. */
  private applyQuietly(operation: DiskOperation): void {
    try {
      this.disk.apply(operation);
    } catch {
      // Its promise never settles after a crash, so nobody learns of the rejection.
    }
  }
}

/** Every chunk of `data`, copied (the caller may reuse its buffers once the stream moves on). */
async function collectChunks(data: SnapshotChunks, storePath: string): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) {
      throw new StorageInvalidWriteError(
        storePath,
        `invalid snapshot save: chunk ${chunks.length} is not a Uint8Array`,
      );
    }
    chunks.push(chunk.slice());
  }
  return chunks;
}
