import type { Entry, SnapshotMeta } from "../core/types.js";

/**
 * The replicated application. `apply` receives committed, locally durable entries in log order,
 * exactly once per index (across restarts, by way of `appliedIndex`), and returns one result per
 * entry. It must be deterministic: same entries, same state, same results, on every node.
 * Entries of type "noop" and "config" are passed too (so a durable state machine can record the
 * index) and their result is ignored.
 *
 * Snapshots (both methods or neither; needed for `snapshotEveryEntries > 0` and to catch up from a
 * leader's snapshot): `snapshot()` captures the state at exactly `appliedIndex()`, and `restore()`
 * replaces the whole state with a snapshot's.
 */
export interface StateMachine<Result = unknown> {
  apply(entries: readonly Entry[]): readonly Result[] | Promise<readonly Result[]>;
  /** The last index this state machine has applied (durably, for a durable state machine). */
  appliedIndex(): number;
  /**
   * A consistent snapshot of the state at exactly `appliedIndex()` at the time of the call, as
   * byte chunks. The runtime calls it only when no `apply` is in flight; once the call has returned
   * (even if its promise is still pending), later `apply` calls may run, and must not change what
   * the promise resolves with. The runtime does not modify the returned bytes.
   */
  snapshot?(): readonly Uint8Array[] | Promise<readonly Uint8Array[]>;
  /**
   * Replaces the whole state with the snapshot's `data`, taken at `meta.index`; afterwards
   * `appliedIndex()` must equal `meta.index`. The runtime calls it only when no `apply` is in flight.
   */
  restore?(meta: SnapshotMeta, data: readonly Uint8Array[]): void | Promise<void>;
}
