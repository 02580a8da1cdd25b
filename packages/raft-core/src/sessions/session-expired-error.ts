import type { SessionExpiredReason } from "./session-result.js";

/**
 * A session command was refused and NOT applied by this attempt: the session is gone
 * ("unknown-session": register again) or the command's cached result was dropped
 * ("result-evicted": an earlier attempt may have applied it, so its outcome is unknown, but it
 * will never be applied again). Match on `code`, not `instanceof` (ESM and CJS copies differ).
 */
export class SessionExpiredError extends Error {
  readonly code = "SESSION_EXPIRED";
  /** Retrying the same command cannot succeed: it would get the same answer. */
  readonly retryable = false;
  readonly clientId: number;
  readonly sequence: number;
  readonly reason: SessionExpiredReason;

  constructor(clientId: number, sequence: number, reason: SessionExpiredReason) {
    super(
      reason === "unknown-session"
        ? `session ${clientId} has expired or never existed; register a new session (commands still in flight on it were not applied by this attempt, and their outcome is unknown)`
        : `the result of command ${sequence} of session ${clientId} is no longer cached; it was not applied again, and whether an earlier attempt applied it is unknown`,
    );
    this.name = "SessionExpiredError";
    this.clientId = clientId;
    this.sequence = sequence;
    this.reason = reason;
  }
}

/** True when `error` is a {@link SessionExpiredError} (works across module copies). */
export function isSessionExpiredError(error: unknown): error is SessionExpiredError {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "SESSION_EXPIRED";
}
