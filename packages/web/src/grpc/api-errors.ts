import { status } from "@grpc/grpc-js";
import { lecternErrorCode } from "@lectern/lms-service";
import { ApiError, type ApiErrorCode } from "../lms-api.js";

/** What the user reads when the cluster could not answer even after the client's retries. */
export const clusterUnavailableMessage =
  "The Lectern service did not answer in time (it may be choosing a new leader). Try again in a moment.";

/** gRPC codes that map one to one onto the web front's codes. */
const directCodes: ReadonlyMap<number, ApiErrorCode> = new Map([
  [status.UNAUTHENTICATED, "UNAUTHENTICATED"],
  [status.PERMISSION_DENIED, "PERMISSION_DENIED"],
  [status.NOT_FOUND, "NOT_FOUND"],
  [status.INVALID_ARGUMENT, "INVALID_ARGUMENT"],
  [status.OUT_OF_RANGE, "INVALID_ARGUMENT"],
  [status.ALREADY_EXISTS, "ALREADY_EXISTS"],
  [status.FAILED_PRECONDITION, "FAILED_PRECONDITION"],
  // A feature this version of the service does not offer: the request cannot be done now.
  [status.UNIMPLEMENTED, "FAILED_PRECONDITION"],
  [status.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"],
]);

/** Codes that mean "the cluster did not answer" once the client has given up retrying. */
const outageCodes: ReadonlySet<number> = new Set([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
  status.ABORTED,
]);

/** Whether `error` came from grpc-js (a status code and details). */
function isGrpcError(error: unknown): error is { code: number; details: string; message: string } {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "number" &&
    typeof (error as { details?: unknown }).details === "string"
  );
}

/**
 * Translates a failed LMS call into an {@link ApiError}: the gRPC status picks the code, the
 * service's message (written for a person) becomes the message, and the `lectern-error` trailer
 * (TUTOR_UNAVAILABLE, FILE_TOO_LARGE, RATE_LIMITED, ...) becomes `detail`. A dropped connection
 * the client could not recover from counts as UNAVAILABLE. Anything else (a bug, a malformed
 * answer) is returned unchanged, so it becomes a logged 500 rather than a misleading message.
 */
export function toApiError(error: unknown): unknown {
  if (!isGrpcError(error)) return error;
  const detail = lecternErrorCode(error);
  const message = sentence(error.details);
  const direct = directCodes.get(error.code);
  if (direct !== undefined) return new ApiError(direct, message, detail);
  const isConnectionLoss = error.code === status.INTERNAL && /RST_STREAM|connection|closed|goaway/i.test(error.details);
  if (outageCodes.has(error.code) || isConnectionLoss) {
    // The tutor's own outage carries the service's message; a cluster outage gets ours.
    return new ApiError("UNAVAILABLE", detail === "TUTOR_UNAVAILABLE" ? message : clusterUnavailableMessage, detail);
  }
  return error;
}

/** Runs a call and rethrows its failure as {@link toApiError} says. */
export async function mapErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toApiError(error);
  }
}

/** The service's message as a sentence: a capital first letter and a full stop. */
function sentence(details: string): string {
  const text = details.trim();
  if (text === "") return "The Lectern service refused the request.";
  const capitalised = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}
