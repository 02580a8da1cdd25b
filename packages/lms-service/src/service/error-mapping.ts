import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { RaftErrorCode } from "@lectern/raft-core";
import type { Rejection } from "../domain/results.js";
import {
  errorTrailer,
  type LecternErrorCode,
  LmsCallError,
  leaderAddressTrailer,
  leaderIdTrailer,
} from "./call-error.js";
import type { LmsServiceContext } from "./service-context.js";

/** What a Raft error becomes for a client: every one the client may retry is UNAVAILABLE. */
const raftErrorMapping: Readonly<Record<RaftErrorCode, { grpc: status; lectern?: LecternErrorCode }>> = {
  NOT_LEADER: { grpc: status.UNAVAILABLE, lectern: "NOT_LEADER" },
  PROPOSAL_DROPPED: { grpc: status.UNAVAILABLE, lectern: "LEADER_CHANGED" },
  OUTCOME_UNKNOWN: { grpc: status.UNAVAILABLE, lectern: "OUTCOME_UNKNOWN" },
  OVERLOADED: { grpc: status.UNAVAILABLE, lectern: "OVERLOADED" },
  STOPPED: { grpc: status.UNAVAILABLE, lectern: "STOPPED" },
  READ_FAILED: { grpc: status.UNAVAILABLE, lectern: "READ_FAILED" },
  STORAGE_FAILED: { grpc: status.UNAVAILABLE, lectern: "STOPPED" },
  ENTRY_TOO_LARGE: { grpc: status.RESOURCE_EXHAUSTED },
  CONFIG_CHANGE_REJECTED: { grpc: status.FAILED_PRECONDITION },
  NOT_CAUGHT_UP: { grpc: status.FAILED_PRECONDITION },
  TRANSFER_FAILED: { grpc: status.ABORTED },
};

/** Codes after which the client retries elsewhere; they carry the leader hint trailers. */
const retryableLecternCodes: ReadonlySet<LecternErrorCode> = new Set([
  "NOT_LEADER",
  "LEADER_CHANGED",
  "OUTCOME_UNKNOWN",
  "OVERLOADED",
  "STOPPED",
  "READ_FAILED",
  // The leader sent the snapshot this node restored from, so it is a good node to ask instead.
  "FILE_NOT_YET_COPIED",
]);

/**
 * The gRPC status for a refused command. `conflictCode` says what a conflict means for this RPC
 * (ALREADY_EXISTS for a taken name, FAILED_PRECONDITION otherwise); a reused idempotency key with
 * other content is INVALID_ARGUMENT, as lms.proto specifies.
 */
export function rejectionError(rejection: Rejection, conflictCode: status = status.FAILED_PRECONDITION): LmsCallError {
  switch (rejection.status) {
    case "forbidden":
      return new LmsCallError(status.PERMISSION_DENIED, rejection.message);
    case "not-found":
      return new LmsCallError(status.NOT_FOUND, rejection.message);
    case "invalid":
      return new LmsCallError(status.INVALID_ARGUMENT, rejection.message);
    case "conflict":
      return new LmsCallError(
        rejection.message.includes("idempotency key") ? status.INVALID_ARGUMENT : conflictCode,
        rejection.message,
      );
  }
}

function errorCode(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
}

function errorName(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
}

/** Turns anything a handler threw into an LmsCallError (`code`/`name` checks work across module copies). */
export function toCallError(error: unknown): LmsCallError {
  if (error instanceof LmsCallError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const name = errorName(error);
  const code = errorCode(error);
  if (name === "AuthenticationError") return new LmsCallError(status.UNAUTHENTICATED, message);
  if (name === "TutorUnavailableError") return new LmsCallError(status.UNAVAILABLE, message, "TUTOR_UNAVAILABLE");
  if (name === "TutorRequestError") return new LmsCallError(status.INVALID_ARGUMENT, message);
  if (code === "MALFORMED_COMMAND") return new LmsCallError(status.INVALID_ARGUMENT, message);
  if (name === "RequestCancelledError" || name === "AbortError") {
    // Timed out or aborted before an outcome was known: retrying with the same key is safe.
    return new LmsCallError(status.UNAVAILABLE, message, "OUTCOME_UNKNOWN");
  }
  if (typeof code === "string" && Object.hasOwn(raftErrorMapping, code)) {
    const mapped = raftErrorMapping[code as RaftErrorCode];
    return new LmsCallError(mapped.grpc, message, mapped.lectern);
  }
  if (code === "FILE_TOO_LARGE") return new LmsCallError(status.RESOURCE_EXHAUSTED, message, "FILE_TOO_LARGE");
  return new LmsCallError(status.INTERNAL, "internal error on the node; the operator's log has details");
}

/**
 * The gRPC error (status, message and trailers) for `error`. Retryable errors name the leader
 * when this node knows it, so the client can go there directly.
 */
export function toServiceError(context: LmsServiceContext, error: unknown): Partial<ServiceError> {
  const callError = toCallError(error);
  if (callError.grpcCode === status.INTERNAL) {
    context.logger.error({ err: error instanceof Error ? error.stack : String(error) }, "client call failed");
  }
  const metadata = new Metadata();
  if (callError.lecternCode !== undefined) metadata.set(errorTrailer, callError.lecternCode);
  for (const [name, value] of Object.entries(callError.trailers)) metadata.set(name, value);
  if (callError.lecternCode !== undefined && retryableLecternCodes.has(callError.lecternCode)) {
    addLeaderHint(context, metadata);
  }
  return { code: callError.grpcCode, details: callError.message, metadata };
}

function addLeaderHint(context: LmsServiceContext, metadata: Metadata): void {
  let leader = "";
  try {
    leader = context.raft.status().leader;
  } catch {
    return; // Not started yet: no hint.
  }
  if (leader === "") return;
  metadata.set(leaderIdTrailer, leader);
  const address = context.addressOf(leader);
  if (address !== undefined) metadata.set(leaderAddressTrailer, address);
}
