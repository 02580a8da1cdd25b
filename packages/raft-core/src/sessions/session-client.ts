import type { Clock } from "../runtime/clock.js";
import { OutcomeUnknownError, OverloadedError } from "../runtime/errors.js";
import { encodeSessionEnvelope } from "./session-envelope.js";
import { SessionExpiredError } from "./session-expired-error.js";
import { DEFAULT_MAX_OUTSTANDING_COMMANDS } from "./session-options.js";
import { isSessionApplyResult, type SessionApplyResult } from "./session-result.js";

/** Anything that proposes bytes and resolves with the applied result: `RaftServer` fits. */
export interface SessionProposer {
  propose(command: Uint8Array): Promise<unknown>;
}

/** Attempts per command (the first and its retries) before the last error is passed on. */
export const DEFAULT_MAX_PROPOSE_ATTEMPTS = 10;
/** Pause between attempts, on the injected clock. */
export const DEFAULT_RETRY_DELAY_MS = 50;

/**
 * Error codes after which the same command (same sequence) is proposed again: the command was
 * not applied (NOT_LEADER, PROPOSAL_DROPPED, OVERLOADED), or may have been (OUTCOME_UNKNOWN),
 * in which case the session turns the retry into a duplicate that returns the first result.
 */
export const RETRYABLE_PROPOSE_CODES: ReadonlySet<string> = new Set([
  "NOT_LEADER",
  "PROPOSAL_DROPPED",
  "OUTCOME_UNKNOWN",
  "OVERLOADED",
]);

export interface SessionClientOptions {
  /**
   * Stamps each envelope with the time of the node that accepts it (thesis §6.3). For expiry to
   * mean wall time across leader changes, every node's clock should count from the same origin
   * (epoch milliseconds); the state machine never lets log time go backwards.
   */
  readonly clock: Clock;
  /** Default {@link DEFAULT_MAX_PROPOSE_ATTEMPTS}. */
  readonly maxAttempts?: number;
  /** Default {@link DEFAULT_RETRY_DELAY_MS}; 0 retries at once. */
  readonly retryDelayMs?: number;
  /**
   * Commands in flight at once; more are refused with OVERLOADED. Keep it below the state
   * machine's `maxCachedResultsPerClient`. Default {@link DEFAULT_MAX_OUTSTANDING_COMMANDS}.
   */
  readonly maxOutstandingCommands?: number;
}

/**
 * One client session (thesis §6.3): registers through the log, numbers its commands, and retries
 * a command with the SAME sequence after a retryable error, so a command whose reply was lost is
 * applied once. Every envelope carries the lowest sequence still awaited, so the replicas drop
 * results the client already has.
 *
 * A command that exhausts its attempts rejects with the last error (OUTCOME_UNKNOWN: it may or
 * may not be applied) and is no longer awaited: if it commits later, it applies once; a further
 * copy gets "result-evicted". `SESSION_EXPIRED` ({@link SessionExpiredError}) is final for the
 * command; with reason "unknown-session" it is final for the session, and every later call
 * rejects at once: register a new client.
 *
 * @example
 * const client = await SessionClient.register<number>(server, { clock });
 * const total = await client.propose(new TextEncoder().encode("add 5")); // applied once, even if retried
 * await client.keepAlive(); // while idle, well within sessionTimeoutMs
 */
export class SessionClient<Result = unknown> {
  /** The session's id: the log index of its RegisterClient entry. */
  readonly clientId: number;
  private readonly proposer: SessionProposer;
  private readonly clock: Clock;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly maxOutstanding: number;
  private nextSequenceNumber = 1;
  private readonly outstanding = new Set<number>();
  private expiredError: SessionExpiredError | undefined;

  private constructor(clientId: number, proposer: SessionProposer, settings: ResolvedClientSettings) {
    this.clientId = clientId;
    this.proposer = proposer;
    this.clock = settings.clock;
    this.maxAttempts = settings.maxAttempts;
    this.retryDelayMs = settings.retryDelayMs;
    this.maxOutstanding = settings.maxOutstandingCommands;
  }

  /**
   * Proposes a RegisterClient entry (retrying like a command) and returns the new session.
   * A retry after OUTCOME_UNKNOWN may leave an unused session behind; it expires on its own.
   * @throws the last proposer error once attempts run out, or Error when the result is not a
   * registration (the server does not run a SessionStateMachine).
   */
  static async register<Result = unknown>(
    proposer: SessionProposer,
    options: SessionClientOptions,
  ): Promise<SessionClient<Result>> {
    const settings = resolveClientSettings(options);
    const outcome = await proposeWithRetries(proposer, settings, () =>
      encodeSessionEnvelope({ kind: "register", timestampMs: stamp(settings.clock) }),
    );
    if (outcome.kind !== "registered") throw unexpected("RegisterClient", outcome);
    return new SessionClient<Result>(outcome.clientId, proposer, settings);
  }

  /** The sequence the next command gets. */
  get nextSequence(): number {
    return this.nextSequenceNumber;
  }

  /** Commands proposed and not yet answered. */
  get outstandingCommands(): number {
    return this.outstanding.size;
  }

  /** True once the replicas reported this session unknown (expired or evicted). */
  get expired(): boolean {
    return this.expiredError !== undefined;
  }

  /**
   * Proposes `payload` as the next command and resolves with the wrapped state machine's result,
   * the first time it was applied (a retry that turned out to be a duplicate returns the cached one).
   * Do not modify `payload` afterwards.
   * @throws SessionExpiredError (code SESSION_EXPIRED); OVERLOADED when `maxOutstandingCommands`
   * are in flight (not applied); the last proposer error after `maxAttempts`; any non-retryable
   * proposer error at once.
   */
  async propose(payload: Uint8Array): Promise<Result> {
    if (this.expiredError !== undefined) throw this.expiredError;
    if (!(payload instanceof Uint8Array))
      throw new TypeError("SessionClient.propose(payload): payload must be a Uint8Array");
    if (this.outstanding.size >= this.maxOutstanding) {
      throw new OverloadedError(
        `${this.outstanding.size} commands of session ${this.clientId} are in flight (maxOutstandingCommands)`,
      );
    }
    const sequence = this.nextSequenceNumber++;
    this.outstanding.add(sequence);
    try {
      const outcome = await proposeWithRetries(this.proposer, this.settings(), () =>
        encodeSessionEnvelope({
          kind: "command",
          clientId: this.clientId,
          sequence,
          lowestUnacked: this.lowestUnacked(),
          timestampMs: stamp(this.clock),
          payload,
        }),
      );
      if (outcome.kind === "applied" || outcome.kind === "duplicate") return outcome.result as Result;
      if (outcome.kind === "sessionExpired") throw this.expire(outcome.sequence, outcome.reason);
      throw unexpected(`command ${sequence}`, outcome);
    } finally {
      // Answered or given up: either way no longer awaited, so the next envelope acknowledges it.
      this.outstanding.delete(sequence);
    }
  }

  /**
   * Keeps the session alive while idle (call it at intervals well below `sessionTimeoutMs`) and
   * acknowledges the results already received.
   * @throws SessionExpiredError when the session is gone.
   */
  async keepAlive(): Promise<void> {
    if (this.expiredError !== undefined) throw this.expiredError;
    const outcome = await proposeWithRetries(this.proposer, this.settings(), () =>
      encodeSessionEnvelope({
        kind: "keepAlive",
        clientId: this.clientId,
        lowestUnacked: this.lowestUnacked(),
        timestampMs: stamp(this.clock),
      }),
    );
    if (outcome.kind === "keptAlive") return;
    if (outcome.kind === "sessionExpired") throw this.expire(0, outcome.reason);
    throw unexpected("KeepAlive", outcome);
  }

  /** The lowest sequence still awaited: the oldest outstanding command, or the next one. */
  private lowestUnacked(): number {
    let lowest = this.nextSequenceNumber;
    for (const sequence of this.outstanding) if (sequence < lowest) lowest = sequence;
    return lowest;
  }

  private expire(sequence: number, reason: "unknown-session" | "result-evicted"): SessionExpiredError {
    const error = new SessionExpiredError(this.clientId, sequence, reason);
    if (reason === "unknown-session") this.expiredError = error;
    return error;
  }

  private settings(): ResolvedClientSettings {
    return {
      clock: this.clock,
      maxAttempts: this.maxAttempts,
      retryDelayMs: this.retryDelayMs,
      maxOutstandingCommands: this.maxOutstanding,
    };
  }
}

interface ResolvedClientSettings {
  readonly clock: Clock;
  readonly maxAttempts: number;
  readonly retryDelayMs: number;
  readonly maxOutstandingCommands: number;
}

function resolveClientSettings(options: SessionClientOptions): ResolvedClientSettings {
  if (typeof options?.clock?.now !== "function") throw new TypeError("SessionClient: options.clock is required");
  const settings = {
    clock: options.clock,
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_PROPOSE_ATTEMPTS,
    retryDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
    maxOutstandingCommands: options.maxOutstandingCommands ?? DEFAULT_MAX_OUTSTANDING_COMMANDS,
  };
  if (!Number.isSafeInteger(settings.maxAttempts) || settings.maxAttempts < 1) {
    throw new RangeError(`SessionClient: options.maxAttempts must be a positive integer, got ${settings.maxAttempts}`);
  }
  if (!Number.isSafeInteger(settings.maxOutstandingCommands) || settings.maxOutstandingCommands < 1) {
    throw new RangeError(
      `SessionClient: options.maxOutstandingCommands must be a positive integer, got ${settings.maxOutstandingCommands}`,
    );
  }
  if (!Number.isFinite(settings.retryDelayMs) || settings.retryDelayMs < 0) {
    throw new RangeError(
      `SessionClient: options.retryDelayMs must be a non-negative number, got ${settings.retryDelayMs}`,
    );
  }
  return settings;
}

/**
 * Proposes `encode()` (called anew per attempt, for a fresh timestamp and acknowledgement) until
 * it resolves, a non-retryable error comes, or the attempts run out.
 */
async function proposeWithRetries(
  proposer: SessionProposer,
  settings: ResolvedClientSettings,
  encode: () => Uint8Array,
): Promise<SessionApplyResult<unknown>> {
  // Once one attempt may have been applied, the command's outcome stays unknown whatever later
  // attempts say: a NOT_LEADER on the last retry does not undo an earlier attempt that committed.
  let mayHaveApplied = false;
  for (let attempt = 1; ; attempt++) {
    let outcome: unknown;
    try {
      outcome = await proposer.propose(encode());
    } catch (error) {
      if (isRetryable(error) && attempt < settings.maxAttempts) {
        if (!isNotApplied(error)) mayHaveApplied = true;
        if (settings.retryDelayMs > 0) await sleep(settings.clock, settings.retryDelayMs);
        continue;
      }
      if (mayHaveApplied && isNotApplied(error)) {
        throw new OutcomeUnknownError(
          `an earlier attempt may have been applied; the last of ${attempt} attempts failed: ${String((error as Error)?.message ?? error)}`,
          { cause: error },
        );
      }
      throw error;
    }
    if (!isSessionApplyResult(outcome)) {
      throw new Error(
        "SessionClient: the proposer resolved with something that is not a session result; is the server's state machine a SessionStateMachine?",
      );
    }
    return outcome;
  }
}

/** Errors whose code promises the attempt was not applied (see src/runtime/errors.ts). */
const NOT_APPLIED_CODES: ReadonlySet<string> = new Set([
  "NOT_LEADER",
  "PROPOSAL_DROPPED",
  "OVERLOADED",
  "ENTRY_TOO_LARGE",
  "STOPPED",
]);

function isNotApplied(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && NOT_APPLIED_CODES.has(code);
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_PROPOSE_CODES.has(code);
}

function sleep(clock: Clock, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimer(delayMs, resolve);
  });
}

/** Whole non-negative milliseconds of the accepting node's clock. */
function stamp(clock: Clock): number {
  const now = Math.floor(clock.now());
  return Number.isSafeInteger(now) && now > 0 ? now : 0;
}

function unexpected(what: string, outcome: SessionApplyResult<unknown>): Error {
  const detail = outcome.kind === "malformed" ? `: ${outcome.problem}` : "";
  return new Error(`SessionClient: ${what} got a "${outcome.kind}" result${detail}`);
}
