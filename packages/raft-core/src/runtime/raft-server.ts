import { type CoreStatus, type ProposeResult, RaftCore } from "../core/raft-core.js";
import type { Entry, Message, NodeId, Ready, Role } from "../core/types.js";
import type { PersistedState, Storage, StorageWrite } from "../storage/storage.js";
import { CallCancellation, type CancelReason, checkTimeoutMs } from "./call-cancellation.js";
import type { Clock, TimerHandle } from "./clock.js";
import {
  EntryTooLargeError,
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  RaftError,
  ReadFailedError,
  StoppedError,
  StorageFailedError,
} from "./errors.js";
import { Inbox } from "./inbox.js";
import { type Logger, silentLogger } from "./logger.js";
import { PendingProposal, PendingProposals } from "./pending-proposals.js";
import { PendingRead, PendingReads } from "./pending-reads.js";
import { RequestCancelledError } from "./request-cancelled-error.js";
import { firstRequestId } from "./request-ids.js";
import { CAMPAIGN_EVENT, type ServerEvent, TICK_EVENT } from "./server-events.js";
import {
  type CallOptions,
  type RaftServerOptions,
  type ResolvedServerOptions,
  resolveServerOptions,
} from "./server-options.js";
import type { StateMachine } from "./state-machine.js";
import type { Transport, TransportHandler } from "./transport.js";

/**
 * Rounds (inbox batch + one Ready) the loop runs back to back on microtasks before it continues
 * on a zero-delay clock timer instead, so timers and I/O are never starved by a busy node.
 */
export const MAX_ROUNDS_BEFORE_YIELD = 64;
/** Peer messages arriving while this many events wait are dropped (Raft tolerates message loss). */
export const MAX_INBOX_EVENTS_FOR_MESSAGES = 65_536;
/** Committed batches waiting for the state machine are merged into one `apply` call up to this many entries. */
export const MAX_APPLY_BATCH_ENTRIES = 1_024;

/** Where a server is in its life. "stopped" is final, whether by `stop()` or by a fatal error. */
export type ServerLifecycle = "new" | "starting" | "running" | "stopped";

/** The core's status plus what the runtime adds. */
export interface ServerStatus extends CoreStatus {
  readonly lifecycle: ServerLifecycle;
  /** The last index the local state machine has applied; reads wait for this to reach their read index. */
  readonly stateMachineApplied: number;
  readonly pendingProposals: number;
  readonly pendingReads: number;
  /** Peer messages dropped because the inbox was full. */
  readonly droppedMessages: number;
  /** Why the server stopped by itself (storage or state machine failure); undefined otherwise. */
  readonly fatalError: RaftError | undefined;
}

/**
 * Runs one Raft member: drives a `RaftCore` with the injected clock, storage, transport and state
 * machine, and gives a promise API for proposals and linearizable reads.
 *
 * It is an event-queue machine (DESIGN.md "Runtime", "Determinism contract"): every outside
 * completion enters one FIFO inbox and is handled synchronously in arrival order; after each
 * batch the server runs one Ready round: refused forwarded proposals fail, leader changes are
 * noticed, `messages` leave, and hard state + entries go to storage in ONE write (skipped when
 * empty). Once it is durable, `messagesAfterPersist` leave, committed entries join the apply
 * queue, read states are delivered and the core is advanced. At most one write is in flight;
 * whatever accumulates meanwhile goes into the next write (group commit). Committed entries are
 * applied in order, one `apply` call at a time, and settle the proposals waiting for them.
 *
 * @example
 * const server = new RaftServer<number>({ id: "a", clusterId: "demo", voters: ["a"], clock, random,
 *   storage, transport, stateMachine });
 * await server.start();
 * server.campaign();
 * const result = await server.propose(new TextEncoder().encode("add 1"), { timeoutMs: 1_000 });
 * await server.read(); // everything committed before this call is now applied locally
 * await server.stop();
 */
export class RaftServer<Result = unknown> {
  readonly id: NodeId;
  /**
   * Settles once the server has stopped and released its transport and storage: with undefined
   * after `stop()`, with the error after a fatal failure (STORAGE_FAILED, or STOPPED when the
   * state machine failed). Never rejects.
   */
  readonly stopped: Promise<RaftError | undefined>;

  private readonly options: ResolvedServerOptions;
  private readonly clock: Clock;
  private readonly storage: Storage;
  private readonly transport: Transport;
  private readonly stateMachine: StateMachine<Result>;
  private readonly logger: Logger;

  private core: RaftCore | undefined;
  private lifecycle: ServerLifecycle = "new";
  private fatalError: RaftError | undefined;
  private startPromise: Promise<void> | undefined;
  private releasePromise: Promise<void> | undefined;
  private resolveStopped: (error: RaftError | undefined) => void = () => {};

  private readonly inbox = new Inbox<ServerEvent<Result>>();
  private runScheduled = false;
  private roundsSinceYield = 0;
  private tickTimer: TimerHandle | undefined;
  private yieldTimer: TimerHandle | undefined;

  /** The storage write in flight (at most one); settles after its completion event was posted. */
  private writeInFlight: Promise<void> | undefined;
  /** The asynchronous `apply` in flight (at most one); its completion comes back through the inbox. */
  private applyInFlight: Promise<void> | undefined;
  /** Committed, durable entries waiting for the state machine, in log order. */
  private readonly applyQueue: (readonly Entry[])[] = [];
  private stateMachineApplied = 0;

  private readonly proposals: PendingProposals<Result>;
  private readonly reads = new PendingReads();
  private nextRequestId: number;

  /** Leader, term and role as of the last Ready, to notice changes. */
  private observedLeader: NodeId = "";
  private observedTerm = 0;
  private observedRole: Role = "follower";
  private droppedMessages = 0;

  private readonly transportHandler: TransportHandler = {
    onMessage: (message) => this.receive(message),
    onUnreachable: (peer) => this.post({ kind: "unreachable", peer }),
  };

  constructor(options: RaftServerOptions<Result>) {
    this.options = resolveServerOptions(options);
    this.id = options.id;
    this.clock = options.clock;
    this.storage = options.storage;
    this.transport = options.transport;
    this.stateMachine = options.stateMachine;
    this.logger = options.logger ?? silentLogger;
    this.proposals = new PendingProposals<Result>(options.id);
    this.nextRequestId = firstRequestId(options.random);
    this.stopped = new Promise((resolve) => {
      this.resolveStopped = resolve;
    });
  }

  /**
   * Loads the durable state, builds the core, starts the transport and the tick timer. Call once.
   * Rejects with STORAGE_FAILED when the storage cannot be loaded (the server is then stopped).
   */
  start(): Promise<void> {
    if (this.lifecycle !== "new") {
      return Promise.reject(
        new Error(`RaftServer.start(): the server is ${this.lifecycle}; start() may be called only once`),
      );
    }
    this.lifecycle = "starting";
    this.startPromise = this.load();
    return this.startPromise;
  }

  /**
   * Proposes `command` and resolves with the state machine's result once the entry is committed
   * and applied on this node. Do not modify `command` afterwards: the log keeps the same bytes.
   *
   * Rejects with NOT_LEADER (hint included), ENTRY_TOO_LARGE, OVERLOADED, PROPOSAL_DROPPED or
   * STOPPED (before acceptance) when the command was not applied; with OUTCOME_UNKNOWN after a
   * timeout, an abort or a leader change once the proposal reached the core; with an "AbortError"
   * (not applied) when aborted or timed out before that.
   */
  propose(command: Uint8Array, options: CallOptions = {}): Promise<Result> {
    if (this.lifecycle !== "running") return Promise.reject(this.notRunningError());
    if (!(command instanceof Uint8Array)) {
      return Promise.reject(new TypeError("RaftServer.propose(command): command must be a Uint8Array"));
    }
    const maxEntryBytes = this.options.maxEntryBytes;
    if (command.byteLength > maxEntryBytes)
      return Promise.reject(new EntryTooLargeError(command.byteLength, maxEntryBytes));
    if (this.proposals.size >= this.options.maxPendingProposals) {
      return Promise.reject(
        new OverloadedError(`${this.proposals.size} proposals are pending on this node (maxPendingProposals)`),
      );
    }
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeoutMs(options.timeoutMs ?? this.options.defaultTimeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options.signal;
    if (signal?.aborted) {
      return Promise.reject(
        new RequestCancelledError("the proposal was aborted before it reached the Raft core; it was not applied", {
          cause: signal.reason,
        }),
      );
    }
    return new Promise<Result>((resolve, reject) => {
      const proposal = new PendingProposal<Result>(this.nextRequestId++, command, timeoutMs, signal, resolve, reject);
      this.proposals.add(proposal);
      proposal.cancellation = new CallCancellation(this.clock, timeoutMs, signal, (reason) =>
        this.cancelProposal(proposal, reason),
      );
      this.post({ kind: "propose", proposal });
    });
  }

  /**
   * A linearizable barrier (ReadIndex, thesis §6.4): resolves once this node's state machine has
   * applied everything committed before the call, so reading it afterwards is linearizable.
   * Concurrent reads share one leadership confirmation. Rejects with READ_FAILED (retry) when
   * leadership could not be confirmed or the timeout passed, OVERLOADED, STOPPED, or an
   * "AbortError" when aborted.
   */
  read(options: CallOptions = {}): Promise<void> {
    if (this.lifecycle !== "running") return Promise.reject(this.notRunningError());
    if (this.reads.size >= this.options.maxPendingReads) {
      return Promise.reject(new OverloadedError(`${this.reads.size} reads are pending on this node (maxPendingReads)`));
    }
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeoutMs(options.timeoutMs ?? this.options.defaultTimeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(new RequestCancelledError("the read was aborted", { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      const read = new PendingRead(this.nextRequestId++, timeoutMs, signal, resolve, reject);
      this.reads.add(read);
      read.cancellation = new CallCancellation(this.clock, timeoutMs, signal, (reason) =>
        this.cancelRead(read, reason),
      );
      this.post({ kind: "read", read });
    });
  }

  /** Starts an election now (bootstrapping a one-node cluster, tests). Throws STOPPED when not running. */
  campaign(): void {
    if (this.lifecycle !== "running") throw this.notRunningError();
    this.post(CAMPAIGN_EVENT);
  }

  /** Role, term, indexes, every peer's progress (on a leader), pending counts and any fatal error. */
  status(): ServerStatus {
    const core = this.core;
    if (core === undefined) throw new Error("RaftServer.status(): the server has not started; await start() first");
    return {
      ...core.status(),
      lifecycle: this.lifecycle,
      stateMachineApplied: this.stateMachineApplied,
      pendingProposals: this.proposals.size,
      pendingReads: this.reads.size,
      droppedMessages: this.droppedMessages,
      fatalError: this.fatalError,
    };
  }

  /**
   * The log entry at `index` if this node's core still holds it in memory. Diagnostic: the
   * simulator's safety checker and tests read logs through it; it never touches storage.
   */
  entryAt(index: number): Entry | undefined {
    return this.core?.entryAt(index);
  }

  /**
   * Stops ticking and the transport, fails everything pending (STOPPED for proposals that never
   * reached the core and for reads, OUTCOME_UNKNOWN for proposals the core holds), waits for the
   * storage write in flight and closes the storage. Idempotent. An `apply` still running is not
   * awaited (its result is discarded); a service that closes its state machine should wait for it.
   */
  async stop(): Promise<void> {
    if (this.lifecycle === "starting") await this.startPromise?.catch(() => undefined);
    if (this.lifecycle === "new") {
      this.lifecycle = "stopped";
      this.resolveStopped(undefined);
      return;
    }
    if (this.lifecycle === "running") this.halt(undefined);
    await this.releasePromise;
  }

  // ---- start-up -------------------------------------------------------------------------------

  private async load(): Promise<void> {
    let core: RaftCore;
    let term = 0;
    try {
      let persisted: PersistedState;
      try {
        persisted = await this.storage.load();
      } catch (error) {
        throw new StorageFailedError(error);
      }
      term = persisted.hardState.term;
      let applied: number;
      try {
        applied = this.stateMachine.appliedIndex();
        core = new RaftCore(this.options.core, { hardState: persisted.hardState, entries: persisted.entries, applied });
      } catch (error) {
        throw new RaftError("STOPPED", `the node could not start: ${describe(error)}`, false, { cause: error });
      }
      this.stateMachineApplied = applied;
    } catch (error) {
      const fatal = error as RaftError;
      this.fatalError = fatal;
      this.lifecycle = "stopped";
      this.logger.error({ node: this.id, term, code: fatal.code, err: fatal }, "raft server could not start");
      await this.storage.close().catch(() => undefined);
      this.resolveStopped(fatal);
      throw fatal;
    }
    this.core = core;
    const status = core.status();
    this.observedLeader = status.leader;
    this.observedTerm = status.term;
    this.observedRole = status.role;
    this.lifecycle = "running";
    this.transport.start(this.transportHandler);
    this.tickTimer = this.clock.setTimer(this.options.tickMs, this.onTickTimer);
    this.logger.info(
      { ...this.logFields(), role: status.role, applied: this.stateMachineApplied },
      "raft server started",
    );
    this.scheduleRun();
  }

  // ---- the inbox and the loop -----------------------------------------------------------------

  private receive(message: Message): void {
    if (this.inbox.size >= MAX_INBOX_EVENTS_FOR_MESSAGES) {
      this.droppedMessages++;
      return;
    }
    this.post({ kind: "message", message });
  }

  private post(event: ServerEvent<Result>): void {
    if (this.lifecycle !== "running") return;
    this.inbox.push(event);
    this.scheduleRun();
  }

  private readonly onTickTimer = (): void => {
    this.tickTimer = undefined;
    if (this.lifecycle !== "running") return;
    // A timer fired, so the event loop is breathing: the loop may chain microtasks again.
    this.roundsSinceYield = 0;
    this.tickTimer = this.clock.setTimer(this.options.tickMs, this.onTickTimer);
    this.post(TICK_EVENT);
  };

  private scheduleRun(): void {
    if (this.runScheduled || this.lifecycle !== "running") return;
    this.runScheduled = true;
    if (this.roundsSinceYield >= MAX_ROUNDS_BEFORE_YIELD) {
      this.yieldTimer = this.clock.setTimer(0, this.runAfterYield);
    } else {
      void Promise.resolve().then(this.runNow);
    }
  }

  private readonly runNow = (): void => this.run();

  private readonly runAfterYield = (): void => {
    this.yieldTimer = undefined;
    this.roundsSinceYield = 0;
    this.run();
  };

  /** One round: handle every event posted so far, in order, then at most one Ready. */
  private run(): void {
    this.runScheduled = false;
    if (this.lifecycle !== "running") return;
    this.roundsSinceYield++;
    try {
      const batch = this.inbox.takeAll();
      for (let i = 0; i < batch.length; i++) {
        this.handle(batch[i]);
        if (this.lifecycle !== "running") return;
      }
      this.inbox.recycle(batch);
      this.startApplying();
      if (this.lifecycle !== "running") return;
      this.processReady();
      if (this.lifecycle !== "running") return;
    } catch (error) {
      // A seam broke its contract (a core invariant, a throwing transport): the state can no longer be trusted.
      this.halt(
        new RaftError("STOPPED", `internal error, the node stopped: ${describe(error)}`, false, { cause: error }),
      );
      return;
    }
    if (this.inbox.size > 0 || (this.writeInFlight === undefined && this.requireCore().hasReady())) this.scheduleRun();
  }

  private handle(event: ServerEvent<Result>): void {
    const core = this.requireCore();
    switch (event.kind) {
      case "message":
        core.step(event.message);
        return;
      case "tick":
        core.tick();
        return;
      case "unreachable":
        core.reportUnreachable(event.peer);
        return;
      case "campaign":
        core.campaign();
        return;
      case "propose":
        this.handlePropose(core, event.proposal);
        return;
      case "read":
        if (!event.read.settled) core.readIndex(event.read.requestId);
        return;
      case "durable":
        this.writeInFlight = undefined;
        this.afterPersist(core, event.ready);
        return;
      case "writeFailed":
        this.halt(new StorageFailedError(event.error));
        return;
      case "applied":
        this.applyInFlight = undefined;
        this.finishApply(event.entries, event.results);
        return;
      case "applyFailed":
        this.halt(stateMachineFailed(event.error));
        return;
    }
  }

  // ---- the Ready cycle ------------------------------------------------------------------------

  /** Takes the next Ready unless a write is in flight: sends its messages and persists it. */
  private processReady(): void {
    const core = this.requireCore();
    if (this.writeInFlight !== undefined || !core.hasReady()) return;
    const ready = core.ready();
    // Refusals first: a forwarded proposal the core refused was certainly not applied (NOT_LEADER),
    // which says more than the OUTCOME_UNKNOWN a leader change gives the ones that did leave.
    // A refusal does not depend on this Ready's durability, so it need not wait for the write.
    for (const rejected of ready.rejectedProposals) {
      this.proposals.rejectForwarded(
        rejected.requestIds,
        () => new NotLeaderError(rejected.leaderHint, "the proposal was not forwarded or the leader refused it"),
      );
    }
    if (ready.softState !== undefined || ready.hardState !== undefined) this.observe(ready);
    for (const message of ready.messages) this.transport.send(message);
    if (ready.hardState === undefined && ready.entries.length === 0) {
      this.afterPersist(core, ready);
      return;
    }
    this.writeInFlight = this.persist(ready);
  }

  private persist(ready: Ready): Promise<void> {
    const write: StorageWrite =
      ready.hardState === undefined
        ? { entries: ready.entries }
        : { hardState: ready.hardState, entries: ready.entries };
    let written: Promise<void>;
    try {
      written = this.storage.write(write);
    } catch (error) {
      written = Promise.reject(error);
    }
    return written.then(
      () => this.post({ kind: "durable", ready }),
      (error: unknown) => this.post({ kind: "writeFailed", error }),
    );
  }

  /** The Ready's hard state and entries are durable: release what had to wait for that. */
  private afterPersist(core: RaftCore, ready: Ready): void {
    for (const message of ready.messagesAfterPersist) this.transport.send(message);
    if (ready.committedEntries.length > 0) this.applyQueue.push(ready.committedEntries);
    for (const state of ready.readStates) this.reads.onReadState(state, this.stateMachineApplied);
    core.advance(ready);
    this.startApplying();
  }

  /**
   * Notices role, leader and term changes. A forwarded proposal whose leader or term is gone fails
   * at once with OUTCOME_UNKNOWN: the old leader may still have committed it, but this node can no
   * longer learn the outcome from it, and the caller should not wait for a timeout. This runs at
   * `ready()` time, when the Ready's leader and term are the core's current ones, so proposals
   * forwarded later (to the new leader) are never failed by an older Ready.
   */
  private observe(ready: Ready): void {
    const soft = ready.softState;
    const term = ready.hardState?.term ?? this.observedTerm;
    const leader = soft?.leader ?? this.observedLeader;
    if (soft !== undefined && (soft.role !== this.observedRole || soft.leader !== this.observedLeader)) {
      this.logger.info({ node: this.id, term, role: soft.role, leader: soft.leader }, "role or leader changed");
      this.observedRole = soft.role;
    }
    if (leader === this.observedLeader && term === this.observedTerm) return;
    this.observedLeader = leader;
    this.observedTerm = term;
    if (this.proposals.forwardedCount > 0) {
      this.proposals.failForwardedNotSentTo(
        leader,
        term,
        () =>
          new OutcomeUnknownError(
            `the leader changed (now "${leader}" in term ${term}) while the proposal was forwarded`,
          ),
      );
    }
  }

  // ---- applying -------------------------------------------------------------------------------

  /** Hands committed entries to the state machine, one `apply` in flight at a time. */
  private startApplying(): void {
    while (this.applyInFlight === undefined && this.applyQueue.length > 0 && this.lifecycle === "running") {
      const entries = this.takeApplyBatch();
      let outcome: readonly Result[] | Promise<readonly Result[]>;
      try {
        outcome = this.stateMachine.apply(entries);
      } catch (error) {
        this.halt(stateMachineFailed(error));
        return;
      }
      if (isPromiseLike(outcome)) {
        this.applyInFlight = Promise.resolve(outcome).then(
          (results) => this.post({ kind: "applied", entries, results }),
          (error: unknown) => this.post({ kind: "applyFailed", error }),
        );
        return;
      }
      this.finishApply(entries, outcome);
    }
  }

  /** The next batch for `apply`: queued batches merged up to `MAX_APPLY_BATCH_ENTRIES` (a big batch stays whole). */
  private takeApplyBatch(): readonly Entry[] {
    const first = this.applyQueue.shift() as readonly Entry[];
    const queue = this.applyQueue;
    if (queue.length === 0 || first.length + queue[0].length > MAX_APPLY_BATCH_ENTRIES) return first;
    const merged = first.slice();
    while (queue.length > 0 && merged.length + queue[0].length <= MAX_APPLY_BATCH_ENTRIES) {
      for (const entry of queue.shift() as readonly Entry[]) merged.push(entry);
    }
    return merged;
  }

  /** Settles the proposals the applied entries decide and the reads that were waiting for them. */
  private finishApply(entries: readonly Entry[], results: readonly Result[]): void {
    if (!Array.isArray(results) || results.length !== entries.length) {
      const got = Array.isArray(results) ? `${results.length} results` : String(results);
      this.halt(stateMachineFailed(new Error(`stateMachine.apply returned ${got} for ${entries.length} entries`)));
      return;
    }
    if (this.proposals.size > 0) {
      for (let i = 0; i < entries.length; i++) this.proposals.settleApplied(entries[i], results[i]);
    }
    this.stateMachineApplied = entries[entries.length - 1].index;
    this.reads.releaseUpTo(this.stateMachineApplied);
  }

  // ---- client calls ---------------------------------------------------------------------------

  private handlePropose(core: RaftCore, proposal: PendingProposal<Result>): void {
    if (proposal.settled) return;
    const data = proposal.data as Uint8Array;
    const outcome = core.propose({ data, origin: this.id, requestId: proposal.requestId });
    switch (outcome.kind) {
      case "appended":
        this.proposals.markAppended(proposal, outcome.index, outcome.term);
        return;
      case "forwarded":
        this.proposals.markForwarded(proposal, outcome.to, core.status().term);
        return;
      case "rejected":
        this.proposals.reject(proposal, this.rejectionError(outcome, data.byteLength));
        return;
    }
  }

  private rejectionError(outcome: ProposeResult & { kind: "rejected" }, bytes: number): RaftError {
    switch (outcome.reason) {
      case "not-leader":
        return new NotLeaderError(outcome.leaderHint);
      case "transferring":
        return new NotLeaderError(outcome.leaderHint, "leadership is being transferred");
      case "too-large":
        return new EntryTooLargeError(bytes, this.options.maxEntryBytes);
      case "overloaded":
        return new OverloadedError("the leader holds too many uncommitted bytes (maxUncommittedBytes)");
    }
  }

  /** A caller's timeout or abort: "not applied" while queued, OUTCOME_UNKNOWN once the core holds it. */
  private cancelProposal(proposal: PendingProposal<Result>, reason: CancelReason): void {
    if (proposal.settled) return;
    const cause = reason === "abort" ? proposal.signal?.reason : undefined;
    const happened = reason === "abort" ? "was aborted" : `timed out after ${proposal.timeoutMs} ms`;
    if (proposal.stage === "queued") {
      const message = `the proposal ${happened} before it reached the Raft core; it was not applied`;
      this.proposals.reject(proposal, new RequestCancelledError(message, { cause }));
    } else {
      this.proposals.reject(proposal, new OutcomeUnknownError(`the proposal ${happened}`, { cause }));
    }
  }

  private cancelRead(read: PendingRead, reason: CancelReason): void {
    if (read.settled) return;
    if (reason === "abort")
      this.reads.reject(read, new RequestCancelledError("the read was aborted", { cause: read.signal?.reason }));
    else this.reads.reject(read, new ReadFailedError(`not confirmed within ${read.timeoutMs} ms`));
  }

  // ---- stopping -------------------------------------------------------------------------------

  /**
   * Stops everything synchronously (no event is handled afterwards) and releases the seams in the
   * background. `fatal` is the error that forced the stop, undefined for `stop()`.
   */
  private halt(fatal: RaftError | undefined): void {
    if (this.lifecycle === "stopped") return;
    this.lifecycle = "stopped";
    this.fatalError = fatal;
    if (fatal !== undefined) {
      this.logger.error({ ...this.logFields(), code: fatal.code, err: fatal }, "raft server stopped by a fatal error");
    }
    if (this.tickTimer !== undefined) this.clock.cancelTimer(this.tickTimer);
    if (this.yieldTimer !== undefined) this.clock.cancelTimer(this.yieldTimer);
    this.tickTimer = undefined;
    this.yieldTimer = undefined;
    this.inbox.clear();
    this.applyQueue.length = 0;
    const why = fatal === undefined ? "the node was stopped" : `the node stopped: ${fatal.message}`;
    this.proposals.failAll((proposal) =>
      proposal.stage === "queued"
        ? new StoppedError(`${why}; the proposal was not applied`)
        : new OutcomeUnknownError(why, { cause: fatal }),
    );
    this.reads.failAll(() => (fatal === undefined ? new StoppedError(why) : new ReadFailedError(why)));
    this.releasePromise = this.release(fatal);
  }

  private async release(fatal: RaftError | undefined): Promise<void> {
    try {
      await this.transport.stop();
    } catch (error) {
      this.logger.warn({ ...this.logFields(), err: error }, "transport.stop() failed");
    }
    // Close the storage only once no write is running on it. An apply in flight is not awaited:
    // a state machine that never finishes must not hang stop(); its result is discarded.
    await this.writeInFlight;
    try {
      await this.storage.close();
    } catch (error) {
      this.logger.warn({ ...this.logFields(), err: error }, "storage.close() failed");
    }
    this.logger.info(this.logFields(), "raft server stopped");
    this.resolveStopped(fatal);
  }

  // ---- helpers --------------------------------------------------------------------------------

  private notRunningError(): StoppedError {
    if (this.fatalError !== undefined)
      return new StoppedError(`the node stopped after a fatal error: ${this.fatalError.message}`);
    if (this.lifecycle === "stopped") return new StoppedError("the node was stopped");
    return new StoppedError("the server is not running yet; await start() first");
  }

  private requireCore(): RaftCore {
    const core = this.core;
    if (core === undefined) throw new Error("RaftServer: the core does not exist before start()");
    return core;
  }

  private logFields(): { node: NodeId; term: number } {
    return { node: this.id, term: this.observedTerm };
  }
}

function stateMachineFailed(error: unknown): RaftError {
  return new RaftError(
    "STOPPED",
    `stateMachine.apply failed, the node stopped (a deterministic state machine must not fail; entries are never skipped): ${describe(error)}`,
    false,
    { cause: error },
  );
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
