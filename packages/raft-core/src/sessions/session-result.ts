/**
 * What `SessionStateMachine.apply` returns for each entry, and so what `RaftServer.propose`
 * resolves with when the server runs a session state machine.
 */

/**
 * Why a session command or keep-alive was refused (and NOT applied):
 * - "unknown-session": the client id has no session (never registered, expired after
 *   `sessionTimeoutMs` of log time without activity, or evicted as the least recently active
 *   when `maxSessions` was reached). The client must register again.
 * - "result-evicted": the session is alive, but this sequence is below the lowest one whose result
 *   the table still keeps (the client acknowledged it, or `maxCachedResultsPerClient` pushed it
 *   out). It may or may not have been applied earlier; it is never applied a second time.
 */
export type SessionExpiredReason = "unknown-session" | "result-evicted";

/** A command applied for the first time: `result` is what the wrapped state machine returned. */
export interface SessionAppliedResult<Result> {
  readonly kind: "applied";
  readonly clientId: number;
  readonly sequence: number;
  readonly result: Result;
}

/** A command seen before: `result` is the cached result of its first application; nothing was applied now. */
export interface SessionDuplicateResult<Result> {
  readonly kind: "duplicate";
  readonly clientId: number;
  readonly sequence: number;
  readonly result: Result;
}

/** A RegisterClient entry: the new session's id is the entry's log index. */
export interface SessionRegisteredResult {
  readonly kind: "registered";
  readonly clientId: number;
}

/** A KeepAlive for a live session. */
export interface SessionKeptAliveResult {
  readonly kind: "keptAlive";
  readonly clientId: number;
}

/** The command was not applied: see {@link SessionExpiredReason}. `sequence` is 0 for a keep-alive. */
export interface SessionExpiredResult {
  readonly kind: "sessionExpired";
  readonly clientId: number;
  readonly sequence: number;
  readonly reason: SessionExpiredReason;
}

/** A normal entry whose data is not a session envelope; nothing was applied. */
export interface SessionMalformedResult {
  readonly kind: "malformed";
  readonly problem: string;
}

/** A noop or config entry, handed to the wrapped state machine unchanged (the runtime ignores the result). */
export interface SessionPassthroughResult<Result> {
  readonly kind: "passthrough";
  readonly result: Result;
}

export type SessionApplyResult<Result> =
  | SessionAppliedResult<Result>
  | SessionDuplicateResult<Result>
  | SessionRegisteredResult
  | SessionKeptAliveResult
  | SessionExpiredResult
  | SessionMalformedResult
  | SessionPassthroughResult<Result>;

const KINDS: ReadonlySet<string> = new Set([
  "applied",
  "duplicate",
  "registered",
  "keptAlive",
  "sessionExpired",
  "malformed",
  "passthrough",
]);

/**
 * True when `value` has the shape of a {@link SessionApplyResult} (checks the `kind` and the
 * numeric fields; `result` is the application's and is not checked). For callers that receive
 * results as `unknown`, such as {@link SessionClient}.
 */
export function isSessionApplyResult(value: unknown): value is SessionApplyResult<unknown> {
  if (typeof value !== "object" || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  if (typeof kind !== "string" || !KINDS.has(kind)) return false;
  const fields = value as Record<string, unknown>;
  switch (kind) {
    case "applied":
    case "duplicate":
      return typeof fields.clientId === "number" && typeof fields.sequence === "number" && "result" in fields;
    case "registered":
    case "keptAlive":
      return typeof fields.clientId === "number";
    case "sessionExpired":
      return (
        typeof fields.clientId === "number" &&
        typeof fields.sequence === "number" &&
        (fields.reason === "unknown-session" || fields.reason === "result-evicted")
      );
    case "malformed":
      return typeof fields.problem === "string";
    default:
      return "result" in fields;
  }
}
