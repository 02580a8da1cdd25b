import type { Entry, SnapshotMeta } from "../core/types.js";
import type { SnapshotChunks } from "../storage/storage.js";

/**
 * The replicated application. `apply` receives committed, locally durable entries in log order,
 * exactly once per index (across restarts, by way of `appliedIndex`), and returns one result per
 * entry. It must be deterministic: same entries, same state, same results, on every node.
 * Entries of type "noop" and "config" are passed too (so a durable state machine can record the
 * index) and their result is ignored.
 *
 * Snapshots (both methods or neither; needed for automatic snapshots and to catch up from a
 * leader's snapshot) are streams of byte chunks, so a state machine larger than memory can be
 * snapshotted, sent and restored: `snapshot()` captures the state at exactly `appliedIndex()`,
 * and `restore()` replaces the whole state with a snapshot's.
 */
export interface StateMachine<Result = unknown> {
  apply(entries: readonly Entry[]): readonly Result[] | Promise<readonly Result[]>;
  /**
   * The last index this state machine has applied. A durable state machine (one that keeps its
   * state on disk) reports what survives a restart, and resumes from it without re-applying.
   */
  appliedIndex(): number;
  /**
   * For a state machine that makes applied state durable lazily (batched flushes): the last index
   * whose effects are durable. The runtime never compacts the log past it, so the entries a restart
   * needs to re-apply are still there. Omit it when `appliedIndex()` is always durable (or when the
   * state machine is in memory and restored from snapshots).
   */
  durableIndex?(): number;
  /**
   * A consistent snapshot of the state at exactly `appliedIndex()` at the time of the call, as a
   * stream of byte chunks (an array of chunks is fine for small state). The runtime calls it only
   * when no `apply` is in flight; once the call has returned (even if its promise is still
   * pending), later `apply` calls may run, and must not change what the stream yields (read from
   * a point-in-time view, such as a LevelDB iterator's implicit snapshot). The runtime consumes
   * the stream once and does not modify the bytes.
   */
  snapshot?(): SnapshotChunks | Promise<SnapshotChunks>;
  /**
   * Replaces the whole state with the snapshot's `data`, taken at `meta.index`, consuming the
   * stream; afterwards `appliedIndex()` must equal `meta.index`. A rejection (including one from
   * `data` itself, when the stored snapshot is damaged) stops the node. The runtime calls it only
   * when no `apply` is in flight.
   */
  restore?(meta: SnapshotMeta, data: AsyncIterable<Uint8Array>): void | Promise<void>;
}
