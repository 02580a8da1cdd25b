import type { Entry, HardState, SnapshotMeta } from "../core/types.js";

/** What a node finds on its disk at start-up. */
export interface PersistedState {
  readonly hardState: HardState;
  /**
   * The latest durable snapshot, if any. `entries` then follow it (the first has index
   * `snapshot.index + 1`); the snapshot's data is read with `Storage.loadSnapshot`.
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

/** A stored snapshot: where it stands in the log and the state machine's data, as chunks. */
export interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's data in order; callers must not modify these bytes. */
  readonly data: readonly Uint8Array[];
}

/**
 * Durable state of one node. The runtime keeps at most one `write` in flight; the promise
 * resolves only once the write is durable (synced). Any rejection is fatal: the node stops and a
 * failed sync is never retried (safety rule 11).
 *
 * The snapshot methods are optional: a storage without them supports no compaction, and a
 * `RaftServer` refuses `snapshotEveryEntries > 0` on it. A storage implements all three or none.
 */
export interface Storage {
  load(): Promise<PersistedState>;
  write(write: StorageWrite): Promise<void>;
  close(): Promise<void>;
  /**
   * Durably stores a snapshot taken at `meta.index` (which the log holds with `meta.term`),
   * replacing the previous one atomically, then drops the stored entries up to `compactTo`
   * (≤ `meta.index`; lower keeps a trailing window). The runtime runs at most one snapshot save
   * at a time; it may overlap a `write`, and the storage keeps them in issue order.
   */
  saveSnapshot?(meta: SnapshotMeta, data: readonly Uint8Array[], compactTo: number): Promise<void>;
  /**
   * Durably stores a snapshot received from the leader and discards EVERY stored entry: the log
   * restarts after `meta.index`. The hard state is untouched. Never overlaps a `write`.
   */
  installSnapshot?(meta: SnapshotMeta, data: readonly Uint8Array[]): Promise<void>;
  /** The latest durable snapshot with its data, or undefined when none was stored. */
  loadSnapshot?(): Promise<StoredSnapshot | undefined>;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: "", commit: 0 });
