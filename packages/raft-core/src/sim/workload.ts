import type { NodeId } from "../core/types.js";
import type { TimerHandle } from "../runtime/clock.js";
import { isRaftError, NotLeaderError } from "../runtime/errors.js";
import { RequestCancelledError } from "../runtime/request-cancelled-error.js";
import { SessionClient, type SessionProposer } from "../sessions/session-client.js";
import { isSessionExpiredError } from "../sessions/session-expired-error.js";
import type { History } from "./history.js";
import { casCommand, encodeKvCommand, getCommand, type KvCommand, type KvResult, putCommand } from "./kv-command.js";
import type { KvApplyResult } from "./kv-state-machine.js";
import type { Prng } from "./prng.js";
import type { SimCluster } from "./sim-cluster.js";
import type { Trace } from "./trace.js";
import type { VirtualClock } from "./virtual-clock.js";

export const DEFAULT_RATE_OPS_PER_SECOND = 100;
/** Few keys, so operations contend on them (a checker needs overlapping operations to have power). */
export const DEFAULT_KEY_COUNT = 12;
export const DEFAULT_CLIENT_COUNT = 24;
/** At most this many operations run concurrently on one key, which keeps the linearizability search small. */
export const DEFAULT_MAX_CLIENTS_PER_KEY = 5;
/** Timeout of each propose and read: about three election timeouts. */
export const DEFAULT_OP_TIMEOUT_MS = 1_000;
/** Out of 100 operations: puts, gets, and the rest compare-and-sets. */
const PUT_PERCENT = 35;
const GET_PERCENT = 40;
/** A cas expects the last value seen on the key this often (out of 100); otherwise "absent". */
const CAS_EXPECTS_LAST_SEEN_PERCENT = 85;
const MICROS_PER_SECOND = 1_000_000;
/** Convergence-phase failures described in detail (the rest are only counted). */
export const MAX_FAILURES_DESCRIBED = 5;
const MICROS_PER_MS = 1_000;
/**
 * With sessions: attempts per command (and per registration), each with the operation timeout,
 * the same sequence every time. A few, so an operation still ends within seconds of virtual time.
 */
export const SESSION_MAX_ATTEMPTS = 3;
/** With sessions: pause before a retry. */
export const SESSION_RETRY_DELAY_MS = 50;

export interface WorkloadOptions {
  readonly clock: VirtualClock;
  readonly cluster: SimCluster;
  readonly history: History;
  readonly prng: Prng;
  readonly trace?: Trace;
  /** Operations started per virtual second (0 = none). Default {@link DEFAULT_RATE_OPS_PER_SECOND}. */
  readonly rateOpsPerSecond?: number;
  readonly keyCount?: number;
  readonly clientCount?: number;
  readonly maxClientsPerKey?: number;
  readonly opTimeoutMs?: number;
}

/** What became of the operations one workload started. */
export interface WorkloadCounts {
  /** Arrivals that found no idle client, no free key or no running node, so started nothing. */
  readonly skipped: number;
  readonly invoked: number;
  readonly ok: number;
  readonly fail: number;
  readonly indeterminate: number;
  /** Operations whose promise settled in a way the runtime's contract does not allow. */
  readonly unexpected: number;
}

/** One client operation in flight. */
interface InFlight {
  readonly historyId: number;
  readonly slot: number;
  readonly node: NodeId;
  readonly command: KvCommand;
  readonly invokedAtMs: number;
  done: boolean;
  /** Proposals made for this command (session retries included). */
  attempts: number;
  /** Some attempt may have been applied (OUTCOME_UNKNOWN, a crash...): it can no longer "fail". */
  maybeApplied: boolean;
}

/** A client slot's session (sessions on): registered on first use, again after it expired. */
interface SessionSlot {
  client: SessionClient<KvApplyResult> | undefined;
  /** The operation the slot runs (a slot runs one at a time). */
  op: InFlight | undefined;
  /** True while the slot registers: those proposals are not the command's attempts. */
  registering: boolean;
  readonly proposer: SessionProposer;
}

/** How an error from `propose` / `read` ends an operation (see the mapping in {@link classifyError}). */
export type ErrorOutcome = "fail" | "indeterminate";

/**
 * Maps an error of `RaftServer.propose()` / `read()` to a history outcome. "fail" only where the
 * runtime guarantees the command was not applied: NOT_LEADER, PROPOSAL_DROPPED, ENTRY_TOO_LARGE,
 * OVERLOADED, READ_FAILED (reads have no effect) and a cancellation before the request reached the
 * core (`RequestCancelledError`). Everything else, OUTCOME_UNKNOWN and STOPPED included, may have
 * been applied: "indeterminate".
 * @example classifyError(new NotLeaderError("n2")) // "fail"
 */
export function classifyError(error: unknown): ErrorOutcome {
  if (error instanceof RequestCancelledError) return "fail";
  if (!isRaftError(error)) return "indeterminate";
  switch (error.code) {
    case "NOT_LEADER":
    case "PROPOSAL_DROPPED":
    case "ENTRY_TOO_LARGE":
    case "OVERLOADED":
    case "READ_FAILED":
      return "fail";
    default:
      return "indeterminate";
  }
}

/** True for errors the runtime documents (a Raft error or a cancellation); anything else is a bug. */
function isExpectedError(error: unknown): boolean {
  return error instanceof RequestCancelledError || isRaftError(error) || isSessionExpiredError(error);
}

/**
 * Clients of the replicated key-value store, driven by the virtual clock. Operations arrive at
 * `rateOpsPerSecond` (uniform gaps around the mean); each goes to an idle client, a key with
 * fewer than `maxClientsPerKey` operations running, and a random running node, through the
 * public runtime API only: puts and compare-and-sets with `propose`, gets with the `read()`
 * barrier followed by a read of that node's local state machine. Every write carries a value
 * unique in the run. A failed or indeterminate operation is never retried: the client moves on.
 *
 * Each operation is recorded in the {@link History}: "ok" with its result, "fail" when the
 * runtime guarantees it had no effect, "indeterminate" when it may have (OUTCOME_UNKNOWN, or its
 * node crashed while it was pending; its promise then never settles).
 *
 * @example
 * const workload = new Workload({ clock, cluster, history, prng: root.fork("workload") });
 * workload.start();
 * await clock.runUntil(10_000);
 * workload.stop();
 */
export class Workload {
  private readonly clock: VirtualClock;
  private readonly cluster: SimCluster;
  private readonly history: History;
  private readonly prng: Prng;
  private readonly trace: Trace | undefined;
  private readonly meanGapMicros: number;
  private readonly keys: readonly string[];
  private readonly maxClientsPerKey: number;
  private readonly opTimeoutMs: number;
  /** Client id per slot; a slot gets a fresh id after an indeterminate operation (its old one may still act). */
  private readonly slotClient: number[];
  private readonly idleSlots: number[];
  private nextClientId: number;
  private readonly runningPerKey = new Map<string, number>();
  private readonly inFlightByNode = new Map<NodeId, Set<InFlight>>();
  /** The last value a completed operation saw or wrote, per key: what a cas usually expects. */
  private readonly lastSeen = new Map<string, string | null>();
  private running = false;
  private arrivalTimer: TimerHandle | undefined;
  /** Virtual time of the next arrival in microseconds, so sub-millisecond gaps accumulate exactly. */
  private nextArrivalMicros = 0;
  private mustSucceedFromMs = Number.POSITIVE_INFINITY;
  private counts = { skipped: 0, invoked: 0, ok: 0, fail: 0, indeterminate: 0, unexpected: 0 };
  private readonly mustSucceed = { issued: 0, ok: 0, notOk: 0 };
  private readonly unexpectedErrors: string[] = [];
  /** The first few operations of the convergence phase that did not succeed, described. */
  private readonly convergenceFailureList: string[] = [];
  private inFlightCount = 0;
  /** Per client slot, when the cluster runs sessions. */
  private readonly sessionSlots: SessionSlot[] | undefined;
  private sessionCounts = { registrations: 0, retries: 0 };

  constructor(options: WorkloadOptions) {
    this.clock = options.clock;
    this.cluster = options.cluster;
    this.history = options.history;
    this.prng = options.prng;
    this.trace = options.trace;
    const rate = options.rateOpsPerSecond ?? DEFAULT_RATE_OPS_PER_SECOND;
    if (!Number.isSafeInteger(rate) || rate < 0 || rate > MICROS_PER_SECOND) {
      throw new RangeError(`rateOpsPerSecond must be an integer in [0, ${MICROS_PER_SECOND}], got ${rate}`);
    }
    this.meanGapMicros = rate === 0 ? 0 : Math.floor(MICROS_PER_SECOND / rate);
    const keyCount = positive("keyCount", options.keyCount ?? DEFAULT_KEY_COUNT);
    this.keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
    this.maxClientsPerKey = positive("maxClientsPerKey", options.maxClientsPerKey ?? DEFAULT_MAX_CLIENTS_PER_KEY);
    this.opTimeoutMs = positive("opTimeoutMs", options.opTimeoutMs ?? DEFAULT_OP_TIMEOUT_MS);
    const clients = positive("clientCount", options.clientCount ?? DEFAULT_CLIENT_COUNT);
    this.slotClient = Array.from({ length: clients }, (_, i) => i);
    this.idleSlots = Array.from({ length: clients }, (_, i) => i);
    this.nextClientId = clients;
    this.cluster.onCrash((id) => this.onNodeCrash(id));
    this.sessionSlots = this.cluster.usesSessions()
      ? Array.from({ length: clients }, (): SessionSlot => {
          const slot: SessionSlot = {
            client: undefined,
            op: undefined,
            registering: false,
            proposer: { propose: (bytes) => this.sessionAttempt(slot, bytes) },
          };
          return slot;
        })
      : undefined;
  }

  /**
   * The longest an operation can take: its timeout, or with sessions every attempt of a
   * registration and of the command with the pauses between them.
   */
  maxOperationMs(): number {
    if (this.sessionSlots === undefined) return this.opTimeoutMs;
    return 2 * SESSION_MAX_ATTEMPTS * (this.opTimeoutMs + SESSION_RETRY_DELAY_MS);
  }

  /** With sessions: registrations made and commands retried (same sequence) so far. */
  sessionActivity(): { readonly registrations: number; readonly retries: number } {
    return { ...this.sessionCounts };
  }

  /** Starts issuing operations from now on. */
  start(): void {
    if (this.running || this.meanGapMicros === 0) return;
    this.running = true;
    this.nextArrivalMicros = this.clock.now() * MICROS_PER_MS;
    this.scheduleArrival();
  }

  /** Issues no new operation; those in flight still complete. */
  stop(): void {
    this.running = false;
    if (this.arrivalTimer !== undefined) this.clock.cancelTimer(this.arrivalTimer);
    this.arrivalTimer = undefined;
  }

  /**
   * From now on every new operation must complete "ok" (the convergence phase); the ones that
   * do not are counted in {@link Workload.convergenceOps}.
   */
  requireSuccessFromNow(): void {
    this.mustSucceedFromMs = this.clock.now();
  }

  /** Operations started since {@link Workload.requireSuccessFromNow} and how they ended so far. */
  convergenceOps(): { readonly issued: number; readonly ok: number; readonly notOk: number } {
    return { ...this.mustSucceed };
  }

  /** Descriptions of the first {@link MAX_FAILURES_DESCRIBED} convergence-phase operations that did not succeed. */
  convergenceFailures(): readonly string[] {
    return this.convergenceFailureList;
  }

  /** Operations started and not yet ended. */
  pendingCount(): number {
    return this.inFlightCount;
  }

  /** How the operations started so far ended. */
  outcomeCounts(): WorkloadCounts {
    return { ...this.counts };
  }

  /** Descriptions of errors outside the runtime's documented contract (each one is a bug). */
  unexpected(): readonly string[] {
    return this.unexpectedErrors;
  }

  private scheduleArrival(): void {
    // Uniform gap in [1, 2 × mean - 1] µs: mean `meanGapMicros`, integer math only.
    const gap = this.meanGapMicros <= 1 ? 1 : this.prng.nextRange(1, 2 * this.meanGapMicros - 1);
    this.nextArrivalMicros += gap;
    const atMs = Math.max(this.clock.now(), Math.ceil(this.nextArrivalMicros / MICROS_PER_MS));
    this.arrivalTimer = this.clock.schedule(atMs, this.onArrival);
  }

  private readonly onArrival = (): void => {
    this.arrivalTimer = undefined;
    if (!this.running) return;
    this.issue();
    this.scheduleArrival();
  };

  /** Starts one operation, if an idle client, a key with room and a running node exist. */
  private issue(): void {
    const nodes = this.cluster.clientNodes();
    const keys = this.keys.filter((key) => (this.runningPerKey.get(key) ?? 0) < this.maxClientsPerKey);
    if (this.idleSlots.length === 0 || nodes.length === 0 || keys.length === 0) {
      this.counts.skipped++;
      return;
    }
    const slotAt = this.prng.nextInt(this.idleSlots.length);
    const slot = this.idleSlots[slotAt] as number;
    this.idleSlots[slotAt] = this.idleSlots[this.idleSlots.length - 1] as number;
    this.idleSlots.pop();
    const node = this.prng.pick(nodes);
    const key = this.prng.pick(keys);
    const command = this.nextCommand(key);
    const client = this.slotClient[slot] as number;
    const historyId = this.history.invoke(client, command);
    const op: InFlight = {
      historyId,
      slot,
      node,
      command,
      invokedAtMs: this.clock.now(),
      done: false,
      attempts: 0,
      maybeApplied: false,
    };
    this.counts.invoked++;
    this.inFlightCount++;
    this.runningPerKey.set(key, (this.runningPerKey.get(key) ?? 0) + 1);
    if (op.invokedAtMs >= this.mustSucceedFromMs) this.mustSucceed.issued++;
    const sessionSlot = this.sessionSlots?.[slot];
    if (command.kind !== "get" && sessionSlot !== undefined) {
      // Session attempts are watched one by one (a crash ends an attempt, not the operation).
      void this.runSessionWrite(op, command, sessionSlot);
      return;
    }
    let onNode = this.inFlightByNode.get(node);
    if (onNode === undefined) {
      onNode = new Set();
      this.inFlightByNode.set(node, onNode);
    }
    onNode.add(op);
    if (command.kind === "get") this.runRead(op, key);
    else this.runWrite(op, command);
  }

  /**
   * A write through the slot's session (thesis §6.3): registers first when the slot has no live
   * session, then proposes the command; `SessionClient` retries it with the SAME sequence after
   * NOT_LEADER, PROPOSAL_DROPPED, OVERLOADED and OUTCOME_UNKNOWN (a crash of the node an attempt
   * went to counts as OUTCOME_UNKNOWN), so it is applied at most once. The history holds one
   * operation for all the attempts: invoked before the first, completed at the final answer.
   */
  private async runSessionWrite(op: InFlight, command: KvCommand, slot: SessionSlot): Promise<void> {
    slot.op = op;
    if (slot.client === undefined || slot.client.expired) {
      slot.registering = true;
      try {
        slot.client = await SessionClient.register<KvApplyResult>(slot.proposer, {
          clock: this.clock,
          maxAttempts: SESSION_MAX_ATTEMPTS,
          retryDelayMs: SESSION_RETRY_DELAY_MS,
        });
        this.sessionCounts.registrations++;
      } catch (error) {
        // The command itself was never proposed.
        slot.client = undefined;
        this.finishWithError(op, isExpectedError(error) ? new NotLeaderError("", "registration failed") : error);
        return;
      } finally {
        slot.registering = false;
      }
    }
    let result: KvApplyResult;
    try {
      result = await slot.client.propose(encodeKvCommand(command));
    } catch (error) {
      if (isSessionExpiredError(error) && error.reason === "unknown-session") slot.client = undefined;
      this.finishWithError(op, error);
      return;
    }
    this.finishOk(op, result);
  }

  /** One attempt of a session proposal, on a member node that is up (the first node of the operation if it still is). */
  private sessionAttempt(slot: SessionSlot, bytes: Uint8Array): Promise<unknown> {
    const op = slot.op as InFlight;
    const counted = !slot.registering;
    if (counted) {
      op.attempts++;
      if (op.attempts > 1) this.sessionCounts.retries++;
    }
    let node = op.node;
    if (op.attempts > 1 || !this.cluster.isUp(node)) {
      const nodes = this.cluster.clientNodes();
      if (nodes.length === 0) return Promise.reject(new NotLeaderError("", "no member node is up"));
      node = this.prng.pick(nodes);
    }
    return this.cluster
      .call(node, (server) => server.propose(bytes, { timeoutMs: this.opTimeoutMs }))
      .catch((error: unknown) => {
        if (counted && (!isExpectedError(error) || classifyError(error) === "indeterminate")) op.maybeApplied = true;
        throw error;
      });
  }

  private nextCommand(key: string): KvCommand {
    const roll = this.prng.nextInt(100);
    // Unique in the run: operations invoked before this one.
    const value = `v${this.counts.invoked}`;
    if (roll < PUT_PERCENT) return putCommand(key, value);
    if (roll < PUT_PERCENT + GET_PERCENT) return getCommand(key);
    const lastSeen = this.lastSeen.get(key) ?? null;
    const expected = this.prng.nextInt(100) < CAS_EXPECTS_LAST_SEEN_PERCENT ? lastSeen : null;
    return casCommand(key, expected, value);
  }

  private runWrite(op: InFlight, command: KvCommand): void {
    let pending: Promise<unknown>;
    try {
      pending = this.cluster.propose(op.node, encodeKvCommand(command), { timeoutMs: this.opTimeoutMs });
    } catch (error) {
      this.finishWithError(op, error);
      return;
    }
    pending.then(
      (result) => this.finishOk(op, result as KvResult | undefined),
      (error: unknown) => this.finishWithError(op, error),
    );
  }

  private runRead(op: InFlight, key: string): void {
    // The state machine of the incarnation the read goes to: after the barrier it holds everything
    // committed before the read began, so reading it is linearizable.
    const stateMachine = this.cluster.stateMachine(op.node);
    let barrier: Promise<void>;
    try {
      barrier = this.cluster.read(op.node, { timeoutMs: this.opTimeoutMs });
    } catch (error) {
      this.finishWithError(op, error);
      return;
    }
    barrier.then(
      () => this.finishOk(op, stateMachine === undefined ? undefined : { value: stateMachine.get(key) }),
      (error: unknown) => this.finishWithError(op, error),
    );
  }

  private finishOk(op: InFlight, result: KvResult | undefined): void {
    if (op.done) return;
    if (result === undefined) {
      this.finishUnexpected(op, `${op.command.kind} on ${op.node} resolved without a result`);
      return;
    }
    this.history.complete(op.historyId, result);
    this.counts.ok++;
    if (op.invokedAtMs >= this.mustSucceedFromMs) this.mustSucceed.ok++;
    const seen =
      op.command.kind === "get" || op.command.kind === "cas" ? (result as { value: string | null }) : undefined;
    if (op.command.kind === "put") this.lastSeen.set(op.command.key, op.command.value);
    else if (op.command.kind === "cas" && (result as { ok: boolean }).ok)
      this.lastSeen.set(op.command.key, op.command.next);
    else if (seen !== undefined) this.lastSeen.set(op.command.key, seen.value);
    this.end(op, "ok");
  }

  private finishWithError(op: InFlight, error: unknown): void {
    if (op.done) return;
    if (!isExpectedError(error)) {
      this.finishUnexpected(op, `${op.command.kind} on ${op.node} failed with ${describeError(error)}`);
      return;
    }
    // A session refusal (SESSION_EXPIRED) means this attempt was not applied; an earlier attempt may have been.
    const outcome = op.maybeApplied ? "indeterminate" : isSessionExpiredError(error) ? "fail" : classifyError(error);
    if (outcome === "fail") {
      this.history.fail(op.historyId);
      this.counts.fail++;
    } else {
      this.history.indeterminate(op.historyId);
      this.counts.indeterminate++;
    }
    const how = outcome === "fail" ? `fail ${errorCode(error)}` : `indeterminate ${errorCode(error)}`;
    this.noteNotOk(op, `${how}: ${describeError(error)}`);
    this.end(op, how);
  }

  /** A settlement the runtime's contract does not allow: indeterminate in the history, and a bug to report. */
  private finishUnexpected(op: InFlight, description: string): void {
    this.unexpectedErrors.push(`${this.clock.now()} ms: operation #${op.historyId}: ${description}`);
    this.counts.unexpected++;
    this.history.indeterminate(op.historyId);
    this.counts.indeterminate++;
    this.noteNotOk(op, description);
    this.end(op, "indeterminate unexpected");
  }

  /** The node crashed: its pending operations never settle; they may or may not have taken effect. */
  private onNodeCrash(id: NodeId): void {
    const onNode = this.inFlightByNode.get(id);
    if (onNode === undefined || onNode.size === 0) return;
    for (const op of [...onNode]) {
      this.history.indeterminate(op.historyId);
      this.counts.indeterminate++;
      this.noteNotOk(op, `node ${id} crashed`);
      this.end(op, "indeterminate crash");
    }
  }

  /** Counts (and describes the first few) convergence-phase operations that did not succeed. */
  private noteNotOk(op: InFlight, why: string): void {
    if (op.invokedAtMs < this.mustSucceedFromMs) return;
    this.mustSucceed.notOk++;
    if (this.convergenceFailureList.length < MAX_FAILURES_DESCRIBED) {
      this.convergenceFailureList.push(
        `#${op.historyId} ${describeCommand(op.command, op.node)} invoked at ${op.invokedAtMs} ms, ended at ${this.clock.now()} ms: ${why}`,
      );
    }
  }

  private end(op: InFlight, outcome: string): void {
    op.done = true;
    this.inFlightCount--;
    this.inFlightByNode.get(op.node)?.delete(op);
    const key = op.command.key;
    this.runningPerKey.set(key, (this.runningPerKey.get(key) ?? 1) - 1);
    // Jepsen's convention: after an indeterminate operation the client's old identity may still
    // act, so the slot continues as a new client.
    if (outcome.startsWith("indeterminate")) this.slotClient[op.slot] = this.nextClientId++;
    this.idleSlots.push(op.slot);
    const attempts = op.attempts > 1 ? ` (${op.attempts} attempts)` : "";
    this.trace?.op(op.historyId, `${describeCommand(op.command, op.node)}${attempts}`, outcome, this.clock.now());
  }
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function errorCode(error: unknown): string {
  if (error instanceof RequestCancelledError) return "CANCELLED";
  return isRaftError(error) ? error.code : "?";
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function describeCommand(command: KvCommand, node: NodeId): string {
  switch (command.kind) {
    case "put":
      return `put ${command.key}=${command.value} @${node}`;
    case "get":
      return `get ${command.key} @${node}`;
    case "cas":
      return `cas ${command.key} ${command.expected ?? "absent"}->${command.next} @${node}`;
  }
}
