import type { Entry, HardState } from "../core/types.js";

/** What a node finds on its disk at start-up. */
export interface PersistedState {
  readonly hardState: HardState;
  /** Every stored entry, contiguous, in index order. */
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
 * Durable state of one node. The runtime keeps at most one `write` in flight; the promise
 * resolves only once the write is durable (synced). Any rejection is fatal: the node stops and a
 * failed sync is never retried (safety rule 11).
 */
export interface Storage {
  load(): Promise<PersistedState>;
  write(write: StorageWrite): Promise<void>;
  close(): Promise<void>;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: "", commit: 0 });
