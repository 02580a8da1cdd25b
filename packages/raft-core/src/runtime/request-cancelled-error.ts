/**
 * The caller's AbortSignal fired, or its timeout passed, before the request reached the Raft
 * core (so a proposal was NOT applied), or a read was aborted. Once a proposal has reached the
 * core, a timeout or abort gives `OutcomeUnknownError` instead.
 *
 * Named "AbortError" like the platform's abort errors; it deliberately carries no Raft `code`,
 * so `isRaftError` does not mistake it for one.
 */
export class RequestCancelledError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AbortError";
  }
}
