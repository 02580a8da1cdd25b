import { DEFAULT_ELECTION_TICKS } from "../core/config.js";
import { type MembershipChange, membershipProblem } from "../core/config-change.js";
import { validateSnapshotChunk, validateSnapshotChunkResponse } from "../core/message-validation.js";
import { type CoreStatus, type ProposeResult, RaftCore } from "../core/raft-core.js";
import type {
  Entry,
  HardState,
  Message,
  NodeId,
  Ready,
  Role,
  SnapshotChunk,
  SnapshotChunkResponse,
  SnapshotMeta,
} from "../core/types.js";
import { readerChunks, supportsSnapshots } from "../storage/snapshot.js";
import {
  EMPTY_HARD_STATE,
  type PersistedState,
  type SnapshotChunks,
  type SnapshotReader,
  type SnapshotStaging,
  type Storage,
  type StorageWrite,
} from "../storage/storage.js";
import { CallCancellation, type CancelReason, checkTimeoutMs } from "./call-cancellation.js";
import type { Clock, TimerHandle } from "./clock.js";
import { CompactionPolicy } from "./compaction-policy.js";
import {
  ConfigChangeRejectedError,
  EntryTooLargeError,
  NotCaughtUpError,
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  RaftError,
  ReadFailedError,
  StoppedError,
  StorageFailedError,
  TransferFailedError,
} from "./errors.js";
import { Inbox } from "./inbox.js";
import { LeaderWaiters } from "./leader-waiters.js";
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
import { MAX_SNAPSHOT_RECEIVE_BUFFER_BYTES, type ReceivedSnapshot, SnapshotReceiver } from "./snapshot-receiver.js";
import { MAX_SNAPSHOT_BURST_BYTES, SnapshotSender } from "./snapshot-sender.js";
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
/**
 * Most ticks delivered at once after an event-loop stall with lease reads on: enough to expire
 * any lease (several election timeouts), without flooding the inbox after a very long pause.
 */
export const MAX_CATCH_UP_TICKS = 1_000;

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
  /**
   * Index of the latest snapshot stored on this node (taken, installed or found at start-up), 0 for
   * none. The core's `snapshotIndex` is the log's compaction point, up to `snapshotTrailingEntries` below it.
   */
  readonly latestSnapshotIndex: number;
  /** Snapshots streamed completely to followers (the last chunk was handed to the transport). */
  readonly snapshotsSent: number;
  /** Snapshots received from a leader, verified and installed. */
  readonly snapshotsReceived: number;
  /** Snapshots this node took of its state machine and stored. */
  readonly snapshotsTaken: number;
  /** Snapshot chunks ignored: duplicates, gaps, other snapshots' chunks, malformed or failed checksums. */
  readonly snapshotChunksDropped: number;
}

/**
 * The few fields of {@link ServerStatus} that change at every step, read without building the
 * whole report (`RaftServer.brief()`, for hot paths such as a simulator's per-step checks).
 */
export interface ServerBrief {
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId;
  readonly commit: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The log's compaction point (`ServerStatus.snapshotIndex`). */
  readonly snapshotIndex: number;
  /** `ServerStatus.stateMachineApplied`. */
  readonly stateMachineApplied: number;
  readonly lifecycle: ServerLifecycle;
}

/** A Ready that carries a snapshot from the leader, with the data to install. */
interface SnapshotInstall {
  readonly ready: Ready;
  readonly meta: SnapshotMeta;
  readonly staging: SnapshotStaging;
  /** The install runs once no apply and no snapshot save is in flight. */
  started: boolean;
}

/** A failure of `stateMachine.restore`, told apart from storage failures in the install chain. */
class RestoreFailure {
  constructor(readonly error: unknown) {}
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
  /** Lease reads are on: ticks missed by a stalled event loop are caught up (see `ticksDue`). */
  private readonly catchUpTicks: boolean;
  /** When the last delivered tick period ended, on the clock (lease reads only). */
  private lastTickAtMs = 0;
  /** The hard state the storage holds (or will, once the write in flight is durable). */
  private writtenHardState: HardState = EMPTY_HARD_STATE;
  /**
   * The core's latest hard state when only its commit index moved past `writtenHardState`: not
   * worth a synced write of its own, it rides on the next write (see `processReady`).
   */
  private unwrittenCommit: HardState | undefined;
  /** The asynchronous `apply` in flight (at most one); its completion comes back through the inbox. */
  private applyInFlight: Promise<void> | undefined;
  /** Committed, durable entries waiting for the state machine, in log order. */
  private readonly applyQueue: (readonly Entry[])[] = [];
  private stateMachineApplied = 0;

  private readonly proposals: PendingProposals<Result>;
  private readonly reads = new PendingReads();
  /** Proposals and reads that met no leader here, held for one (`leaderWaitMs`). */
  private readonly proposalsAwaitingLeader: LeaderWaiters<PendingProposal<Result>>;
  private readonly readsAwaitingLeader: LeaderWaiters<PendingRead>;
  private nextRequestId: number;

  /** Leader, term and role as of the last Ready, to notice changes. */
  private observedLeader: NodeId = "";
  private observedTerm = 0;
  private observedRole: Role = "follower";
  private droppedMessages = 0;
  private pendingTransfer:
    | {
        readonly to: NodeId;
        readonly resolve: () => void;
        readonly reject: (e: Error) => void;
        readonly timer: TimerHandle;
      }
    | undefined;

  private readonly compaction: CompactionPolicy;
  private readonly snapshotSender: SnapshotSender;
  private readonly snapshotReceiver: SnapshotReceiver;
  /** Index of the latest snapshot stored here (taken, installed or found at start-up); 0 for none. */
  private lastSnapshotIndex = 0;
  /** The stored log's compaction point; it never moves back. */
  private compactionIndex = 0;
  /**
   * Index of the latest configuration entry the core handed out for applying. The core's
   * configuration changes when it hands an entry out, so a snapshot's configuration (the core's
   * current one) matches the state machine's applied index only once the state machine passed it.
   */
  private configHandedOutIndex = 0;
  /** The snapshot being taken (`stateMachine.snapshot()` or its save running); at most one. */
  private snapshotTake: SnapshotMeta | undefined;
  /** Entry data applied since the snapshot being taken or the latest one (the byte limit). */
  private bytesAppliedSinceSnapshot = 0;
  /** The `storage.saveSnapshot` in flight; settles after its completion event was posted. */
  private snapshotSaveInFlight: Promise<void> | undefined;
  /** Send requests waiting for `storage.openSnapshot`, by snapshot "index/term": peer -> term of the request. */
  private readonly snapshotLoads = new Map<string, Map<NodeId, number>>();
  /** A received, verified snapshot the core accepted; its Ready installs it. */
  private receivedSnapshot: ReceivedSnapshot | undefined;
  /** The Ready with a snapshot being installed; no other Ready is taken meanwhile. */
  private snapshotInstall: SnapshotInstall | undefined;
  private snapshotsSent = 0;
  private snapshotsReceived = 0;
  private snapshotsTaken = 0;
  private snapshotSupportWarned = false;

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
    this.proposalsAwaitingLeader = new LeaderWaiters(this.options.leaderWaitMs);
    this.readsAwaitingLeader = new LeaderWaiters(this.options.leaderWaitMs);
    this.compaction = new CompactionPolicy(
      this.options.snapshotEveryEntries,
      this.options.snapshotTrailingEntries,
      this.options.snapshotEveryBytes,
    );
    this.snapshotSender = new SnapshotSender({
      selfId: options.id,
      clusterId: options.clusterId,
      clock: options.clock,
      transport: options.transport,
      chunkBytes: this.options.snapshotChunkBytes,
      burstBytes: Math.max(MAX_SNAPSHOT_BURST_BYTES, this.options.snapshotChunkBytes),
      pauseMs: this.options.tickMs,
      onTimer: (to, sendId) => this.post({ kind: "snapshotSendResume", to, sendId }),
      onReadDone: (to, sendId, offset, data) => this.post({ kind: "snapshotRead", to, sendId, offset, data }),
      onReadFailed: (error) => this.post({ kind: "writeFailed", error }),
    });
    this.snapshotReceiver = new SnapshotReceiver({
      selfId: options.id,
      clusterId: options.clusterId,
      stage: (meta) => {
        const storage = this.storage;
        if (!supportsSnapshots(storage)) return Promise.reject(new Error("the storage cannot stage snapshots"));
        return storage.stageSnapshot(meta);
      },
      send: (message) => this.transport.send(message),
      onStaged: (assemblyId) => this.post({ kind: "snapshotStaged", assemblyId }),
      onFailure: (error) => this.post({ kind: "writeFailed", error }),
      maxBufferedBytes: MAX_SNAPSHOT_RECEIVE_BUFFER_BYTES,
    });
    this.nextRequestId = firstRequestId(options.random);
    this.catchUpTicks = options.readMode === "lease";
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

  /**
   * Changes the membership to exactly `change` (joint consensus when voters change; the joint
   * phase ends automatically). Resolves once the change's entry is applied on this node, the
   * leader. Rejects with NOT_LEADER, CONFIG_CHANGE_REJECTED (not applied) or OUTCOME_UNKNOWN.
   */
  changeMembership(change: MembershipChange, options: CallOptions = {}): Promise<void> {
    if (this.lifecycle !== "running") return Promise.reject(this.notRunningError());
    const problem = membershipProblem(change);
    if (problem !== undefined) return Promise.reject(new ConfigChangeRejectedError(problem, false));
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeoutMs(options.timeoutMs ?? this.options.defaultTimeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      const proposal = new PendingProposal<Result>(
        this.nextRequestId++,
        undefined,
        timeoutMs,
        options.signal,
        () => resolve(),
        reject,
      );
      proposal.membership = change;
      this.proposals.add(proposal);
      proposal.cancellation = new CallCancellation(this.clock, timeoutMs, options.signal, (reason) =>
        this.cancelProposal(proposal, reason),
      );
      this.post({ kind: "propose", proposal });
    });
  }

  /** Adds `id` as a voter (with its address, which travels in the configuration). */
  addVoter(id: NodeId, address?: string, options?: CallOptions): Promise<void> {
    const s = this.status();
    return this.changeMembership(
      {
        voters: unique([...s.voters, id]),
        learners: s.learners.filter((l) => l !== id),
        addresses: address ? { [id]: address } : {},
      },
      options,
    );
  }

  /** Removes `id` from the voters and learners. Removing the leader makes it step down once applied. */
  removeMember(id: NodeId, options?: CallOptions): Promise<void> {
    const s = this.status();
    return this.changeMembership(
      { voters: s.voters.filter((v) => v !== id), learners: s.learners.filter((l) => l !== id) },
      options,
    );
  }

  /** Adds `id` as a learner: it receives the log and never votes. */
  addLearner(id: NodeId, address?: string, options?: CallOptions): Promise<void> {
    const s = this.status();
    return this.changeMembership(
      { voters: s.voters, learners: unique([...s.learners, id]), addresses: address ? { [id]: address } : {} },
      options,
    );
  }

  /**
   * Promotes learner `id` to voter, only if it holds every committed entry and answered within the
   * last election timeout (thesis §4.2.1); otherwise NOT_CAUGHT_UP.
   */
  promoteLearner(id: NodeId, options?: CallOptions): Promise<void> {
    const s = this.status();
    if (s.role !== "leader") return Promise.reject(new NotLeaderError(s.leader));
    const pr = s.progress[id];
    if (pr === undefined || !pr.isLearner)
      return Promise.reject(new ConfigChangeRejectedError(`${id} is not a learner`, false));
    if (pr.match < s.commit || !pr.recentActive) return Promise.reject(new NotCaughtUpError(id, pr.match, s.commit));
    return this.changeMembership(
      { voters: unique([...s.voters, id]), learners: s.learners.filter((l) => l !== id) },
      options,
    );
  }

  /**
   * Hands leadership to voter `to` (thesis §3.10). Resolves once this node sees `to` lead;
   * rejects with TRANSFER_FAILED when the core refuses or `to` does not take over in time
   * (default: two election timeouts), after which this node accepts writes again.
   */
  transferLeadership(to: NodeId, options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.lifecycle !== "running") return Promise.reject(this.notRunningError());
    if (this.pendingTransfer !== undefined)
      return Promise.reject(new TransferFailedError("another transfer is in progress"));
    const timeoutMs =
      options.timeoutMs ?? 2 * (this.options.core.electionTicks ?? DEFAULT_ELECTION_TICKS) * this.options.tickMs;
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimer(timeoutMs, () =>
        this.settleTransfer(new TransferFailedError(`${to} did not take over within ${timeoutMs} ms`)),
      );
      this.pendingTransfer = { to, resolve, reject, timer };
      this.post({ kind: "transfer", to });
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
      latestSnapshotIndex: this.lastSnapshotIndex,
      snapshotsSent: this.snapshotsSent,
      snapshotsReceived: this.snapshotsReceived,
      snapshotsTaken: this.snapshotsTaken,
      snapshotChunksDropped: this.snapshotReceiver.chunksDropped,
    };
  }

  /**
   * Role, term, leader, indexes and lifecycle: the cheap part of {@link RaftServer.status}, read
   * from the core's accessors without copying progress maps or the configuration.
   */
  brief(): ServerBrief {
    const core = this.core;
    if (core === undefined) throw new Error("RaftServer.brief(): the server has not started; await start() first");
    return {
      role: core.currentRole(),
      term: core.currentTerm(),
      leader: core.currentLeader(),
      commit: core.commitIndex(),
      lastIndex: core.lastIndex(),
      lastTerm: core.lastTerm(),
      snapshotIndex: core.snapshotIndex(),
      stateMachineApplied: this.stateMachineApplied,
      lifecycle: this.lifecycle,
    };
  }

  /**
   * The configuration in effect on this node, without copying (see `RaftCore.configuration`):
   * compare by identity to notice a change; do not modify.
   */
  configuration(): ReturnType<RaftCore["configuration"]> {
    const core = this.core;
    if (core === undefined) {
      throw new Error("RaftServer.configuration(): the server has not started; await start() first");
    }
    return core.configuration();
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
      const snapshot = persisted.snapshot;
      if (snapshot !== undefined) await this.restoreAtStart(snapshot);
      let applied: number;
      try {
        applied = this.stateMachine.appliedIndex();
        core = new RaftCore(this.options.core, {
          hardState: persisted.hardState,
          snapshot,
          entries: persisted.entries,
          applied,
        });
      } catch (error) {
        throw new RaftError("STOPPED", `the node could not start: ${describe(error)}`, false, { cause: error });
      }
      this.stateMachineApplied = applied;
      this.writtenHardState = persisted.hardState;
      this.lastSnapshotIndex = snapshot?.index ?? 0;
      this.compactionIndex = snapshot?.index ?? 0;
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
    this.lastTickAtMs = this.clock.now();
    this.tickTimer = this.clock.setTimer(this.options.tickMs, this.onTickTimer);
    this.logger.info(
      { ...this.logFields(), role: status.role, applied: this.stateMachineApplied },
      "raft server started",
    );
    this.scheduleRun();
  }

  /**
   * The storage holds a snapshot: a state machine behind it (an in-memory one after a restart)
   * is restored from the stored data first, so it continues with the entries after the snapshot.
   */
  private async restoreAtStart(snapshot: SnapshotMeta): Promise<void> {
    if (this.stateMachine.appliedIndex() >= snapshot.index) return;
    const restore = this.stateMachine.restore;
    if (!supportsSnapshots(this.storage) || typeof restore !== "function") {
      throw new RaftError(
        "STOPPED",
        `the node could not start: the storage holds a snapshot at index ${snapshot.index} but the state machine is at ${this.stateMachine.appliedIndex()}, and the ${typeof restore !== "function" ? "state machine has no restore()" : "storage has no snapshot support"}`,
        false,
      );
    }
    let reader: SnapshotReader | undefined;
    try {
      reader = await this.storage.openSnapshot();
    } catch (error) {
      throw new StorageFailedError(error);
    }
    if (reader === undefined || reader.meta.index !== snapshot.index || reader.meta.term !== snapshot.term) {
      const found = reader === undefined ? "none" : `${reader.meta.index}/${reader.meta.term}`;
      await reader?.close().catch(() => undefined);
      throw new StorageFailedError(
        new Error(
          `load() reported a snapshot at ${snapshot.index}/${snapshot.term}, but openSnapshot() returned ${found}`,
        ),
      );
    }
    try {
      await restore.call(this.stateMachine, reader.meta, readerChunks(reader));
    } catch (error) {
      throw new RaftError(
        "STOPPED",
        `the node could not start: stateMachine.restore failed: ${describe(error)}`,
        false,
        {
          cause: error,
        },
      );
    } finally {
      await reader.close().catch(() => undefined);
    }
    const applied = this.stateMachine.appliedIndex();
    if (applied !== snapshot.index) {
      throw new RaftError(
        "STOPPED",
        `the node could not start: after restore() of the snapshot at ${snapshot.index}, appliedIndex() is ${applied}`,
        false,
      );
    }
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
    for (let i = this.ticksDue(); i > 0; i--) this.post(TICK_EVENT);
  };

  /**
   * Ticks to deliver for this timer: one, except with lease reads, where the leader's lease is
   * counted in ticks and a stalled event loop (a long GC pause, a busy CPU) must not stretch it
   * in real time (design rule 7): there, every tick period that passed is delivered.
   */
  private ticksDue(): number {
    if (!this.catchUpTicks) return 1;
    const now = this.clock.now();
    const tickMs = this.options.tickMs;
    const due = Math.floor((now - this.lastTickAtMs) / tickMs);
    if (due <= 0) return 1;
    if (due > MAX_CATCH_UP_TICKS) {
      this.lastTickAtMs = now;
      return MAX_CATCH_UP_TICKS;
    }
    this.lastTickAtMs += due * tickMs;
    return due;
  }

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
      this.maybeTakeSnapshot();
      if (this.lifecycle !== "running") return;
      this.processReady();
      if (this.lifecycle !== "running") return;
      // A Ready that needed no write applied its entries just now: a snapshot may be due already.
      this.maybeTakeSnapshot();
      if (this.lifecycle !== "running") return;
      if (this.requireCore().currentLeader() !== "") this.releaseLeaderWaits();
    } catch (error) {
      // A seam broke its contract (a core invariant, a throwing transport): the state can no longer be trusted.
      this.halt(
        new RaftError("STOPPED", `internal error, the node stopped: ${describe(error)}`, false, { cause: error }),
      );
      return;
    }
    if (this.inbox.size > 0 || (this.canTakeReady() && this.requireCore().hasReady())) this.scheduleRun();
  }

  private handle(event: ServerEvent<Result>): void {
    const core = this.requireCore();
    switch (event.kind) {
      case "message":
        this.step(core, event.message);
        return;
      case "tick":
        core.tick();
        this.expireLeaderWaits();
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
      case "transfer": {
        const refused = core.transferLeadership(event.to);
        if (refused !== undefined) this.settleTransfer(new TransferFailedError(refused));
        return;
      }
      case "read":
        if (event.read.settled) return;
        if (core.currentLeader() === "" && this.readsAwaitingLeader.park(event.read, this.clock.now())) return;
        core.readIndex(event.read.requestId);
        return;
      case "durable":
        this.writeInFlight = undefined;
        if (event.ready.snapshot !== undefined && !this.finishInstall(event.ready.snapshot)) return;
        this.afterPersist(core, event.ready);
        return;
      case "writeFailed":
        this.halt(new StorageFailedError(event.error));
        return;
      case "applied":
        this.applyInFlight = undefined;
        this.finishApply(event.entries, event.results);
        this.maybeBeginInstall();
        return;
      case "applyFailed":
        this.halt(stateMachineFailed(event.error));
        return;
      case "snapshotTaken":
        this.saveSnapshot(event.meta, event.data);
        return;
      case "snapshotTakeFailed":
        this.halt(snapshotFailed("snapshot", event.error));
        return;
      case "snapshotSaved":
        this.finishSnapshotSave(core, event.meta, event.compactTo);
        return;
      case "snapshotOpened":
        this.onSnapshotOpened(core, event.meta, event.reader);
        return;
      case "snapshotSendResume":
        if (this.snapshotSender.resume(event.to, event.sendId) === "done") this.onSnapshotSent(core, event.to);
        return;
      case "snapshotRead":
        if (this.snapshotSender.onRead(event.to, event.sendId, event.offset, event.data) === "done") {
          this.onSnapshotSent(core, event.to);
        }
        return;
      case "snapshotStaged":
        this.onSnapshotStaged(core, event.assemblyId);
        return;
      case "restoreFailed":
        this.halt(snapshotFailed("restore", event.error));
        return;
    }
  }

  /**
   * Feeds a peer message to the core. Snapshot chunks are the runtime's: they are assembled here
   * and only a verified snapshot reaches the core. A bare "snap" from the wire is dropped, since
   * the core must never accept a snapshot whose data this runtime does not hold.
   */
  private step(core: RaftCore, message: Message): void {
    // The transport may hand over anything: only the core's validation may look deeper.
    const type = (message as { type?: unknown } | null)?.type;
    if (type === "snapChunk") return this.receiveChunk(message as SnapshotChunk);
    if (type === "snapChunkResp") return this.receiveChunkResponse(message as SnapshotChunkResponse);
    if (type === "snap") {
      this.logger.warn({ ...this.logFields(), from: message.from }, "dropped a snap message from the wire");
      return;
    }
    core.step(message);
  }

  // ---- the Ready cycle ------------------------------------------------------------------------

  /** No write and no snapshot install is running, so the next Ready may be taken. */
  private canTakeReady(): boolean {
    return this.writeInFlight === undefined && this.snapshotInstall === undefined;
  }

  /** Takes the next Ready unless a write is in flight: sends its messages and persists it. */
  private processReady(): void {
    const core = this.requireCore();
    if (!this.canTakeReady() || !core.hasReady()) return;
    const ready = core.ready();
    for (const entry of ready.committedEntries) if (entry.type === "config") this.configHandedOutIndex = entry.index;
    // Refusals first: a forwarded proposal the core refused was certainly not applied, which says
    // more than the OUTCOME_UNKNOWN a leader change gives the ones that did leave: it is offered
    // to the core again (with `leaderWaitMs`), else it fails with NOT_LEADER. A refusal does not
    // depend on this Ready's durability, so it need not wait for the write.
    for (const rejected of ready.rejectedProposals) this.onRefused(rejected.requestIds, rejected.leaderHint);
    if (ready.softState !== undefined || ready.hardState !== undefined) this.observe(ready);
    for (const message of ready.messages) this.transport.send(message);
    for (const request of ready.snapshotsToSend) this.requestSnapshotSend(core, request.to, request.meta);
    if (ready.snapshot !== undefined) {
      this.prepareInstall(ready, ready.snapshot);
      return;
    }
    this.dropReceivedSnapshot();
    if (ready.entries.length === 0 && (ready.hardState === undefined || this.onlyCommitMoved(ready.hardState))) {
      // The commit index need not be durable (thesis Figure 3.1: commitIndex is volatile state;
      // a restarted node learns it again from the leader, and a durable state machine's applied
      // index raises it at start-up). Syncing it alone would double the fsyncs per commit.
      if (ready.hardState !== undefined) this.unwrittenCommit = ready.hardState;
      this.afterPersist(core, ready);
      return;
    }
    this.writeInFlight = this.persist(ready);
  }

  private persist(ready: Ready): Promise<void> {
    return this.writeReady(ready).then(
      () => this.post({ kind: "durable", ready }),
      (error: unknown) => this.post({ kind: "writeFailed", error }),
    );
  }

  /** Whether `hardState` differs from what storage holds only in a higher commit index. */
  private onlyCommitMoved(hardState: HardState): boolean {
    const written = this.writtenHardState;
    return hardState.term === written.term && hardState.vote === written.vote && hardState.commit >= written.commit;
  }

  /**
   * The Ready's hard state and entries in one storage write (rule 4). A commit index that moved
   * without a write of its own comes along.
   */
  private writeReady(ready: Ready): Promise<void> {
    const hardState = ready.hardState ?? this.unwrittenCommit;
    this.unwrittenCommit = undefined;
    if (hardState !== undefined) this.writtenHardState = hardState;
    const write: StorageWrite =
      hardState === undefined ? { entries: ready.entries } : { hardState, entries: ready.entries };
    try {
      return this.storage.write(write);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The Ready's hard state and entries are durable: release what had to wait for that. */
  private afterPersist(core: RaftCore, ready: Ready): void {
    for (const message of ready.messagesAfterPersist) this.transport.send(message);
    if (ready.committedEntries.length > 0) this.applyQueue.push(ready.committedEntries);
    for (const state of ready.readStates) this.reads.onReadState(state, this.stateMachineApplied, this.offerReadAgain);
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
    // Snapshot sends belong to one leadership: chunks of an older term would only be dropped.
    if (this.observedRole !== "leader" || term !== this.observedTerm) this.stopSnapshotSends();
    if (leader === this.observedLeader && term === this.observedTerm) return;
    if (this.pendingTransfer !== undefined && leader !== "" && leader !== this.id) {
      const target = this.pendingTransfer.to;
      this.settleTransfer(
        leader === target ? undefined : new TransferFailedError(`${leader} became leader instead of ${target}`),
      );
    }
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
    if (this.snapshotInstall !== undefined) return;
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
    for (const entry of entries) this.bytesAppliedSinceSnapshot += entry.data.byteLength;
    this.reads.releaseUpTo(this.stateMachineApplied);
  }

  // ---- snapshots: taking and compacting --------------------------------------------------------

  /**
   * Takes a snapshot once the state machine applied `snapshotEveryEntries` entries past the last
   * one: only while no apply, snapshot or install is running, at exactly the applied index.
   */
  private maybeTakeSnapshot(): void {
    if (this.snapshotTake !== undefined || this.snapshotInstall !== undefined || this.applyInFlight !== undefined)
      return;
    if (!this.compaction.isDue(this.stateMachineApplied, this.lastSnapshotIndex, this.bytesAppliedSinceSnapshot))
      return;
    if (this.configHandedOutIndex > this.stateMachineApplied) return;
    const meta = this.requireCore().snapshotMetaAt(this.stateMachineApplied);
    const take = this.stateMachine.snapshot;
    if (meta === undefined || typeof take !== "function") return;
    this.snapshotTake = meta;
    this.bytesAppliedSinceSnapshot = 0;
    let data: SnapshotChunks | Promise<SnapshotChunks>;
    try {
      data = take.call(this.stateMachine);
    } catch (error) {
      this.halt(snapshotFailed("snapshot", error));
      return;
    }
    if (isPromiseLike(data)) {
      // Applies may continue meanwhile: the state machine captured its state at the call.
      Promise.resolve(data).then(
        (resolved) => this.post({ kind: "snapshotTaken", meta, data: resolved }),
        (error: unknown) => this.post({ kind: "snapshotTakeFailed", error }),
      );
      return;
    }
    this.saveSnapshot(meta, data);
  }

  /** Stores the snapshot's data, compacting the stored log behind it (at most one save at a time). */
  private saveSnapshot(meta: SnapshotMeta, data: SnapshotChunks): void {
    if (this.snapshotInstall !== undefined) {
      // A leader's newer snapshot is about to replace the log: this one is no longer worth storing.
      this.snapshotTake = undefined;
      this.maybeBeginInstall();
      return;
    }
    const storage = this.storage;
    if (!supportsSnapshots(storage)) {
      this.snapshotTake = undefined;
      return;
    }
    const compactTo = this.compaction.compactionIndex(meta.index, this.compactionIndex, this.durableStateIndex());
    let saved: Promise<void>;
    try {
      saved = storage.saveSnapshot(meta, data, compactTo);
    } catch (error) {
      saved = Promise.reject(error);
    }
    this.snapshotSaveInFlight = saved.then(
      () => this.post({ kind: "snapshotSaved", meta, compactTo }),
      (error: unknown) => this.post({ kind: "writeFailed", error }),
    );
  }

  /**
   * How far the state machine's own effects are durable, for one that flushes lazily
   * (`durableIndex()`); unbounded otherwise. The log is never compacted past it.
   */
  private durableStateIndex(): number {
    const durableIndex = this.stateMachine.durableIndex;
    if (typeof durableIndex !== "function") return Number.POSITIVE_INFINITY;
    const index = durableIndex.call(this.stateMachine);
    return Number.isSafeInteger(index) && index >= 0 ? index : 0;
  }

  /** The snapshot is durable: the core may drop its entries up to `compactTo` and send it to laggards. */
  private finishSnapshotSave(core: RaftCore, meta: SnapshotMeta, compactTo: number): void {
    this.snapshotTake = undefined;
    this.snapshotSaveInFlight = undefined;
    this.snapshotsTaken++;
    this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, meta.index);
    this.compactionIndex = Math.max(this.compactionIndex, compactTo);
    if (!core.compact(meta, compactTo)) {
      this.logger.debug(
        { ...this.logFields(), index: meta.index, compactTo, snapshotIndex: core.status().snapshotIndex },
        "the core did not take the stored snapshot (a newer one replaced the log meanwhile)",
      );
    } else {
      this.logger.debug({ ...this.logFields(), index: meta.index, compactTo }, "snapshot stored, log compacted");
    }
    this.maybeBeginInstall();
  }

  // ---- snapshots: sending ---------------------------------------------------------------------

  /**
   * The core wants `to` to receive the snapshot at `meta`: stream it from the copy a send in
   * progress already holds, or load it from storage first. A newer request aborts the older one.
   */
  private requestSnapshotSend(core: RaftCore, to: NodeId, meta: SnapshotMeta): void {
    this.snapshotSender.abort(to);
    for (const waiting of this.snapshotLoads.values()) waiting.delete(to);
    const pinned = this.snapshotSender.pinned(meta);
    if (pinned !== undefined) return this.startSnapshotSend(core, to, this.observedTerm, pinned);
    const storage = this.storage;
    if (!supportsSnapshots(storage)) {
      core.reportSnapshot(to, false);
      return;
    }
    const key = `${meta.index}/${meta.term}`;
    const waiting = this.snapshotLoads.get(key);
    if (waiting !== undefined) {
      waiting.set(to, this.observedTerm);
      return;
    }
    this.snapshotLoads.set(key, new Map([[to, this.observedTerm]]));
    let opened: Promise<SnapshotReader | undefined>;
    try {
      opened = storage.openSnapshot();
    } catch (error) {
      opened = Promise.reject(error);
    }
    opened.then(
      (reader) => this.post({ kind: "snapshotOpened", meta, reader }),
      (error: unknown) => this.post({ kind: "writeFailed", error }),
    );
  }

  /**
   * The stored snapshot was opened for the peers waiting for `meta`. If storage holds another
   * snapshot by now, the send fails and the core asks again with its current one. A reader no
   * send takes is closed here.
   */
  private onSnapshotOpened(core: RaftCore, meta: SnapshotMeta, reader: SnapshotReader | undefined): void {
    const key = `${meta.index}/${meta.term}`;
    const waiting = this.snapshotLoads.get(key);
    this.snapshotLoads.delete(key);
    const matches = reader !== undefined && reader.meta.index === meta.index && reader.meta.term === meta.term;
    let used = false;
    for (const [to, term] of waiting ?? []) {
      if (term !== this.observedTerm || this.observedRole !== "leader") continue;
      if (!matches) {
        core.reportSnapshot(to, false);
        continue;
      }
      used = true;
      this.startSnapshotSend(core, to, term, reader);
    }
    if (!used) reader?.close().catch(() => undefined);
  }

  private startSnapshotSend(core: RaftCore, to: NodeId, term: number, reader: SnapshotReader): void {
    this.logger.debug({ ...this.logFields(), to, index: reader.meta.index, bytes: reader.bytes }, "sending snapshot");
    if (this.snapshotSender.start(to, term, reader) === "done") this.onSnapshotSent(core, to);
  }

  /** A follower lost chunks of the snapshot we send it and asks to continue from what it holds. */
  private receiveChunkResponse(response: SnapshotChunkResponse): void {
    const problem = validateSnapshotChunkResponse(response);
    if (problem !== undefined || response.to !== this.id || response.clusterId !== this.options.core.clusterId) return;
    if (this.snapshotSender.onResponse(response)) {
      this.logger.debug(
        { ...this.logFields(), to: response.from, offset: response.offset },
        "resuming a snapshot send where the follower stopped receiving",
      );
    }
  }

  /** The last chunk was handed to the transport: replication to `to` resumes after the snapshot. */
  private onSnapshotSent(core: RaftCore, to: NodeId): void {
    this.snapshotsSent++;
    core.reportSnapshot(to, true);
  }

  private stopSnapshotSends(): void {
    this.snapshotSender.abortAll();
    this.snapshotLoads.clear();
  }

  // ---- snapshots: receiving and installing ----------------------------------------------------

  /**
   * One chunk of a leader's snapshot: the receiver stages it in storage (see SnapshotReceiver);
   * once the whole snapshot is staged and verified, `onSnapshotStaged` hands it to the core.
   */
  private receiveChunk(chunk: SnapshotChunk): void {
    const problem = validateSnapshotChunk(chunk);
    if (problem !== undefined || chunk.to !== this.id || chunk.clusterId !== this.options.core.clusterId) {
      this.snapshotReceiver.chunksDropped++;
      return;
    }
    if (chunk.term < this.observedTerm) {
      this.snapshotReceiver.chunksDropped++;
      return;
    }
    if (typeof this.stateMachine.restore !== "function" || !supportsSnapshots(this.storage)) {
      this.snapshotReceiver.chunksDropped++;
      if (!this.snapshotSupportWarned) {
        this.snapshotSupportWarned = true;
        this.logger.error(
          { ...this.logFields(), from: chunk.from },
          "a leader sent a snapshot, but this node's storage or state machine cannot install snapshots; it cannot catch up",
        );
      }
      return;
    }
    const outcome = this.snapshotReceiver.accept(chunk);
    if (outcome.kind === "dropped") {
      this.logger.debug({ ...this.logFields(), from: chunk.from, reason: outcome.reason }, "snapshot chunk dropped");
    }
  }

  /**
   * Every chunk of a leader's snapshot arrived, verified and staged. The core gets the metadata as
   * a "snap" message; if it installs it, the next Ready carries it and the staging waits here until
   * then. Otherwise (older than the commit index, or already held) the staging is discarded.
   */
  private onSnapshotStaged(core: RaftCore, assemblyId: number): void {
    const received = this.snapshotReceiver.take(assemblyId);
    if (received === undefined) return;
    const before = core.status().snapshotIndex;
    if (received.term >= this.observedTerm) {
      core.step({
        type: "snap",
        from: received.from,
        to: this.id,
        term: received.term,
        clusterId: this.options.core.clusterId,
        meta: received.meta,
      });
    }
    // The core installs a snapshot by moving its snapshot point exactly to it (thesis §5.3).
    if (before < received.meta.index && core.status().snapshotIndex === received.meta.index) {
      this.dropReceivedSnapshot();
      this.receivedSnapshot = received;
      return;
    }
    received.staging.discard().catch(() => undefined);
  }

  /** Forgets a received snapshot no Ready will install, deleting its staged data. */
  private dropReceivedSnapshot(): void {
    const received = this.receivedSnapshot;
    if (received === undefined) return;
    this.receivedSnapshot = undefined;
    received.staging.discard().catch(() => undefined);
  }

  /**
   * A Ready carries a leader's snapshot: proposals it covers fail (their entries may be inside it,
   * never to be seen here), queued applies it covers are dropped, and the install starts once no
   * apply and no snapshot save is running.
   */
  private prepareInstall(ready: Ready, meta: SnapshotMeta): void {
    const received = this.receivedSnapshot;
    this.receivedSnapshot = undefined;
    if (received === undefined || received.meta.index !== meta.index || received.meta.term !== meta.term) {
      throw new Error(`the core installed a snapshot at ${meta.index}/${meta.term} whose data this node does not hold`);
    }
    this.dropAppliesCoveredBy(meta.index);
    this.proposals.failCoveredBySnapshot(
      meta.index,
      () => new OutcomeUnknownError(`a snapshot up to index ${meta.index} from the leader replaced this node's log`),
    );
    this.snapshotInstall = { ready, meta, staging: received.staging, started: false };
    this.maybeBeginInstall();
  }

  private dropAppliesCoveredBy(index: number): void {
    const kept: (readonly Entry[])[] = [];
    for (const batch of this.applyQueue) {
      const after = batch.filter((entry) => entry.index > index);
      if (after.length > 0) kept.push(after);
    }
    this.applyQueue.length = 0;
    this.applyQueue.push(...kept);
  }

  /**
   * Installs the pending snapshot once nothing else touches the state machine or the snapshot
   * store: storage first (a crash after it restarts from the snapshot), then the state machine,
   * then the Ready's own write. Its completion is the Ready's "durable" event.
   */
  private maybeBeginInstall(): void {
    const install = this.snapshotInstall;
    if (install === undefined || install.started || this.lifecycle !== "running") return;
    if (this.applyInFlight !== undefined || this.snapshotTake !== undefined) return;
    install.started = true;
    const { ready, meta, staging } = install;
    const storage = this.storage;
    const stateMachine = this.stateMachine;
    // receiveChunk accepts chunks only when both seams support snapshots.
    if (!supportsSnapshots(storage) || typeof stateMachine.restore !== "function") {
      throw new Error("a snapshot install started without snapshot support in the storage or state machine");
    }
    const restore = async (): Promise<void> => {
      const reader = await storage.openSnapshot();
      if (reader === undefined || reader.meta.index !== meta.index || reader.meta.term !== meta.term) {
        await reader?.close().catch(() => undefined);
        throw new Error(`the storage does not hold the snapshot at ${meta.index}/${meta.term} it just installed`);
      }
      try {
        await stateMachine.restore?.(meta, readerChunks(reader));
      } catch (error) {
        throw new RestoreFailure(error);
      } finally {
        await reader.close().catch(() => undefined);
      }
    };
    const needsWrite = ready.hardState !== undefined || ready.entries.length > 0;
    this.writeInFlight = callStorage(() => storage.installSnapshot(staging))
      .then(restore)
      .then(() => (needsWrite ? this.writeReady(ready) : undefined))
      .then(
        () => this.post({ kind: "durable", ready }),
        (error: unknown) =>
          this.post(
            error instanceof RestoreFailure
              ? { kind: "restoreFailed", error: error.error }
              : { kind: "writeFailed", error },
          ),
      );
  }

  /**
   * The snapshot and the Ready's write are durable and the state machine holds the snapshot's
   * state: applying continues after it. Returns false when the server had to stop.
   */
  private finishInstall(meta: SnapshotMeta): boolean {
    this.snapshotInstall = undefined;
    const applied = this.stateMachine.appliedIndex();
    if (applied !== meta.index) {
      this.halt(
        snapshotFailed(
          "restore",
          new Error(`after restore() of the snapshot at ${meta.index}, appliedIndex() is ${applied}`),
        ),
      );
      return false;
    }
    this.stateMachineApplied = meta.index;
    this.bytesAppliedSinceSnapshot = 0;
    this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, meta.index);
    this.compactionIndex = Math.max(this.compactionIndex, meta.index);
    this.snapshotsReceived++;
    this.reads.releaseUpTo(meta.index);
    this.logger.info(
      { ...this.logFields(), index: meta.index, term: meta.term },
      "installed a snapshot from the leader",
    );
    return true;
  }

  // ---- client calls ---------------------------------------------------------------------------

  private handlePropose(core: RaftCore, proposal: PendingProposal<Result>): void {
    if (proposal.settled) return;
    if (proposal.membership !== undefined) return this.handleMembership(core, proposal, proposal.membership);
    const data = proposal.data as Uint8Array;
    const outcome = core.propose({ data, origin: this.id, requestId: proposal.requestId });
    switch (outcome.kind) {
      case "appended":
        this.proposals.markAppended(proposal, outcome.index, outcome.term);
        return;
      case "forwarded":
        this.proposals.markForwarded(proposal, outcome.to, core.currentTerm(), outcome.held === true);
        return;
      case "rejected":
        // No leader known (an election runs): nothing was appended, so the call may wait for one.
        if (
          outcome.reason === "not-leader" &&
          outcome.leaderHint === "" &&
          this.proposalsAwaitingLeader.park(proposal, this.clock.now())
        ) {
          return;
        }
        this.proposals.reject(proposal, this.rejectionError(outcome, data.byteLength));
        return;
    }
  }

  /**
   * The leader a forwarded proposal reached refused it: it no longer leads, so it appended
   * nothing. Like a call that meets an election here, the proposal is handed to the core again
   * (to the leader it knows now, or to wait for one) while its `leaderWaitMs` lasts, a few times
   * at most; otherwise it fails with NOT_LEADER and the leader hint, if any.
   */
  private onRefused(requestIds: readonly number[], leaderHint: NodeId): void {
    const now = this.clock.now();
    for (const proposal of this.proposals.takeRefused(requestIds)) {
      if (proposal.data !== undefined && this.proposalsAwaitingLeader.mayOfferAgain(proposal, now)) {
        this.post({ kind: "propose", proposal });
      } else {
        this.proposals.reject(
          proposal,
          new NotLeaderError(leaderHint, "the proposal was not forwarded or the leader refused it"),
        );
      }
    }
  }

  /**
   * A read whose leadership could not be confirmed (the leader it reached stepped down, or no
   * leader was known to forward it to) changed nothing: it goes to the core again under the same
   * rules as a refused proposal. True when it was taken.
   */
  private readonly offerReadAgain = (read: PendingRead): boolean => {
    if (!this.readsAwaitingLeader.mayOfferAgain(read, this.clock.now())) return false;
    this.post({ kind: "read", read });
    return true;
  };

  /** A leader is known again: the calls waiting for one go to the core, in arrival order. */
  private releaseLeaderWaits(): void {
    if (this.proposalsAwaitingLeader.size === 0 && this.readsAwaitingLeader.size === 0) return;
    for (const proposal of this.proposalsAwaitingLeader.releaseAll()) this.post({ kind: "propose", proposal });
    for (const read of this.readsAwaitingLeader.releaseAll()) this.post({ kind: "read", read });
  }

  /** Fails the waiting calls whose `leaderWaitMs` ran out with no leader known. */
  private expireLeaderWaits(): void {
    if (this.proposalsAwaitingLeader.size === 0 && this.readsAwaitingLeader.size === 0) return;
    const now = this.clock.now();
    const waited = `no leader was known within ${this.options.leaderWaitMs} ms`;
    for (const proposal of this.proposalsAwaitingLeader.takeExpired(now)) {
      this.proposals.reject(proposal, new NotLeaderError("", waited));
    }
    for (const read of this.readsAwaitingLeader.takeExpired(now)) {
      this.reads.reject(read, new ReadFailedError(`leadership could not be confirmed: ${waited}`));
    }
  }

  private handleMembership(core: RaftCore, proposal: PendingProposal<Result>, change: MembershipChange): void {
    const outcome = core.proposeMembership(change, proposal.requestId);
    if (outcome.kind === "appended") this.proposals.markAppended(proposal, outcome.index, outcome.term);
    else if (outcome.kind === "rejected" && outcome.reason === "not-leader") {
      this.proposals.reject(proposal, new NotLeaderError(outcome.leaderHint, "membership changes go to the leader"));
    } else if (outcome.kind === "rejected") {
      const retryable = outcome.reason !== "invalid-config";
      this.proposals.reject(proposal, new ConfigChangeRejectedError(outcome.reason, retryable));
    }
  }

  private settleTransfer(error: RaftError | undefined): void {
    const pending = this.pendingTransfer;
    if (pending === undefined) return;
    this.pendingTransfer = undefined;
    this.clock.cancelTimer(pending.timer);
    if (error === undefined) pending.resolve();
    else pending.reject(error);
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
      default:
        // Configuration-change refusals: propose() makes only normal entries, so the core does not
        // give them here. Either way the entry was not appended, so it was not applied.
        return new NotLeaderError(outcome.leaderHint, `the core refused the proposal (${outcome.reason})`);
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
    this.proposalsAwaitingLeader.clear();
    this.readsAwaitingLeader.clear();
    this.applyQueue.length = 0;
    this.stopSnapshotSends();
    this.snapshotReceiver.reset();
    this.dropReceivedSnapshot();
    const why = fatal === undefined ? "the node was stopped" : `the node stopped: ${fatal.message}`;
    this.proposals.failAll((proposal) =>
      proposal.stage === "queued"
        ? new StoppedError(`${why}; the proposal was not applied`)
        : new OutcomeUnknownError(why, { cause: fatal }),
    );
    this.reads.failAll(() => (fatal === undefined ? new StoppedError(why) : new ReadFailedError(why)));
    this.settleTransfer(new TransferFailedError(why));
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
    await this.snapshotSaveInFlight;
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

function unique(ids: readonly NodeId[]): NodeId[] {
  return [...new Set(ids)];
}

function stateMachineFailed(error: unknown): RaftError {
  return new RaftError(
    "STOPPED",
    `stateMachine.apply failed, the node stopped (a deterministic state machine must not fail; entries are never skipped): ${describe(error)}`,
    false,
    { cause: error },
  );
}

function snapshotFailed(step: "snapshot" | "restore", error: unknown): RaftError {
  return new RaftError(
    "STOPPED",
    `stateMachine.${step} failed, the node stopped (snapshots must not fail): ${describe(error)}`,
    false,
    { cause: error },
  );
}

/** Runs a storage call, turning a synchronous throw into a rejection. */
function callStorage(call: () => Promise<void>): Promise<void> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error);
  }
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
