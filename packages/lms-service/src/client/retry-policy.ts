import { type Metadata, type ServiceError, status } from "@grpc/grpc-js";

/** Attempts of one call (the first included) before the last error is returned. */
export const defaultMaxAttempts = 10;
/** First retry delay, before jitter; doubles per attempt up to {@link defaultMaxBackoffMs}. */
export const defaultInitialBackoffMs = 50;
export const defaultMaxBackoffMs = 1_000;
/** What grpc-js says in an INTERNAL status when the connection, not the handler, failed. */
const connectionTrouble = /RST_STREAM|connection|closed|goaway/i;
/** Delay before following a leader hint (a hint is fresh news: no need to wait long). */
export const leaderHintDelayMs = 10;

/** The `lectern-error` trailer of a failed call, or undefined. */
export function lecternErrorCode(error: unknown): string | undefined {
  const metadata = (error as Partial<ServiceError> | undefined)?.metadata;
  return firstValue(metadata, "lectern-error");
}

/** The `lectern-leader-address` trailer of a failed call, or undefined. */
export function leaderAddressHint(error: unknown): string | undefined {
  const metadata = (error as Partial<ServiceError> | undefined)?.metadata;
  return firstValue(metadata, "lectern-leader-address");
}

function firstValue(metadata: Metadata | undefined, name: string): string | undefined {
  if (metadata === undefined || typeof metadata.get !== "function") return undefined;
  const value = metadata.get(name)[0];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Whether another node (or the same one later) may succeed where this attempt failed. Every write
 * carries an idempotency key, so resending one whose outcome is unknown is safe. A tutor whose
 * model server is down is the same on every node: no retry.
 */
export function isRetryable(error: unknown, callerAborted: boolean): boolean {
  if (callerAborted) return false;
  const code = (error as Partial<ServiceError> | undefined)?.code;
  const details = String((error as Partial<ServiceError> | undefined)?.details ?? "");
  switch (code) {
    case status.UNAVAILABLE:
      return lecternErrorCode(error) !== "TUTOR_UNAVAILABLE";
    case status.DEADLINE_EXCEEDED:
      return true;
    // A node killed mid-call resets its streams; grpc-js reports that as CANCELLED or INTERNAL.
    case status.CANCELLED:
      return true;
    case status.INTERNAL:
      return connectionTrouble.test(details);
    default:
      return false;
  }
}

/**
 * Whether the call failed below the LMS: the node did not answer at all (connection refused or
 * reset, no connection). Every answer from an LMS node's handlers carries a `lectern-error` code.
 */
export function isConnectionFailure(error: unknown): boolean {
  if (lecternErrorCode(error) !== undefined) return false;
  const code = (error as Partial<ServiceError> | undefined)?.code;
  const details = String((error as Partial<ServiceError> | undefined)?.details ?? "");
  if (code === status.UNAVAILABLE || code === status.CANCELLED) return true;
  return code === status.INTERNAL && connectionTrouble.test(details);
}

/** Jittered exponential delay before retry number `retry` (1 for the first retry). */
export function backoffMs(retry: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(retry - 1, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
