import type { Entry, SnapshotMeta } from "../core/types.js";
import type { StateMachine } from "../runtime/state-machine.js";
import type { SnapshotChunks } from "../storage/storage.js";
import { decodeSessionEnvelope, type SessionCommandEnvelope, type SessionEnvelope } from "./session-envelope.js";
import {
  type ResolvedSessionOptions,
  resolveSessionOptions,
  type SessionResultCodec,
  type SessionStateMachineOptions,
} from "./session-options.js";
import type { SessionApplyResult } from "./session-result.js";
import { type ClientSession, SessionTable } from "./session-table.js";
import {
  decodeSessionTable,
  decodeSessionTablePrefix,
  encodeSessionTable,
  SESSION_TABLE_PREFIX_BYTES,
  type StoredSession,
} from "./session-table-codec.js";
import { prependHeader, SnapshotStreamSplitter } from "./snapshot-stream.js";

/** Where one command's result is kept; filled once the wrapped state machine has returned it. */
interface ResultSlot<Result> {
  filled: boolean;
  value: Result | undefined;
}

/** What an entry turned out to be, decided before the wrapped state machine runs the batch. */
type Plan<Result> =
  | { readonly type: "fresh"; readonly slot: ResultSlot<Result>; readonly clientId: number; readonly sequence: number }
  | {
      readonly type: "duplicate";
      readonly slot: ResultSlot<Result>;
      readonly clientId: number;
      readonly sequence: number;
    }
  | { readonly type: "passthrough" }
  | { readonly type: "fixed"; readonly result: SessionApplyResult<Result> };

const EMPTY = new Uint8Array(0);

/**
 * Exactly-once commands (thesis §6.3) around any `StateMachine`: the replicated session table
 * lives here, so the wrapped state machine sees each client command once however often it was
 * retried.
 *
 * Per entry, in log order:
 * - noop and config entries go to the wrapped state machine unchanged ("passthrough");
 * - a RegisterClient opens a session whose client id is the entry's log index;
 * - a session command whose (client, sequence) was applied before returns the cached result
 *   ("duplicate") and is not applied again; a new one is applied and its result cached;
 * - a command for an unknown or expired session, or whose sequence is below the session's floor
 *   (result acknowledged or evicted), gets "sessionExpired" and is NOT applied;
 * - a normal entry that is not a session envelope gets "malformed" and is not applied.
 * The wrapped state machine receives every index (entries it must not apply arrive as "noop"
 * entries with empty data), so its applied index moves with the table's.
 *
 * Expiry runs on log time (the largest timestamp of any applied envelope), never on a local
 * clock, so every replica expires the same sessions at the same index. Snapshots are the session
 * table (versioned, CRC-32C) followed by the wrapped state machine's own stream.
 *
 * The table is in memory: it survives restarts only through snapshots. A wrapped state machine
 * that keeps its own state on disk is restored from the latest snapshot at start-up (see
 * `appliedIndex`), and must not have applied entries past a point no snapshot covers; the wrapper
 * refuses to continue (throws) rather than let replicas diverge.
 *
 * @example
 * const stateMachine = new SessionStateMachine(new CounterStateMachine(), {
 *   sessionTimeoutMs: 10 * 60_000,
 *   resultCodec: jsonResultCodec<number>(),
 * });
 * const server = new RaftServer({ ...options, stateMachine });
 * const client = await SessionClient.register<number>(server, { clock });
 * await client.propose(new TextEncoder().encode("add 1")); // applied once, even if retried
 */
export class SessionStateMachine<Result> implements StateMachine<SessionApplyResult<Result>> {
  /** Present when the wrapped state machine supports snapshots. */
  readonly snapshot?: () => SnapshotChunks | Promise<SnapshotChunks>;
  /** Present when the wrapped state machine supports snapshots. */
  readonly restore?: (meta: SnapshotMeta, data: SnapshotChunks) => Promise<void>;
  /** Present when the wrapped state machine reports a durable index. */
  readonly durableIndex?: () => number;

  private readonly options: ResolvedSessionOptions<Result>;
  private readonly table = new SessionTable<ResultSlot<Result>>();
  /** The last index the session table reflects. Invariant: equals the wrapped applied index between applies. */
  private tableIndex = 0;
  private expiredSessions = 0;

  constructor(
    /** The application's state machine; owned by the wrapper from now on (do not apply to it directly). */
    private readonly inner: StateMachine<Result>,
    options: SessionStateMachineOptions<Result> = {},
  ) {
    this.options = resolveSessionOptions(options);
    const hasSnapshot = typeof inner.snapshot === "function";
    const hasRestore = typeof inner.restore === "function";
    if (hasSnapshot !== hasRestore) {
      throw new TypeError(
        "SessionStateMachine: the wrapped state machine must have both snapshot() and restore(), or neither",
      );
    }
    if (hasSnapshot) {
      const codec = this.options.resultCodec;
      if (codec === undefined) {
        throw new TypeError(
          "SessionStateMachine: options.resultCodec is required when the wrapped state machine takes snapshots (cached results are part of them); jsonResultCodec() fits JSON-safe results",
        );
      }
      this.snapshot = () => this.takeSnapshot(codec);
      this.restore = (meta, data) => this.restoreSnapshot(meta, data, codec);
    }
    if (typeof inner.durableIndex === "function") {
      const durable = inner.durableIndex.bind(inner);
      this.durableIndex = () => Math.min(durable(), this.tableIndex);
    }
  }

  /**
   * The lower of the table's index and the wrapped state machine's. They are equal in steady
   * state; after a restart of a durable wrapped state machine the table is empty (index 0), so
   * the runtime restores the latest snapshot, which brings both back together.
   */
  appliedIndex(): number {
    return Math.min(this.tableIndex, this.inner.appliedIndex());
  }

  /** Live sessions. */
  sessionCount(): number {
    return this.table.size;
  }

  /** Sessions expired by idle time since this object was created (not replicated; for metrics). */
  expiredSessionCount(): number {
    return this.expiredSessions;
  }

  /** Log time: the largest timestamp of any applied envelope. */
  logTimeMs(): number {
    return this.table.logTimeMs;
  }

  /** Decides every entry of the batch, applies the new commands in one call, then fills in results. */
  apply(
    entries: readonly Entry[],
  ): readonly SessionApplyResult<Result>[] | Promise<readonly SessionApplyResult<Result>[]> {
    if (entries.length === 0) return [];
    this.checkContiguous(entries);
    const plans: Plan<Result>[] = new Array(entries.length);
    const forInner: Entry[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      const { plan, innerEntry } = this.decide(entry);
      plans[i] = plan;
      forInner[i] = innerEntry;
    }
    this.tableIndex = (entries[entries.length - 1] as Entry).index;
    const innerResults = this.inner.apply(forInner);
    if (isPromiseLike(innerResults))
      return Promise.resolve(innerResults).then((results) => this.finish(plans, results));
    return this.finish(plans, innerResults);
  }

  private checkContiguous(entries: readonly Entry[]): void {
    const innerApplied = this.inner.appliedIndex();
    if (innerApplied !== this.tableIndex) {
      throw new Error(
        `SessionStateMachine: the session table is at index ${this.tableIndex} but the wrapped state machine is at ${innerApplied}; ` +
          "the table lives in memory and is rebuilt only from snapshots, so a durable wrapped state machine must restart from a snapshot",
      );
    }
    let expected = this.tableIndex + 1;
    for (const entry of entries) {
      if (entry.index !== expected) {
        throw new Error(
          `SessionStateMachine: entry ${entry.index} applied out of order; expected ${expected} (apply must be contiguous)`,
        );
      }
      expected++;
    }
  }

  /** Updates the table for one entry and says what the wrapped state machine gets at its index. */
  private decide(entry: Entry): { plan: Plan<Result>; innerEntry: Entry } {
    if (entry.type !== "normal") return { plan: { type: "passthrough" }, innerEntry: entry };
    const decoded = decodeSessionEnvelope(entry.data);
    if (!decoded.ok) return this.skip(entry, { kind: "malformed", problem: decoded.problem });
    const envelope: SessionEnvelope = decoded.envelope;
    this.table.advanceTime(envelope.timestampMs);
    this.expiredSessions += this.table.expireIdle(this.options.sessionTimeoutMs);
    switch (envelope.kind) {
      case "register":
        this.table.register(entry.index, this.options.maxSessions);
        return this.skip(entry, { kind: "registered", clientId: entry.index });
      case "keepAlive": {
        const session = this.table.get(envelope.clientId);
        if (session === undefined) return this.skip(entry, expired(envelope.clientId, 0, "unknown-session"));
        this.table.touch(session);
        this.table.acknowledge(session, envelope.lowestUnacked);
        return this.skip(entry, { kind: "keptAlive", clientId: envelope.clientId });
      }
      case "command":
        return this.decideCommand(entry, envelope);
    }
  }

  private decideCommand(entry: Entry, command: SessionCommandEnvelope): { plan: Plan<Result>; innerEntry: Entry } {
    const { clientId, sequence } = command;
    const session: ClientSession<ResultSlot<Result>> | undefined = this.table.get(clientId);
    if (session === undefined) return this.skip(entry, expired(clientId, sequence, "unknown-session"));
    this.table.touch(session);
    this.table.acknowledge(session, command.lowestUnacked);
    const cached = session.results.get(sequence);
    if (cached !== undefined) {
      return { plan: { type: "duplicate", slot: cached, clientId, sequence }, innerEntry: noopAt(entry) };
    }
    if (sequence < session.floor) return this.skip(entry, expired(clientId, sequence, "result-evicted"));
    const slot: ResultSlot<Result> = { filled: false, value: undefined };
    this.table.remember(session, sequence, slot, this.options.maxCachedResultsPerClient);
    return {
      plan: { type: "fresh", slot, clientId, sequence },
      innerEntry: { index: entry.index, term: entry.term, type: "normal", data: command.payload },
    };
  }

  private skip(entry: Entry, result: SessionApplyResult<Result>): { plan: Plan<Result>; innerEntry: Entry } {
    return { plan: { type: "fixed", result }, innerEntry: noopAt(entry) };
  }

  /** Fills the result slots in log order (so a duplicate later in the batch sees its original's result). */
  private finish(plans: readonly Plan<Result>[], innerResults: readonly Result[]): SessionApplyResult<Result>[] {
    if (!Array.isArray(innerResults) || innerResults.length !== plans.length) {
      throw new Error(
        `SessionStateMachine: the wrapped state machine returned ${Array.isArray(innerResults) ? innerResults.length : "no"} results for ${plans.length} entries`,
      );
    }
    const results: SessionApplyResult<Result>[] = new Array(plans.length);
    for (let i = 0; i < plans.length; i++) {
      const plan = plans[i] as Plan<Result>;
      switch (plan.type) {
        case "fresh":
          plan.slot.value = innerResults[i] as Result;
          plan.slot.filled = true;
          results[i] = { kind: "applied", clientId: plan.clientId, sequence: plan.sequence, result: plan.slot.value };
          break;
        case "duplicate":
          if (!plan.slot.filled) throw new Error("SessionStateMachine: a duplicate's original result is missing (bug)");
          results[i] = {
            kind: "duplicate",
            clientId: plan.clientId,
            sequence: plan.sequence,
            result: plan.slot.value as Result,
          };
          break;
        case "passthrough":
          results[i] = { kind: "passthrough", result: innerResults[i] as Result };
          break;
        case "fixed":
          results[i] = plan.result;
          break;
      }
    }
    return results;
  }

  /** The table, encoded now (later applies cannot change it), then the wrapped state machine's stream. */
  private takeSnapshot(codec: SessionResultCodec<Result>): SnapshotChunks | Promise<SnapshotChunks> {
    const innerApplied = this.inner.appliedIndex();
    if (innerApplied !== this.tableIndex) {
      throw new Error(
        `SessionStateMachine.snapshot: the session table is at ${this.tableIndex} but the wrapped state machine at ${innerApplied}`,
      );
    }
    const header = encodeSessionTable({
      appliedIndex: this.tableIndex,
      logTimeMs: this.table.logTimeMs,
      sessions: this.table.list().map((session) => storedSession(session, codec)),
    });
    const innerStream = (this.inner.snapshot as () => SnapshotChunks | Promise<SnapshotChunks>).call(this.inner);
    if (isPromiseLike(innerStream)) return Promise.resolve(innerStream).then((chunks) => prependHeader(header, chunks));
    return prependHeader(header, innerStream);
  }

  /**
   * Reads and checks the whole table first, then streams the rest to the wrapped state machine's
   * restore; the table is replaced only once that succeeded.
   */
  private async restoreSnapshot(
    meta: SnapshotMeta,
    data: SnapshotChunks,
    codec: SessionResultCodec<Result>,
  ): Promise<void> {
    const splitter = new SnapshotStreamSplitter(data);
    let sessions: ClientSession<ResultSlot<Result>>[];
    let logTimeMs: number;
    try {
      const prefix = decodeSessionTablePrefix(
        await splitter.readExactly(SESSION_TABLE_PREFIX_BYTES, "session table prefix"),
      );
      const tableBytes = await splitter.readExactly(prefix.tableBytes, "session table");
      const stored = decodeSessionTable(tableBytes, prefix, this.options);
      if (stored.appliedIndex !== meta.index) {
        throw new Error(
          `SessionStateMachine.restore: the session table was taken at index ${stored.appliedIndex}, but the snapshot meta says ${meta.index}`,
        );
      }
      logTimeMs = stored.logTimeMs;
      sessions = stored.sessions.map((session) => liveSession(session, codec));
    } catch (error) {
      await splitter.close().catch(() => undefined);
      throw error;
    }
    await (this.inner.restore as (meta: SnapshotMeta, data: AsyncIterable<Uint8Array>) => void | Promise<void>).call(
      this.inner,
      meta,
      splitter.rest(),
    );
    this.table.replace(logTimeMs, sessions);
    this.tableIndex = meta.index;
  }
}

function expired(
  clientId: number,
  sequence: number,
  reason: "unknown-session" | "result-evicted",
): SessionApplyResult<never> {
  return { kind: "sessionExpired", clientId, sequence, reason };
}

/** The entry at `entry`'s index as the wrapped state machine sees it when it must not apply anything. */
function noopAt(entry: Entry): Entry {
  return { index: entry.index, term: entry.term, type: "noop", data: EMPTY };
}

function storedSession<Result>(
  session: ClientSession<ResultSlot<Result>>,
  codec: SessionResultCodec<Result>,
): StoredSession {
  const sequences = [...session.results.keys()].sort((a, b) => a - b);
  return {
    clientId: session.clientId,
    lastActivityMs: session.lastActivityMs,
    floor: session.floor,
    results: sequences.map((sequence) => {
      const slot = session.results.get(sequence) as ResultSlot<Result>;
      if (!slot.filled) throw new Error("SessionStateMachine.snapshot: taken while an apply was in flight (bug)");
      return [sequence, codec.encode(slot.value as Result)] as const;
    }),
  };
}

function liveSession<Result>(
  stored: StoredSession,
  codec: SessionResultCodec<Result>,
): ClientSession<ResultSlot<Result>> {
  const results = new Map<number, ResultSlot<Result>>();
  for (const [sequence, bytes] of stored.results) results.set(sequence, { filled: true, value: codec.decode(bytes) });
  return { clientId: stored.clientId, lastActivityMs: stored.lastActivityMs, floor: stored.floor, results };
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
