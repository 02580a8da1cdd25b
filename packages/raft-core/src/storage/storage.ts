import type { Entry, HardState, SnapshotMeta } from "../core/types.js";

/** What a node finds on its disk at start-up. */
export interface PersistedState {
  readonly hardState: HardState;
  /**
   * The latest durable snapshot, if any. `entries` then follow it (the first has index
   * `snapshot.index + 1`); the snapshot's data is read with `Storage.openSnapshot`.
   */
  readonly snapshot?: SnapshotMeta;
  /** Every stored entry after the snapshot (from index 1 without one), contiguous, in index order. */
  readonly entries: readonly Entry[];
}

/**
 * One atomic, durable write: `hardState` (if given) and `entries` together. Entries replace any
 * stored entry at or after `entries[0].index` (truncating a conflicting suffix and appending are
 * one write: safety rule 4).
 */
export interface StorageWrite {
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
}

/**
 * Snapshot bytes as a stream of chunks, in order. Chunk boundaries carry no meaning. An array of
 * chunks is accepted wherever a stream is (arrays are iterables).
 */
export type SnapshotChunks = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * A stored snapshot opened for reading, with random access so a transfer can resume at any offset.
 * It stays readable until closed, even after a newer snapshot replaced it in storage: a snapshot
 * being sent is pinned against compaction (rule 9). Callers must not modify the bytes they read.
 */
export interface SnapshotReader {
  readonly meta: SnapshotMeta;
  /** Total bytes of the data. */
  readonly bytes: number;
  /** CRC-32C of the whole data, as stored with it (checked when the snapshot was written). */
  readonly checksum: number;
  /**
   * Up to `maxBytes` of the data from `offset`: shorter only at the end, empty at or past it. A
   * storage that finds the bytes damaged rejects with a `StorageCorruptionError`.
   */
  read(offset: number, maxBytes: number): Promise<Uint8Array>;
  /** Releases what the reader holds (a file handle). Reading afterwards rejects. Idempotent. */
  close(): Promise<void>;
}

/**
 * A snapshot being received from a leader, assembled apart from the stored snapshot (a temp file
 * on disk) until `installSnapshot` makes it the stored one. Its memory use does not grow with the
 * snapshot's size on a disk-backed storage.
 */
export interface SnapshotStaging {
  readonly meta: SnapshotMeta;
  /** Bytes appended so far. */
  readonly bytes: number;
  /** CRC-32C of the bytes appended so far. */
  readonly checksum: number;
  /** Appends the next bytes; one append at a time (the caller awaits each). */
  append(chunk: Uint8Array): Promise<void>;
  /** Deletes what was staged. Idempotent; a discarded staging cannot be installed. */
  discard(): Promise<void>;
}

/**
 * Durable state of one node. The runtime keeps at most one `write` in flight; the promise
 * resolves only once the write is durable (synced). Any rejection is fatal: the node stops and a
 * failed sync is never retried (safety rule 11).
 *
 * The snapshot methods are optional: a storage without them supports no compaction, and a
 * `RaftServer` refuses `snapshotEveryEntries > 0` on it. A storage implements all four or none.
 */
export interface Storage {
  load(): Promise<PersistedState>;
  write(write: StorageWrite): Promise<void>;
  close(): Promise<void>;
  /**
   * Durably stores a snapshot taken at `meta.index` (which the log holds with `meta.term`),
   * consuming `data` as it streams in, and replaces the previous one atomically (a crash leaves
   * the old snapshot or the new one, never a mix); then drops the stored entries up to
   * `compactTo` (≤ `meta.index`; lower keeps a trailing window). The runtime runs at most one
   * snapshot save at a time; it may overlap a `write`, and the storage keeps them in issue order.
   */
  saveSnapshot?(meta: SnapshotMeta, data: SnapshotChunks, compactTo: number): Promise<void>;
  /** Starts assembling a snapshot received from the leader (see `SnapshotStaging`). */
  stageSnapshot?(meta: SnapshotMeta): Promise<SnapshotStaging>;
  /**
   * Durably makes a complete staging the stored snapshot and discards EVERY stored entry: the log
   * restarts after `staging.meta.index`. The hard state is untouched. Never overlaps a `write`.
   * A staging of another storage, or a discarded one, is refused (`StorageInvalidWriteError`).
   */
  installSnapshot?(staging: SnapshotStaging): Promise<void>;
  /** Opens the latest durable snapshot for reading, or undefined when none was stored. */
  openSnapshot?(): Promise<SnapshotReader | undefined>;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: "", commit: 0 });
