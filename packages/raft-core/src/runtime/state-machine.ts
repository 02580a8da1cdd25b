import type { Entry } from "../core/types.js";

/**
 * The replicated application. `apply` receives committed, locally durable entries in log order,
 * exactly once per index (across restarts, by way of `appliedIndex`), and returns one result per
 * entry. It must be deterministic: same entries, same state, same results, on every node.
 * Entries of type "noop" and "config" are passed too (so a durable state machine can record the
 * index) and their result is ignored.
 */
export interface StateMachine<Result = unknown> {
  apply(entries: readonly Entry[]): readonly Result[] | Promise<readonly Result[]>;
  /** The last index this state machine has applied (durably, for a durable state machine). */
  appliedIndex(): number;
}
