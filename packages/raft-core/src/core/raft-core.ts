import { type CoreConfig, type ResolvedCoreConfig, resolveCoreConfig } from "./config.js";
import {
  type ConfigEntryPayload,
  decodeConfigEntry,
  encodeConfigEntry,
  type MembershipChange,
  membershipProblem,
  sameMembers,
} from "./config-change.js";
import { HeldProposals } from "./held-proposals.js";
import { LeaderLease } from "./lease.js";
import { validateMessage } from "./message-validation.js";
import { Progress, type ProgressState } from "./progress.js";
import { allVoters, hasJointQuorum, jointCommitted, jointVoteResult, type QuorumConfig } from "./quorum.js";
import { RaftLog } from "./raft-log.js";
import { type ConfirmedReads, type PendingRead, ReadOnly } from "./read-only.js";
import { RecentRequests } from "./recent-requests.js";
import type {
  AppendRequest,
  AppendResponse,
  DropCounters,
  DropReason,
  Entry,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  NodeId,
  Proposal,
  ProposeRequest,
  ReadIndexRequest,
  ReadIndexResponse,
  ReadState,
  Ready,
  RejectedProposals,
  Role,
  SnapshotMeta,
  SnapshotRequest,
  SnapshotToSend,
  SoftState,
  VoteRequest,
  VoteResponse,
} from "./types.js";

/** What a node finds on its disk, handed to the core at start-up. */
export interface CoreInitialState {
  readonly hardState: HardState;
  /** The latest durable snapshot, if any: `entries` follow it, and its configuration is current. */
  readonly snapshot?: SnapshotMeta;
  readonly entries: readonly Entry[];
  /** The state machine's applied index: committed entries up to here are not handed out again. */
  readonly applied: number;
}

export type ProposeResult =
  | { readonly kind: "appended"; readonly index: number; readonly term: number }
  | {
      readonly kind: "forwarded";
      readonly to: NodeId;
      /**
       * Set when this node leads and is transferring leadership (thesis §3.10): the proposal is
       * held, not yet sent. `to` is the transfer target. It is later forwarded (a "prop"
       * message, with this node's origin and the request id) to the first leader this node learns
       * of after stepping down, or refused through `Ready.rejectedProposals` (leader hint
       * included) when the transfer is abandoned, this node campaigns, or no leader appears
       * within an election timeout. Either way it is never appended by this node.
       */
      readonly held?: true;
    }
  | {
      readonly kind: "rejected";
      readonly reason:
        | "not-leader"
        | "too-large"
        | "overloaded"
        | "transferring"
        /** A configuration change is still in progress (its entries are not yet applied). */
        | "config-pending"
        /** The leader has not yet committed an entry of its term (rule 8). */
        | "config-not-ready"
        | "invalid-config";
      readonly leaderHint: NodeId;
    };

export interface PeerProgress {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly inflight: number;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
}

export interface CoreStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly stableIndex: number;
  readonly applied: number;
  /** Index of the latest snapshot: entries at or below it are compacted away. */
  readonly snapshotIndex: number;
  readonly voters: readonly NodeId[];
  /** Voters of the outgoing configuration while in joint consensus; empty otherwise. */
  readonly outgoingVoters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly addresses: Readonly<Record<NodeId, string>>;
  readonly progress: Readonly<Record<NodeId, PeerProgress>>;
}

type WithoutEnvelope<M> = M extends Message ? Omit<M, "from" | "clusterId" | "term"> & { term?: number } : never;

const EMPTY_HARD_STATE: HardState = { term: 0, vote: "", commit: 0 };

/**
 * The Raft protocol as a pure state machine (Ongaro's thesis, chapter 3 and §§4.2.3, 6.2, 6.4,
 * 6.4.1 (lease reads, opt-in), 9.6; leadership transfer with held proposals, §3.10).
 *
 * Inputs: `tick`, `step`, `propose`, `readIndex`, `campaign`, `reportUnreachable`.
 * Output: a `Ready` batch the caller executes, then acknowledges with `advance`. The core does no
 * I/O, reads no clock and draws randomness only from the injected `Random`; the same inputs in
 * the same order produce the same outputs.
 *
 * @example
 * const core = new RaftCore({ id: "a", clusterId: "c", voters: ["a"], random });
 * core.campaign();
 * const rd = core.ready();   // persist rd.hardState + rd.entries, send messages, apply committed entries
 * core.advance(rd);
 */
export class RaftCore {
  readonly id: NodeId;
  private readonly cfg: ResolvedCoreConfig;
  private readonly log: RaftLog;

  private term: number;
  private vote: NodeId;
  private leader: NodeId = "";
  private role: Role = "follower";
  private quorum: QuorumConfig;
  private learners: NodeId[];
  private addresses: Readonly<Record<NodeId, string>>;
  /** Leader: index of the latest configuration entry; no new change until it is applied (rule 8). */
  private pendingConfigIndex = 0;
  /** The payload of the configuration entry in effect (the latest one handed out), if any. */
  private configPayload: ConfigEntryPayload | undefined;

  /** Leader only: every other member's replication state (and our own, for commit counting). */
  private readonly progress = new Map<NodeId, Progress>();
  /** Candidates only: votes received in the current (pre-)election. */
  private readonly votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  private readonly readOnly = new ReadOnly();
  /** Leader only: the voter leadership is being handed to ("" when none), and ticks since it began. */
  private transferee: NodeId = "";
  private transferElapsed = 0;
  /** Forwarded proposals already appended here, so a duplicated message is not appended twice. */
  private readonly recentForwarded = new RecentRequests();
  /** Leader only: bytes of entries this leader appended that are not yet committed. */
  private uncommittedBytes = 0;
  /** Own proposals held during a leadership transfer (thesis §3.10), until a new leader is known. */
  private readonly held: HeldProposals;
  /** Ticks since this node stepped down holding proposals; they are refused after an election timeout. */
  private heldElapsed = 0;
  /** Leader with lease reads only: the read lease (thesis §6.4.1, rule 7). */
  private lease: LeaderLease | undefined;
  /**
   * Lease reads only: a node that just started may have acknowledged a leader's heartbeat before
   * it restarted, which a leader's lease still counts on; so for its first election timeout it
   * ignores campaigns as if it had just heard from a leader (rule 7). Cleared by any role change.
   */
  private quietAfterStart: boolean;

  // Accumulated output, drained by ready().
  private messages: Message[] = [];
  private messagesAfterPersist: Message[] = [];
  private readStates: ReadState[] = [];
  private rejected: RejectedProposals[] = [];
  private snapshotsToSend: SnapshotToSend[] = [];
  /** A snapshot received from the leader that the next Ready must install. */
  private receivedSnapshot: SnapshotMeta | undefined;
  /** The latest snapshot this node holds (what a lagging follower is sent). */
  private snapshot: SnapshotMeta | undefined;
  /** Leader: appends are broadcast once per Ready so that many proposals share one message. */
  private needsBroadcast = false;
  /** Leader: the commit index advanced; followers should hear of it even without new entries. */
  private commitAdvanced = false;
  /** Follower: proposals and reads to forward to the leader at the next flush. */
  private forwardQueue: Proposal[] = [];
  private forwardReadQueue: number[] = [];
  /** Follower: reads sent to `leader` whose answers are outstanding. */
  private readonly forwardedReads = new Set<number>();

  private lastSoft: SoftState;
  private lastHard: HardState;
  private outstanding: Ready | undefined;
  private readonly drops: Record<DropReason, number> = {
    "wrong-cluster": 0,
    "not-addressed-to-me": 0,
    malformed: 0,
    "stale-term": 0,
    "unknown-sender": 0,
    unexpected: 0,
    impossible: 0,
    "in-lease": 0,
  };
  private lastDrop = "";

  private stepRole: (m: Message) => void;
  private tickRole: () => void;

  constructor(config: CoreConfig, initial?: CoreInitialState) {
    this.cfg = resolveCoreConfig(config);
    this.id = this.cfg.id;
    const hs = initial?.hardState ?? EMPTY_HARD_STATE;
    const snap = initial?.snapshot;
    this.log = new RaftLog(initial?.entries ?? [], hs.commit, initial?.applied ?? 0, snap?.index ?? 0, snap?.term ?? 0);
    this.term = hs.term;
    this.vote = hs.vote;
    this.snapshot = snap;
    // A snapshot's configuration supersedes the bootstrap list (rule 9).
    this.quorum = {
      incoming: [...(snap?.config.voters ?? this.cfg.voters)],
      outgoing: [...(snap?.config.outgoing ?? [])],
    };
    this.learners = [...(snap?.config.learners ?? this.cfg.learners)];
    this.addresses = snap?.config.addresses ?? {};
    if (snap !== undefined) this.configPayload = payloadOfSnapshotConfig(snap);
    // Configuration entries already applied before the restart are in effect again.
    for (let i = this.log.firstIndex(); i <= this.log.applied; i++) {
      const e = this.log.entryAt(i);
      if (e.type === "config") this.applyConfigEntry(e);
    }
    this.lastHard = { term: hs.term, vote: hs.vote, commit: hs.commit };
    this.lastSoft = { role: "follower", leader: "" };
    this.held = new HeldProposals(this.cfg.maxTransferHeldProposals, this.cfg.maxUncommittedBytes);
    this.quietAfterStart = this.cfg.readMode === "lease";
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.resetRandomizedElectionTicks();
  }

  // ---------------------------------------------------------------- inputs

  /** Advances logical time by one tick (election and heartbeat timers). */
  tick(): void {
    this.tickRole();
  }

  /**
   * Feeds a message received from a peer. Never throws: a malformed, foreign or impossible
   * message is dropped and counted in `dropCounters()`.
   */
  step(message: Message): void {
    const bad = validateMessage(message);
    if (bad !== undefined) return this.drop("malformed", bad);
    if (message.clusterId !== this.cfg.clusterId) return this.drop("wrong-cluster", message.clusterId);
    if (message.to !== this.id) return this.drop("not-addressed-to-me", message.to);
    if (message.from === this.id) return this.drop("malformed", "message from myself");
    if (!this.stepTerm(message)) return;
    if (message.type === "vote") return this.handleVoteRequest(message);
    this.stepRole(message);
  }

  /**
   * Offers one proposal. On the leader it is appended at once (and broadcast with the next Ready);
   * on a follower it is forwarded to the leader when forwarding is on.
   */
  propose(proposal: Proposal): ProposeResult {
    const bytes = proposal.data.byteLength;
    if (bytes > this.cfg.maxEntryBytes) return { kind: "rejected", reason: "too-large", leaderHint: this.leader };
    // Configuration entries are built only by proposeMembership, never from raw bytes.
    if (proposal.type === "config") return { kind: "rejected", reason: "invalid-config", leaderHint: this.leader };
    if (this.role === "leader") {
      if (this.transferee !== "") return this.holdDuringTransfer(proposal);
      return this.appendProposal(proposal);
    }
    if (this.leader !== "" && this.cfg.forwardProposals) {
      this.forwardQueue.push(proposal);
      return { kind: "forwarded", to: this.leader };
    }
    return { kind: "rejected", reason: "not-leader", leaderHint: this.leader };
  }

  /**
   * Asks for a linearizable read index (thesis §6.4). The answer is a `ReadState` in a later Ready:
   * serve the read once the state machine has applied `index`; index 0 means retry.
   */
  readIndex(requestId: number): void {
    if (this.role === "leader") {
      // Lease reads (thesis §6.4.1): no other leader can exist yet, so the commit index is current.
      if (this.leaseServes()) return void this.readStates.push({ requestId, index: this.log.commit });
      return this.addRead({ requestId, origin: this.id });
    }
    if (this.leader !== "" && this.cfg.forwardProposals) {
      this.forwardReadQueue.push(requestId);
      return;
    }
    this.readStates.push({ requestId, index: 0 });
  }

  /** Starts an election now, skipping PreVote (used to bootstrap and in tests). */
  campaign(): void {
    if (!this.isPromotable() || this.role === "leader" || this.hasUnappliedConfig()) return;
    this.becomeCandidate();
  }

  /**
   * The runtime finished streaming the snapshot to `peer` (`delivered`), or gave up. Replication
   * resumes from just after the snapshot, or probes again from the last match.
   */
  reportSnapshot(peer: NodeId, delivered: boolean): void {
    const pr = this.progress.get(peer);
    if (this.role !== "leader" || pr === undefined || pr.state !== "snapshot") return;
    pr.snapshotDone(delivered);
  }

  /**
   * The caller durably stored a state-machine snapshot at `meta.index` (taken at exactly that
   * applied index): it becomes the snapshot lagging followers are sent, and entries up to
   * `compactIndex` (default `meta.index`; lower keeps a trailing window of entries for slow
   * followers) may leave memory. Returns false, changing nothing, when the index is not yet
   * applied and durable here, the term does not match the log, the snapshot is not newer than
   * the current one, or `compactIndex` is past `meta.index` or (with the default) not compactable.
   */
  compact(meta: SnapshotMeta, compactIndex: number = meta.index): boolean {
    if (compactIndex > meta.index) return false;
    if (meta.index <= this.log.snapshotIndex()) return false;
    if (this.snapshot !== undefined && meta.index <= this.snapshot.index) return false;
    if (meta.index > this.log.applied || meta.index > this.log.stableIndex) return false;
    if (this.log.termAt(meta.index) !== meta.term) return false;
    // A compaction point at or below the current one only records the newer snapshot.
    if (compactIndex > this.log.snapshotIndex() && !this.log.compact(compactIndex)) return false;
    this.snapshot = meta;
    return true;
  }

  /** The metadata a snapshot taken at `index` (≤ applied) must carry: its term and the configuration. */
  snapshotMetaAt(index: number): SnapshotMeta | undefined {
    const term = this.log.termAt(index);
    if (term === undefined || index > this.log.applied || index === 0) return undefined;
    return { index, term, config: this.configState() };
  }

  /**
   * Hands leadership to voter `to` (thesis §3.10): this node appends nothing new while the
   * transfer runs (its own proposals are held, others' refused), `to` is brought fully up to date,
   * then told to campaign at once (TimeoutNow). Lease reads stop at once (rule 7). The transfer is
   * abandoned after one election timeout. Returns why it cannot start, or undefined.
   */
  transferLeadership(to: NodeId): "not-leader" | "not-a-voter" | "already-leader" | undefined {
    if (this.role !== "leader") return "not-leader";
    if (to === this.id) return "already-leader";
    if (!allVoters(this.quorum).includes(to)) return "not-a-voter";
    this.transferee = to;
    this.transferElapsed = 0;
    if (this.progress.get(to)?.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppends(to, true);
    return undefined;
  }

  /**
   * Proposes a new membership (thesis §4.3, rule 8): a change of voters goes through joint
   * consensus (C_old,new, then C_new, appended automatically once the first is applied); a change
   * of learners alone takes effect in one step. Each entry takes effect when it is applied.
   */
  proposeMembership(change: MembershipChange, requestId: number): ProposeResult {
    if (this.role !== "leader") return { kind: "rejected", reason: "not-leader", leaderHint: this.leader };
    if (this.transferee !== "") return { kind: "rejected", reason: "transferring", leaderHint: this.leader };
    if (membershipProblem(change) !== undefined)
      return { kind: "rejected", reason: "invalid-config", leaderHint: this.leader };
    if (!this.committedCurrentTerm()) return { kind: "rejected", reason: "config-not-ready", leaderHint: this.leader };
    if (this.pendingConfigIndex > this.log.applied || this.quorum.outgoing.length > 0) {
      return { kind: "rejected", reason: "config-pending", leaderHint: this.leader };
    }
    const joint = !sameMembers(change.voters, this.quorum.incoming);
    const payload: ConfigEntryPayload = {
      phase: joint ? "joint" : "final",
      voters: [...change.voters],
      outgoing: joint ? [...this.quorum.incoming] : [],
      learners: [...change.learners],
      addresses: { ...this.addresses, ...(change.addresses ?? {}) },
    };
    return this.appendConfigEntry(payload, requestId);
  }

  /** The voter leadership is being transferred to, or "" when no transfer is running. */
  transferTarget(): NodeId {
    return this.transferee;
  }

  /** The current term; a cheap accessor for hot paths (status() builds a whole report). */
  currentTerm(): number {
    return this.term;
  }

  /** The known leader of the current term, "" when unknown (cheap, like `currentTerm`). */
  currentLeader(): NodeId {
    return this.leader;
  }

  /** This node's role (cheap, like `currentTerm`). */
  currentRole(): Role {
    return this.role;
  }

  /** The commit index (cheap, like `currentTerm`). */
  commitIndex(): number {
    return this.log.commit;
  }

  /** The index of the last entry in the log (cheap, like `currentTerm`). */
  lastIndex(): number {
    return this.log.lastIndex();
  }

  /** The term of the last entry in the log (cheap, like `currentTerm`). */
  lastTerm(): number {
    return this.log.lastTerm();
  }

  /** The log's compaction point: entries at or below it live only in the snapshot (cheap). */
  snapshotIndex(): number {
    return this.log.snapshotIndex();
  }

  /**
   * The configuration in effect, without copying (cheap, unlike `status()`). The arrays are
   * replaced, never changed in place, when a configuration entry or snapshot takes effect, so a
   * caller may tell a change by identity. Do not modify them.
   */
  configuration(): {
    readonly voters: readonly NodeId[];
    readonly outgoing: readonly NodeId[];
    readonly learners: readonly NodeId[];
  } {
    return { voters: this.quorum.incoming, outgoing: this.quorum.outgoing, learners: this.learners };
  }

  /** Proposals held for a leadership transfer (thesis §3.10), not yet forwarded or refused. */
  heldProposalCount(): number {
    return this.held.size;
  }

  /**
   * Leader with lease reads: ticks during which a read is still answered without a heartbeat
   * round (thesis §6.4.1). 0 otherwise (no lease, a transfer running, or no entry of this term
   * committed yet).
   */
  readLeaseTicks(): number {
    if (this.role !== "leader" || this.lease === undefined || this.transferee !== "") return 0;
    if (!this.committedCurrentTerm()) return 0;
    return this.lease.remainingTicks(this.quorum, this.id);
  }

  /**
   * The transport could not reach `peer` (a refused dial, a stream reset). A leader stops
   * pipelining to it until it answers again. A follower told this of its own leader takes it as
   * a hint that the leader is gone (see `leaderLost`).
   */
  reportUnreachable(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (this.role === "leader" && pr !== undefined && pr.state === "replicate") pr.becomeProbe();
    else if (this.role === "follower" && peer === this.leader && this.leader !== "") this.leaderLost();
  }

  // ---------------------------------------------------------------- Ready

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    return (
      this.messages.length > 0 ||
      this.messagesAfterPersist.length > 0 ||
      this.log.persistFrom <= this.log.lastIndex() ||
      this.log.commit > this.log.applied ||
      this.readStates.length > 0 ||
      this.rejected.length > 0 ||
      this.snapshotsToSend.length > 0 ||
      this.receivedSnapshot !== undefined ||
      this.needsBroadcast ||
      this.forwardQueue.length > 0 ||
      this.forwardReadQueue.length > 0 ||
      (this.role === "leader" && this.readOnly.hasWaiting() && this.committedCurrentTerm()) ||
      this.softChanged() ||
      this.hardChanged()
    );
  }

  /** Drains everything accumulated. Exactly one Ready may be outstanding; call `advance` next. */
  ready(): Ready {
    if (this.outstanding !== undefined) throw new Error("RaftCore.ready: the previous Ready was not advanced");
    // Configuration entries take effect as they are handed out for applying (rule 8); doing it
    // before flushing lets the resulting entries and messages join this very Ready.
    const committedEntries = this.log.takeCommitted();
    for (const e of committedEntries) if (e.type === "config") this.applyConfigEntry(e);
    this.maybeLeaveJoint();
    this.flush();
    const soft = this.softChanged() ? { role: this.role, leader: this.leader } : undefined;
    const hard = this.hardChanged() ? this.hardState() : undefined;
    const rd: Ready = {
      softState: soft,
      snapshot: this.receivedSnapshot,
      hardState: hard,
      entries: this.log.takeUnpersisted(),
      messages: this.messages,
      messagesAfterPersist: this.messagesAfterPersist,
      committedEntries,
      readStates: this.readStates,
      rejectedProposals: this.rejected,
      snapshotsToSend: this.snapshotsToSend,
    };
    this.receivedSnapshot = undefined;
    this.snapshotsToSend = [];
    if (soft !== undefined) this.lastSoft = soft;
    if (hard !== undefined) this.lastHard = hard;
    this.messages = [];
    this.messagesAfterPersist = [];
    this.readStates = [];
    this.rejected = [];
    this.outstanding = rd;
    return rd;
  }

  /** The Ready's write is durable and its committed entries were taken for applying. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error("RaftCore.advance: not the outstanding Ready");
    this.outstanding = undefined;
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
    }
    if (this.role === "leader") {
      const self = this.progress.get(this.id);
      // The leader counts itself only for entries durable on its own disk (thesis §10.2.1).
      if (self !== undefined) self.maybeUpdate(this.log.stableIndex);
      this.maybeCommit();
    }
  }

  status(): CoreStatus {
    const progress: Record<NodeId, PeerProgress> = {};
    if (this.role === "leader") {
      for (const [id, pr] of this.progress) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          inflight: pr.inflights.size(),
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
        };
      }
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.commit,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      stableIndex: this.log.stableIndex,
      applied: this.log.applied,
      snapshotIndex: this.log.snapshotIndex(),
      voters: [...this.quorum.incoming],
      outgoingVoters: [...this.quorum.outgoing],
      learners: [...this.learners],
      addresses: { ...this.addresses },
      progress,
    };
  }

  dropCounters(): DropCounters {
    return { ...this.drops };
  }

  /** The reason of the most recent drop, for debugging. */
  lastDropReason(): string {
    return this.lastDrop;
  }

  /** The entry at `index` if the core still holds it (tests and the simulator's oracle). */
  entryAt(index: number): Entry | undefined {
    return index >= this.log.firstIndex() && index <= this.log.lastIndex() ? this.log.entryAt(index) : undefined;
  }

  // ---------------------------------------------------------------- terms and votes

  /**
   * Applies the term rules common to every role (§3.3: a higher term makes us a follower; a lower
   * one is stale). Returns false when the message must go no further.
   */
  private stepTerm(m: Message): boolean {
    if (m.term > this.term) {
      if (m.type === "vote") {
        // Leader stickiness (thesis §4.2.3): while we hear from a leader, ignore campaigns, so a
        // removed or partitioned node cannot depose it. A TimeoutNow campaign is invited.
        const heardLeader = this.leader !== "" || this.quietAfterStart;
        const inLease = this.cfg.checkQuorum && heardLeader && this.electionElapsed < this.cfg.electionTicks;
        if (inLease && !m.transfer) {
          this.drop("in-lease", `vote from ${m.from} while leader ${this.leader} is live`);
          return false;
        }
        // A PreVote never changes our term (thesis §9.6).
        if (m.preVote) return true;
      }
      // A granted PreVote carries the term the candidate would use; it is not a newer term.
      if (m.type === "voteResp" && m.preVote && m.granted) return true;
      const fromLeader = m.type === "app" || m.type === "heartbeat" || m.type === "snap" || m.type === "timeoutNow";
      const leader = fromLeader ? m.from : "";
      this.becomeFollower(m.term, leader);
      return true;
    }
    if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === "app" || m.type === "heartbeat" || m.type === "snap")
      ) {
        // A deposed leader may be isolated from the rest; tell it our term so it steps down,
        // instead of leaving it stuck (with PreVote it would otherwise never learn of newer terms).
        this.send({ type: "appResp", to: m.from, success: false, index: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === "vote" && m.preVote) {
        this.send({ type: "voteResp", to: m.from, preVote: true, granted: false });
      } else {
        this.drop("stale-term", `${m.type} from ${m.from} at term ${m.term} < ${this.term}`);
      }
      return false;
    }
    return true;
  }

  /** RequestVote and PreVote (§3.4, §3.6.1, thesis §9.6): grant at most one vote per term, to an up-to-date log. */
  private handleVoteRequest(m: VoteRequest): void {
    const canVote =
      this.vote === m.from || (this.vote === "" && this.leader === "") || (m.preVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // A granted PreVote answers with the term the candidate asked for.
      this.send({ type: "voteResp", to: m.from, term: m.term, preVote: m.preVote, granted: true });
      if (!m.preVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
      return;
    }
    this.send({ type: "voteResp", to: m.from, preVote: m.preVote, granted: false });
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expectPreVote = this.role === "pre-candidate";
    if (m.preVote !== expectPreVote) return this.drop("unexpected", `stale ${m.preVote ? "pre-" : ""}vote response`);
    // Only voters' votes count (rule 2); the quorum functions ignore anyone else.
    this.votes.set(m.from, m.granted);
    this.tallyVotes();
  }

  private tallyVotes(): void {
    const result = jointVoteResult(this.quorum, this.votes);
    if (result === "won") {
      if (this.role === "pre-candidate") this.becomeCandidate();
      else this.becomeLeader();
    } else if (result === "lost") {
      this.becomeFollower(this.term, "");
    }
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, leader: NodeId): void {
    const wasLeader = this.role === "leader";
    if (term !== this.term) {
      this.term = term;
      this.vote = "";
    }
    if (wasLeader) {
      this.failLeaderReads();
      this.lease = undefined;
      this.heldElapsed = 0;
    }
    if (leader !== this.leader) this.failForwarded(leader);
    this.transferee = "";
    // Leader-only intentions die with the leadership (otherwise hasReady() stays true forever).
    this.needsBroadcast = false;
    this.commitAdvanced = false;
    this.role = "follower";
    this.leader = leader;
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.resetTimers();
    this.releaseHeld();
  }

  /** PreVote round (thesis §9.6): asks for votes at term+1 without changing our term or vote. */
  private becomePreCandidate(): void {
    this.startCampaign("pre-candidate", false);
  }

  private becomeCandidate(transfer = false): void {
    this.startCampaign("candidate", transfer);
  }

  /** Shared by both campaign kinds; only a real candidacy bumps the term and votes for itself. */
  private startCampaign(role: "pre-candidate" | "candidate", transfer: boolean): void {
    if (this.role === "leader") throw new Error(`RaftCore: a leader cannot become a ${role}`);
    this.failForwarded("");
    // Proposals held from our last leadership have no leader to go to while we campaign.
    this.rejectHeld("");
    if (role === "candidate") {
      this.term += 1;
      this.vote = this.id;
    }
    this.role = role;
    this.leader = "";
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.resetTimers();
    this.votes.clear();
    this.votes.set(this.id, true);
    this.requestVotes(role === "pre-candidate", transfer);
    this.tallyVotes();
  }

  private becomeLeader(): void {
    if (this.role !== "candidate") throw new Error(`RaftCore: only a candidate can become leader, not a ${this.role}`);
    this.role = "leader";
    this.leader = this.id;
    this.stepRole = this.stepLeader;
    this.tickRole = this.tickHeartbeat;
    this.resetTimers();
    this.uncommittedBytes = 0;
    this.transferee = "";
    this.lease =
      this.cfg.readMode === "lease" ? new LeaderLease(this.cfg.electionTicks - this.cfg.leaseDriftTicks) : undefined;
    // Any configuration entry in our log may still be unapplied: no new change until it is (rule 8).
    this.pendingConfigIndex = this.log.lastIndex();
    this.progress.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of allVoters(this.quorum)) this.addProgress(id, next, false);
    for (const id of this.learners) this.addProgress(id, next, true);
    const self = this.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.maybeUpdate(this.log.stableIndex);
    }
    // A no-op of the new term lets the leader commit, and so learn, everything before it (§3.6.2, §6.4).
    this.log.append({ index: next, term: this.term, type: "noop", data: EMPTY_DATA });
    this.needsBroadcast = true;
  }

  private addProgress(id: NodeId, next: number, isLearner: boolean): void {
    const pr = new Progress(
      next,
      isLearner,
      this.cfg.maxInflightMessages,
      this.cfg.maxMessageBytes * this.cfg.maxInflightMessages,
    );
    // Give every peer a full election timeout before CheckQuorum may count it as silent.
    pr.recentActive = true;
    this.progress.set(id, pr);
  }

  private requestVotes(preVote: boolean, transfer: boolean): void {
    const term = preVote ? this.term + 1 : this.term;
    for (const id of allVoters(this.quorum)) {
      if (id === this.id) continue;
      this.send({
        type: "vote",
        to: id,
        term,
        preVote,
        transfer,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
      });
    }
  }

  /** A committed configuration entry not yet handed out for applying (not yet in effect here). */
  private hasUnappliedConfig(): boolean {
    for (let i = this.log.applied + 1; i <= this.log.commit; i++) {
      if (this.log.entryAt(i).type === "config") return true;
    }
    return false;
  }

  /**
   * The connection to our leader broke. A crashed leader's connections are reset at once, long
   * before an election timeout passes without heartbeats, so the follower forgets the leader and
   * moves its election timer to the start of its randomized window: it campaigns within [0, T)
   * ticks instead of [T, 2T), still at a random moment so that followers rarely collide, and
   * it stops refusing other followers' campaigns (leader stickiness, thesis §4.2.3).
   *
   * Only with PreVote and CheckQuorum and without lease reads. PreVote keeps a false alarm (a
   * stream reset while the leader lives) harmless: the other followers, still hearing the leader,
   * refuse the pre-vote and no term changes. Lease reads rely on every follower staying sticky for
   * a full election timeout after hearing the leader, so they rule the hint out.
   */
  private leaderLost(): void {
    if (!this.cfg.preVote || !this.cfg.checkQuorum || this.cfg.readMode === "lease") return;
    this.setLeader("");
    if (this.electionElapsed < this.cfg.electionTicks) this.electionElapsed = this.cfg.electionTicks;
  }

  private isPromotable(): boolean {
    return this.quorum.incoming.includes(this.id) || this.quorum.outgoing.includes(this.id);
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    // Held proposals wait at most an election timeout for a new leader (thesis §3.10).
    if (this.held.size > 0 && ++this.heldElapsed >= this.cfg.electionTicks) this.rejectHeld(this.leader);
    if (this.isPromotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      // Campaigning under a configuration that committed entries are about to replace could count
      // the wrong majority: wait until they are handed out (after a restart, say).
      if (this.hasUnappliedConfig()) return;
      if (this.cfg.preVote) this.becomePreCandidate();
      else this.becomeCandidate();
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.lease?.tick();
    if (this.transferee !== "" && ++this.transferElapsed >= this.cfg.electionTicks) {
      // The target did not take over within an election timeout (thesis §3.10): resume accepting writes.
      this.abandonTransfer();
    }
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      // CheckQuorum (thesis §6.2): a leader that has not heard from a quorum of voters steps down,
      // so clients stop waiting on it and a healthy majority can elect another.
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, "");
        return;
      }
      for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      // Lease reads time every heartbeat round, so each carries a number; otherwise round 0.
      const round = this.lease === undefined ? 0 : this.readOnly.allocateRound();
      this.lease?.recordSent(round);
      this.broadcastHeartbeat(round);
    }
  }

  private quorumActive(): boolean {
    return hasJointQuorum(this.quorum, (id) => id === this.id || this.progress.get(id)?.recentActive === true);
  }

  private resetTimers(): void {
    this.quietAfterStart = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTicks();
  }

  private resetRandomizedElectionTicks(): void {
    // Randomized timeouts in [T, 2T) make split votes rare (§3.4).
    this.randomizedElectionTicks = this.cfg.electionTicks + this.cfg.random.nextInt(this.cfg.electionTicks);
  }

  // ---------------------------------------------------------------- role step functions

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.setLeader(m.from);
        return this.handleAppend(m);
      case "heartbeat":
        this.electionElapsed = 0;
        this.setLeader(m.from);
        return this.handleHeartbeat(m);
      case "snap":
        this.electionElapsed = 0;
        this.setLeader(m.from);
        return this.handleSnapshot(m);
      case "timeoutNow":
        if (this.isPromotable() && !this.hasUnappliedConfig()) this.becomeCandidate(true);
        return;
      case "readIndexResp":
        return this.handleReadIndexResponse(m);
      case "propReject":
        this.rejected.push({ requestIds: m.requestIds, leaderHint: m.leaderHint });
        return;
      case "prop":
        // Forwarding once only: a follower never relays another follower's proposals.
        return this.rejectForwarded(m);
      case "readIndex":
        return this.refuseReads(m);
      default:
        return this.drop("unexpected", `${m.type} to a follower`);
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
      case "heartbeat":
      case "snap":
        // A leader of our term exists (§3.4): give up the election.
        this.becomeFollower(this.term, m.from);
        return this.stepFollower(m);
      case "voteResp":
        return this.handleVoteResponse(m);
      case "prop":
        return this.rejectForwarded(m);
      case "readIndex":
        return this.refuseReads(m);
      case "propReject":
        this.rejected.push({ requestIds: m.requestIds, leaderHint: m.leaderHint });
        return;
      default:
        return this.drop("unexpected", `${m.type} to a ${this.role}`);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case "appResp":
        return this.handleAppendResponse(m);
      case "heartbeatResp":
        return this.handleHeartbeatResponse(m);
      case "prop":
        return this.handleForwardedProposals(m);
      case "readIndex":
        if (this.leaseServes()) {
          this.send({ type: "readIndexResp", to: m.from, requestIds: m.requestIds, index: this.log.commit });
          return;
        }
        for (const requestId of m.requestIds) this.addRead({ requestId, origin: m.from });
        return;
      default:
        return this.drop("unexpected", `${m.type} to a leader`);
    }
  }

  private setLeader(leader: NodeId): void {
    if (leader !== this.leader) {
      this.failForwarded(leader);
      this.leader = leader;
      this.releaseHeld();
    }
  }

  // ---------------------------------------------------------------- replication: follower side

  /** AppendEntries receiver (§3.5, rules 3 and 4). */
  private handleAppend(m: AppendRequest): void {
    if (m.prevLogIndex < this.log.commit) {
      // Everything up to our commit index is already settled; tell the leader where we are.
      this.send({ type: "appResp", to: m.from, success: true, index: this.log.commit, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (this.log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
      const lastNew = this.log.appendAfter(m.prevLogIndex, m.entries);
      if (lastNew < 0)
        return this.drop("impossible", `append from ${m.from} conflicts below commit ${this.log.commit}`);
      // Rule 3: never commit past what this message proved we hold.
      this.log.commitTo(Math.min(m.leaderCommit, lastNew));
      this.send({ type: "appResp", to: m.from, success: true, index: lastNew, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevLogIndex, this.log.lastIndex()), m.prevLogTerm);
    this.send({
      type: "appResp",
      to: m.from,
      success: false,
      index: m.prevLogIndex,
      hintIndex: hint.index,
      hintTerm: hint.term,
    });
  }

  /**
   * InstallSnapshot receiver (thesis §5.3, rule 9): never installs a snapshot at or below the
   * commit index; keeps the log when it already holds the snapshot's last entry; otherwise
   * replaces the log with the snapshot and takes its configuration.
   */
  private handleSnapshot(m: SnapshotRequest): void {
    const meta = m.meta;
    if (meta.index <= this.log.commit) {
      this.send({ type: "appResp", to: m.from, success: true, index: this.log.commit, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We hold that entry, so by Log Matching everything before it too: just learn it is committed.
      this.log.commitTo(meta.index);
      this.send({ type: "appResp", to: m.from, success: true, index: meta.index, hintIndex: 0, hintTerm: 0 });
      return;
    }
    this.log.restore(meta.index, meta.term);
    this.snapshot = meta;
    this.receivedSnapshot = meta;
    this.quorum = { incoming: [...meta.config.voters], outgoing: [...meta.config.outgoing] };
    this.learners = [...meta.config.learners];
    this.configPayload = payloadOfSnapshotConfig(meta);
    this.send({ type: "appResp", to: m.from, success: true, index: meta.index, hintIndex: 0, hintTerm: 0 });
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    // The leader sends min(match, commit), so this never commits an entry we do not hold.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: "heartbeatResp", to: m.from, round: m.round });
  }

  // ---------------------------------------------------------------- replication: leader side

  private appendProposal(proposal: Proposal): ProposeResult {
    const bytes = proposal.data.byteLength;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedBytes) {
      return { kind: "rejected", reason: "overloaded", leaderHint: this.leader };
    }
    const index = this.log.lastIndex() + 1;
    this.log.append({
      index,
      term: this.term,
      type: proposal.type ?? "normal",
      data: proposal.data,
      origin: proposal.origin,
      requestId: proposal.requestId,
    });
    this.uncommittedBytes += bytes;
    this.needsBroadcast = true;
    return { kind: "appended", index, term: this.term };
  }

  private handleForwardedProposals(m: ProposeRequest): void {
    // Refused request ids by leader hint (a transfer refusal hints at its target).
    const refused = new Map<NodeId, number[]>();
    for (const p of m.proposals) {
      // A duplicate of a proposal already appended: its first copy will answer the caller.
      if (this.recentForwarded.has(p.origin, p.requestId)) continue;
      const result = this.propose(p);
      if (result.kind === "appended") this.recentForwarded.remember(p.origin, p.requestId);
      else if (result.kind === "rejected") pushTo(refused, result.leaderHint, p.requestId);
      else throw new Error(`RaftCore: a leader ${result.kind} a proposal forwarded by ${p.origin}`);
    }
    for (const [leaderHint, requestIds] of refused)
      this.send({ type: "propReject", to: m.from, requestIds, leaderHint });
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return this.drop("unknown-sender", `appResp from ${m.from}`);
    pr.recentActive = true;
    if (!m.success) {
      // Conflict hint (thesis §5.4.2 optimisation): skip every entry of a term the follower cannot match.
      const matchHint = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecrTo(m.index, matchHint)) this.sendAppends(m.from, false);
      return;
    }
    if (!pr.maybeUpdate(m.index)) return;
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot") {
      if (pr.match < pr.pendingSnapshot) return;
      pr.becomeReplicate();
    } else pr.inflights.freeLE(m.index);
    if (this.maybeCommit()) return;
    this.sendAppends(m.from, false);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return this.drop("unknown-sender", `heartbeatResp from ${m.from}`);
    pr.recentActive = true;
    pr.probeSent = false;
    if (m.round > 0) this.lease?.recordAck(m.from, m.round);
    // A follower still behind may have lost appends we count as in flight: an append, even an
    // empty one, makes it reject what it lacks, which moves it back to probing (lost-message recovery).
    if (pr.match < this.log.lastIndex()) this.sendAppends(m.from, true);
    if (m.round > 0) this.releaseReads(this.readOnly.ack(m.from, m.round, (acks) => this.isReadQuorum(acks)));
  }

  /**
   * Commits the highest index stored by a quorum, but only an entry of the current term
   * (§3.6.2: counting replicas of an older term's entry is unsafe, Figure 3.7).
   */
  private maybeCommit(): boolean {
    const index = jointCommitted(this.quorum, (id) => this.progress.get(id)?.match ?? 0);
    if (index <= this.log.commit || this.log.termAt(index) !== this.term) return false;
    const before = this.log.commit;
    this.log.commitTo(index);
    for (let i = before + 1; i <= index; i++) {
      const e = this.log.entryAt(i);
      if (e.term === this.term) this.uncommittedBytes -= e.data.byteLength;
    }
    this.commitAdvanced = true;
    this.needsBroadcast = true;
    return true;
  }

  /** Sends appends to `to` until its window is full or it has everything. */
  private sendAppends(to: NodeId, sendIfEmpty: boolean): void {
    let first = true;
    while (this.sendAppend(to, first && sendIfEmpty)) first = false;
  }

  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevLogIndex = pr.next - 1;
    const prevLogTerm = this.log.termAt(prevLogIndex);
    if (prevLogTerm === undefined) {
      // The follower needs entries we compacted away: it gets our snapshot instead (thesis §5.3).
      const snap = this.snapshot;
      if (snap === undefined) throw new Error(`RaftCore: no entry ${prevLogIndex} and no snapshot covering it`);
      pr.becomeSnapshot(snap.index);
      this.snapshotsToSend.push({ to, meta: snap });
      return false;
    }
    const last = this.log.lastIndex();
    const entries = pr.next <= last ? this.log.slice(pr.next, last, this.cfg.maxMessageBytes) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of entries) bytes += e.data.byteLength;
    this.send({ type: "app", to, prevLogIndex, prevLogTerm, entries, leaderCommit: this.log.commit });
    pr.sentEntries(entries.length > 0 ? entries[entries.length - 1].index : prevLogIndex, bytes, entries.length);
    return entries.length > 0 && pr.state === "replicate";
  }

  private appendConfigEntry(payload: ConfigEntryPayload, requestId: number): ProposeResult {
    const index = this.log.lastIndex() + 1;
    this.log.append({
      index,
      term: this.term,
      type: "config",
      data: encodeConfigEntry(payload),
      origin: this.id,
      requestId,
    });
    this.pendingConfigIndex = index;
    this.needsBroadcast = true;
    return { kind: "appended", index, term: this.term };
  }

  /**
   * Puts a committed configuration entry into effect. On the leader: track the new members'
   * progress, leave a joint configuration automatically, and step down when no longer a voter.
   */
  private applyConfigEntry(e: Entry): void {
    const p = decodeConfigEntry(e.data);
    if (p === undefined) throw new Error(`RaftCore: committed configuration entry ${e.index} cannot be decoded`);
    this.configPayload = p;
    this.quorum = { incoming: [...p.voters], outgoing: [...p.outgoing] };
    this.learners = p.learners.filter((id) => !p.outgoing.includes(id) && !p.voters.includes(id));
    this.addresses = p.addresses;
    if (this.role !== "leader") return;
    this.syncProgress();
    if (this.transferee !== "" && !p.voters.includes(this.transferee)) this.abandonTransfer();
    if (p.phase === "joint" && this.pendingConfigIndex <= e.index) {
      this.appendConfigEntry({ ...p, phase: "final", outgoing: [] }, 0);
    } else if (p.phase === "final" && !p.voters.includes(this.id)) {
      // Removed from the configuration it now leads under (thesis §4.2.2): hand over by stepping down.
      this.becomeFollower(this.term, "");
      return;
    }
    this.maybeCommit();
  }

  /**
   * Leader: leaves a joint configuration once every configuration entry in its log is applied —
   * also one appended by an earlier leader that crashed before leaving it (this leader's
   * `pendingConfigIndex` starts at its last index, so `applyConfigEntry` alone would never leave;
   * the simulator's membership churn found the cluster stuck joint). etcd calls this AutoLeave.
   */
  private maybeLeaveJoint(): void {
    const joint = this.configPayload;
    if (this.role !== "leader" || this.quorum.outgoing.length === 0 || joint === undefined) return;
    if (this.pendingConfigIndex > this.log.applied) return;
    this.appendConfigEntry({ ...joint, phase: "final", outgoing: [] }, 0);
  }

  /** Leader: progress for exactly the current members, new ones probing from our last index. */
  private syncProgress(): void {
    const voters = allVoters(this.quorum);
    const members = new Set([...voters, ...this.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    const next = this.log.lastIndex() + 1;
    for (const id of voters) {
      const pr = this.progress.get(id);
      if (pr === undefined) this.addProgress(id, next, false);
      else pr.isLearner = false;
    }
    for (const id of this.learners) if (!this.progress.has(id)) this.addProgress(id, next, true);
    this.needsBroadcast = true;
  }

  private sendTimeoutNow(to: NodeId): void {
    // The invited campaign bypasses leader stickiness, now or whenever the message arrives (rule 7).
    this.lease?.revoke();
    this.send({ type: "timeoutNow", to });
  }

  // ---------------------------------------------------------------- proposals during a transfer (§3.10)

  /**
   * A proposal reaching the leader during a transfer. Its own are held (bounded) and forwarded
   * to the next leader; others' are refused at once, because a forwarded proposal may only be
   * relayed by its origin (a "prop" message carries the sender's own proposals). With forwarding
   * off there is nowhere to send them later, so they are refused at once too. The leader hint of
   * a refusal is the transfer target, the likely next leader.
   */
  private holdDuringTransfer(proposal: Proposal): ProposeResult {
    const refused: ProposeResult = { kind: "rejected", reason: "transferring", leaderHint: this.transferee };
    if (proposal.origin !== this.id || !this.cfg.forwardProposals) return refused;
    if (!this.held.tryHold(proposal, this.uncommittedBytes)) return refused;
    return { kind: "forwarded", to: this.transferee, held: true };
  }

  /** The transfer did not complete: stop it, and refuse what it held (this node still leads). */
  private abandonTransfer(): void {
    this.transferee = "";
    this.rejectHeld(this.id);
  }

  /** A leader is known (and it is not us): held proposals leave for it with the next flush. */
  private releaseHeld(): void {
    if (this.held.size === 0 || this.leader === "" || this.leader === this.id) return;
    this.forwardQueue.push(...this.held.takeAll());
    this.heldElapsed = 0;
  }

  private rejectHeld(leaderHint: NodeId): void {
    if (this.held.size === 0) return;
    this.rejected.push({ requestIds: this.held.takeAll().map((p) => p.requestId), leaderHint });
    this.heldElapsed = 0;
  }

  private broadcastHeartbeat(round: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({ type: "heartbeat", to: id, commit: Math.min(pr.match, this.log.commit), round });
    }
  }

  // ---------------------------------------------------------------- ReadIndex (rule 6)

  private committedCurrentTerm(): boolean {
    return this.log.termAt(this.log.commit) === this.term;
  }

  /**
   * Lease reads (thesis §6.4.1, rule 7): the leader has committed an entry of its term (so its
   * commit index covers every committed entry), no transfer is running, and a quorum acknowledged
   * a heartbeat sent less than the lease duration ago.
   */
  private leaseServes(): boolean {
    if (this.lease === undefined || this.transferee !== "" || !this.committedCurrentTerm()) return false;
    return this.lease.isValid(this.quorum, this.id);
  }

  private addRead(read: PendingRead): void {
    this.readOnly.add(read);
  }

  private isReadQuorum(acks: ReadonlySet<NodeId>): boolean {
    return hasJointQuorum(this.quorum, (id) => acks.has(id));
  }

  private startReadRound(): void {
    const round = this.readOnly.startRound(this.log.commit, this.id);
    this.lease?.recordSent(round);
    this.broadcastHeartbeat(round);
    this.releaseReads(this.readOnly.confirmReady((acks) => this.isReadQuorum(acks)));
  }

  private releaseReads(batches: ConfirmedReads[]): void {
    const remote = new Map<NodeId, number[]>();
    for (const batch of batches) {
      for (const read of batch.reads) {
        if (read.origin === this.id) this.readStates.push({ requestId: read.requestId, index: batch.index });
        else {
          pushTo(remote, read.origin, read.requestId);
        }
      }
      for (const [origin, requestIds] of remote) {
        this.send({ type: "readIndexResp", to: origin, requestIds, index: batch.index });
      }
      remote.clear();
    }
  }

  /** Leadership is gone: every read it was confirming fails and must be retried (rule 6). */
  private failLeaderReads(): void {
    const remote = new Map<NodeId, number[]>();
    for (const read of this.readOnly.drainAll()) {
      if (read.origin === this.id) this.readStates.push({ requestId: read.requestId, index: 0 });
      else {
        pushTo(remote, read.origin, read.requestId);
      }
    }
    for (const [origin, requestIds] of remote) this.send({ type: "readIndexResp", to: origin, requestIds, index: 0 });
  }

  private handleReadIndexResponse(m: ReadIndexResponse): void {
    for (const requestId of m.requestIds) {
      if (this.forwardedReads.delete(requestId)) this.readStates.push({ requestId, index: m.index });
    }
  }

  private refuseReads(m: ReadIndexRequest): void {
    this.send({ type: "readIndexResp", to: m.from, requestIds: m.requestIds, index: 0 });
  }

  private rejectForwarded(m: ProposeRequest): void {
    // A refusal promises the caller "not applied". A network duplicate of a proposal this node
    // appended while it led must not be refused: the first copy is in the log and may commit
    // (found by the simulator: seed 10 heavy, a duplicated prop reached the old leader after it
    // stepped down, and the client was told NOT_LEADER for a write that was applied).
    const requestIds = m.proposals
      .filter((p) => !this.recentForwarded.has(p.origin, p.requestId))
      .map((p) => p.requestId);
    if (requestIds.length === 0) return;
    this.send({ type: "propReject", to: m.from, requestIds, leaderHint: this.leader });
  }

  /**
   * The leader we forwarded to is gone or changed: reads in flight fail (retryable), and queued
   * proposals that never left are refused (certainly not applied).
   */
  private failForwarded(newLeader: NodeId): void {
    for (const requestId of this.forwardedReads) this.readStates.push({ requestId, index: 0 });
    this.forwardedReads.clear();
    for (const requestId of this.forwardReadQueue) this.readStates.push({ requestId, index: 0 });
    this.forwardReadQueue = [];
    if (this.forwardQueue.length > 0) {
      this.rejected.push({ requestIds: this.forwardQueue.map((p) => p.requestId), leaderHint: newLeader });
      this.forwardQueue = [];
    }
  }

  // ---------------------------------------------------------------- output

  /** Turns batched intentions into messages, once per Ready. */
  private flush(): void {
    if (this.role === "leader") {
      if (this.readOnly.hasWaiting() && this.committedCurrentTerm()) this.startReadRound();
      if (this.needsBroadcast) {
        const carryCommit = this.commitAdvanced;
        for (const id of this.progress.keys()) if (id !== this.id) this.sendAppends(id, carryCommit);
        this.needsBroadcast = false;
        this.commitAdvanced = false;
      }
      return;
    }
    if (this.leader === "") return;
    if (this.forwardQueue.length > 0) {
      this.send({ type: "prop", to: this.leader, proposals: this.forwardQueue });
      this.forwardQueue = [];
    }
    if (this.forwardReadQueue.length > 0) {
      for (const id of this.forwardReadQueue) this.forwardedReads.add(id);
      this.send({ type: "readIndex", to: this.leader, requestIds: this.forwardReadQueue });
      this.forwardReadQueue = [];
    }
  }

  /**
   * Stamps the envelope and files the message: responses and vote requests wait for the Ready's
   * write (they vouch for durable term, vote and entries); the rest may leave at once.
   */
  private send(partial: WithoutEnvelope<Message>): void {
    const m = { ...partial, from: this.id, clusterId: this.cfg.clusterId, term: partial.term ?? this.term } as Message;
    switch (m.type) {
      case "vote":
      case "voteResp":
      case "appResp":
      case "heartbeatResp":
        this.messagesAfterPersist.push(m);
        return;
      default:
        this.messages.push(m);
    }
  }

  private configState(): SnapshotMeta["config"] {
    return { voters: [...this.quorum.incoming], outgoing: [...this.quorum.outgoing], learners: [...this.learners] };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.commit };
  }

  private hardChanged(): boolean {
    const h = this.lastHard;
    return h.term !== this.term || h.vote !== this.vote || h.commit !== this.log.commit;
  }

  private softChanged(): boolean {
    return this.lastSoft.role !== this.role || this.lastSoft.leader !== this.leader;
  }

  private drop(reason: DropReason, detail: string): void {
    this.drops[reason]++;
    this.lastDrop = `${reason}: ${detail}`;
  }
}

const EMPTY_DATA = new Uint8Array(0);

function pushTo(groups: Map<NodeId, number[]>, key: NodeId, value: number): void {
  const list = groups.get(key);
  if (list === undefined) groups.set(key, [value]);
  else list.push(value);
}

/** The configuration a snapshot carries, as the payload of the entry that put it into effect. */
function payloadOfSnapshotConfig(meta: SnapshotMeta): ConfigEntryPayload {
  const config = meta.config;
  return {
    phase: config.outgoing.length > 0 ? "joint" : "final",
    voters: config.voters,
    outgoing: config.outgoing,
    learners: config.learners,
    addresses: config.addresses ?? {},
  };
}
