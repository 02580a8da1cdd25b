import type { NodeId } from "../core/types.js";

/**
 * Every error users can act on has a stable `code`; match on `code`, not `instanceof`, because
 * ESM and CJS copies of this package have distinct classes.
 *
 * Guarantees about whether a proposal was applied:
 * - `NOT_LEADER`, `OVERLOADED`, `STOPPED` (before acceptance), `ENTRY_TOO_LARGE`, `PROPOSAL_DROPPED`: NOT applied.
 * - `CONFIG_CHANGE_REJECTED`, `NOT_CAUGHT_UP`: the membership change was NOT applied.
 * - `OUTCOME_UNKNOWN`: may or may not be applied (timeout, abort, leadership lost in flight).
 */
export type RaftErrorCode =
  | "NOT_LEADER"
  | "PROPOSAL_DROPPED"
  | "OUTCOME_UNKNOWN"
  | "OVERLOADED"
  | "STOPPED"
  | "ENTRY_TOO_LARGE"
  | "READ_FAILED"
  | "STORAGE_FAILED"
  | "CONFIG_CHANGE_REJECTED"
  | "NOT_CAUGHT_UP"
  | "TRANSFER_FAILED";

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  /** True when retrying the same operation (against the leader hint, or later) can succeed. */
  readonly retryable: boolean;
  constructor(code: RaftErrorCode, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RaftError";
    this.code = code;
    this.retryable = retryable;
  }
}

/** This node cannot accept the request; `leaderHint` names the leader when known ("" otherwise). Not applied. */
export class NotLeaderError extends RaftError {
  readonly leaderHint: NodeId;
  constructor(leaderHint: NodeId, detail = "") {
    super(
      "NOT_LEADER",
      `this node is not the leader${leaderHint ? `; retry on ${leaderHint}` : "; no leader is known yet, retry shortly"}${detail ? ` (${detail})` : ""}`,
      true,
    );
    this.name = "NotLeaderError";
    this.leaderHint = leaderHint;
  }
}

/** Another entry was committed at the proposal's index. Not applied; safe to retry. */
export class ProposalDroppedError extends RaftError {
  constructor(index: number) {
    super(
      "PROPOSAL_DROPPED",
      `the proposal at index ${index} was replaced by a new leader's entry; it was not applied`,
      true,
    );
    this.name = "ProposalDroppedError";
  }
}

/** Timed out, aborted or lost with its leader: the command may or may not be applied. */
export class OutcomeUnknownError extends RaftError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(
      "OUTCOME_UNKNOWN",
      `outcome unknown (${reason}): the command may or may not have been applied`,
      true,
      options,
    );
    this.name = "OutcomeUnknownError";
  }
}

/** A bounded queue is full. Not applied; back off and retry. */
export class OverloadedError extends RaftError {
  constructor(what: string) {
    super("OVERLOADED", `overloaded: ${what}; back off and retry`, true);
    this.name = "OverloadedError";
  }
}

export class StoppedError extends RaftError {
  constructor(reason = "the node was stopped") {
    super("STOPPED", reason, false);
    this.name = "StoppedError";
  }
}

export class EntryTooLargeError extends RaftError {
  constructor(bytes: number, limit: number) {
    super("ENTRY_TOO_LARGE", `the command is ${bytes} bytes; the limit is ${limit} bytes (maxEntryBytes)`, false);
    this.name = "EntryTooLargeError";
  }
}

/** A linearizable read could not be confirmed (leadership lost or unconfirmed). Retry. */
export class ReadFailedError extends RaftError {
  constructor(reason: string) {
    super("READ_FAILED", `linearizable read failed: ${reason}; retry`, true);
    this.name = "ReadFailedError";
  }
}

/** The node's storage failed; the node has stopped and must be inspected before it restarts. */
export class StorageFailedError extends RaftError {
  constructor(cause: unknown) {
    super("STORAGE_FAILED", `storage failed, the node stopped: ${String((cause as Error)?.message ?? cause)}`, false, {
      cause,
    });
    this.name = "StorageFailedError";
  }
}

/** True when `error` is a Raft error with `code` (works across module copies). */
export function isRaftError(error: unknown, code?: RaftErrorCode): error is RaftError {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as RaftError).code === "string" &&
    (code === undefined || (error as RaftError).code === code)
  );
}

/** The leader refused a membership change: another is in progress, it is too early, or it is invalid. Not applied. */
export class ConfigChangeRejectedError extends RaftError {
  readonly reason: string;
  constructor(reason: string, retryable: boolean) {
    super("CONFIG_CHANGE_REJECTED", `membership change refused: ${reason}`, retryable);
    this.name = "ConfigChangeRejectedError";
    this.reason = reason;
  }
}

/** A learner is not yet caught up with the leader, so promoting it could stall commits (thesis §4.2.1). Not applied. */
export class NotCaughtUpError extends RaftError {
  constructor(member: NodeId, match: number, commit: number) {
    super(
      "NOT_CAUGHT_UP",
      `learner ${member} has ${match} of ${commit} committed entries; retry once it has caught up`,
      true,
    );
    this.name = "NotCaughtUpError";
  }
}

/** Leadership did not move to the requested member in time; the old leader resumed accepting writes. */
export class TransferFailedError extends RaftError {
  constructor(reason: string) {
    super("TRANSFER_FAILED", `leadership transfer failed: ${reason}`, true);
    this.name = "TransferFailedError";
  }
}
