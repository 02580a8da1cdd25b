/**
 * Limits and codecs of `SessionStateMachine`. Every replica MUST use the same values: expiry and
 * eviction decide whether a command is applied, so replicas with different limits would diverge.
 */

/** Sessions idle for longer than this much log time expire (LogCabin's default, one hour). */
export const DEFAULT_SESSION_TIMEOUT_MS = 60 * 60 * 1000;
/** Most live sessions; registering one more evicts the least recently active. */
export const DEFAULT_MAX_SESSIONS = 10_000;
/**
 * Most results cached per session. A client should keep fewer commands outstanding than this
 * (SessionClient's default is {@link DEFAULT_MAX_OUTSTANDING_COMMANDS}).
 */
export const DEFAULT_MAX_CACHED_RESULTS_PER_CLIENT = 64;
/** Outstanding commands a `SessionClient` allows at once; below the result cache bound. */
export const DEFAULT_MAX_OUTSTANDING_COMMANDS = 32;

/** Turns cached results into bytes for snapshots, and back. Must be deterministic. */
export interface SessionResultCodec<Result> {
  encode(result: Result): Uint8Array;
  /** Throws on bytes it cannot decode (the restore then fails). */
  decode(bytes: Uint8Array): Result;
}

export interface SessionStateMachineOptions<Result> {
  /** Log time a session may stay idle before it expires. Default {@link DEFAULT_SESSION_TIMEOUT_MS}. */
  readonly sessionTimeoutMs?: number;
  /** Default {@link DEFAULT_MAX_SESSIONS}. */
  readonly maxSessions?: number;
  /** Default {@link DEFAULT_MAX_CACHED_RESULTS_PER_CLIENT}. */
  readonly maxCachedResultsPerClient?: number;
  /**
   * Encodes cached results into snapshots. Required when the wrapped state machine has
   * `snapshot`/`restore` (otherwise there are no snapshots to encode into).
   */
  readonly resultCodec?: SessionResultCodec<Result>;
}

export interface ResolvedSessionOptions<Result> {
  readonly sessionTimeoutMs: number;
  readonly maxSessions: number;
  readonly maxCachedResultsPerClient: number;
  readonly resultCodec: SessionResultCodec<Result> | undefined;
}

/**
 * Fills in defaults and checks every limit.
 * @throws RangeError naming the bad option.
 */
export function resolveSessionOptions<Result>(
  options: SessionStateMachineOptions<Result>,
): ResolvedSessionOptions<Result> {
  const resolved = {
    sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
    maxSessions: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
    maxCachedResultsPerClient: options.maxCachedResultsPerClient ?? DEFAULT_MAX_CACHED_RESULTS_PER_CLIENT,
    resultCodec: options.resultCodec,
  };
  for (const name of ["sessionTimeoutMs", "maxSessions", "maxCachedResultsPerClient"] as const) {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(
        `SessionStateMachine: options.${name} must be a positive safe integer, got ${String(value)}`,
      );
    }
  }
  return resolved;
}

const jsonEncoder = new TextEncoder();
const jsonDecoder = new TextDecoder("utf-8", { fatal: true });
/** Stands for `undefined`, which JSON cannot hold (KvStateMachine-style results use it). */
const UNDEFINED_MARKER = new Uint8Array(0);

/**
 * A result codec for results that survive `JSON.stringify` unchanged (plain objects, arrays,
 * strings, finite numbers, booleans, null) plus `undefined`. Anything else (Uint8Array, Map,
 * bigint, Date, NaN) is NOT preserved: write a codec for those.
 *
 * @example
 * new SessionStateMachine(inner, { resultCodec: jsonResultCodec<KvApplyResult>() });
 */
export function jsonResultCodec<Result>(): SessionResultCodec<Result> {
  return {
    encode(result: Result): Uint8Array {
      if (result === undefined) return UNDEFINED_MARKER;
      return jsonEncoder.encode(JSON.stringify(result));
    },
    decode(bytes: Uint8Array): Result {
      if (bytes.byteLength === 0) return undefined as Result;
      return JSON.parse(jsonDecoder.decode(bytes)) as Result;
    },
  };
}
