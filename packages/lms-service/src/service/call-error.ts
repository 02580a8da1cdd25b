import { status } from "@grpc/grpc-js";

/**
 * Stable codes sent in the `lectern-error` trailer (lms.proto's header): a client keys its retry
 * and display logic on them, never on message text.
 */
export type LecternErrorCode =
  | "NOT_LEADER"
  | "LEADER_CHANGED"
  | "OUTCOME_UNKNOWN"
  | "OVERLOADED"
  | "STOPPED"
  | "READ_FAILED"
  | "TUTOR_UNAVAILABLE"
  | "FILE_TOO_LARGE"
  /** UNAVAILABLE: the file exists in the cluster but this node has not copied it yet (after a snapshot). */
  | "FILE_NOT_YET_COPIED"
  | "RATE_LIMITED";

/** Trailer names of lms.proto's error convention. */
export const errorTrailer = "lectern-error";
export const leaderIdTrailer = "lectern-leader-id";
export const leaderAddressTrailer = "lectern-leader-address";
/** Milliseconds until a rate-limited login may try again. */
export const retryAfterTrailer = "lectern-retry-after-ms";

/**
 * An error a handler throws on purpose: the gRPC status code, a message a person can act on, and
 * optionally a `lectern-error` code plus extra trailers. Everything else a handler throws is mapped
 * by `toServiceError` (call-errors.ts).
 */
export class LmsCallError extends Error {
  constructor(
    readonly grpcCode: status,
    message: string,
    readonly lecternCode?: LecternErrorCode,
    readonly trailers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "LmsCallError";
  }
}

/** INVALID_ARGUMENT naming the field. */
export function invalidArgument(field: string, problem: string): LmsCallError {
  return new LmsCallError(status.INVALID_ARGUMENT, `${field} ${problem}`);
}

/** UNIMPLEMENTED for a proto feature the replicated state machine has no command for yet. */
export function notSupported(what: string): LmsCallError {
  return new LmsCallError(status.UNIMPLEMENTED, `${what} is not supported by this version of Lectern`);
}
