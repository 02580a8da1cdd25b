import type { ReadMode } from "../core/config.js";
import type { Entry, NodeId, Role, SnapshotMeta } from "../core/types.js";
import { OutcomeUnknownError } from "../runtime/errors.js";
import { RaftServer, type ServerBrief, type ServerStatus } from "../runtime/raft-server.js";
import type { CallOptions } from "../runtime/server-options.js";
import type { StateMachine } from "../runtime/state-machine.js";
import type { Transport } from "../runtime/transport.js";
import { jsonResultCodec } from "../sessions/session-options.js";
import { SessionStateMachine } from "../sessions/session-state-machine.js";
import type {
  PersistedState,
  SnapshotChunks,
  SnapshotReader,
  SnapshotStaging,
  Storage,
  StorageWrite,
} from "../storage/storage.js";
import type { StorageCorruptionError } from "../storage/storage-errors.js";
import { type KvApplyResult, KvStateMachine } from "./kv-state-machine.js";
import { NodeClock } from "./node-clock.js";
import type { Prng } from "./prng.js";
import type { NodeStatus, NodeView, SafetyChecker } from "./safety-checker.js";
import type { BitFlip } from "./sim-disk.js";
import type { SimNetwork } from "./sim-network.js";
import { type CrashOutcome, SimStorage } from "./sim-storage.js";
import type { Trace } from "./trace.js";
import { UncheckedSessionStateMachine } from "./unchecked-session-state-machine.js";
import type { VirtualClock } from "./virtual-clock.js";

/** Largest cluster the simulator builds (ids "n1".."n9" keep traces and flags short). */
export const MAX_NODES = 9;
export const DEFAULT_SIM_TICK_MS = 10;
export const DEFAULT_SIM_ELECTION_TICKS = 30;
export const DEFAULT_SIM_HEARTBEAT_TICKS = 5;
export const SIM_CLUSTER_ID = "sim";
/** Largest chunk of the KV state machine's snapshots: small, so every snapshot streams in several chunks. */
export const SIM_KV_SNAPSHOT_CHUNK_BYTES = 256;
/** Size of the checksummed blocks of the simulated disks' snapshot files. */
export const SIM_SNAPSHOT_BLOCK_BYTES = 128;

/**
 * The ids of an `count`-node cluster: "n1".."nN".
 * @example clusterNodeIds(3) // ["n1", "n2", "n3"]
 */
export function clusterNodeIds(count: number): NodeId[] {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_NODES) {
    throw new RangeError(`a simulated cluster has 1 to ${MAX_NODES} nodes, got ${count}`);
  }
  return Array.from({ length: count }, (_, i) => `n${i + 1}`);
}

export interface SimClusterOptions {
  readonly clock: VirtualClock;
  /** The run's root stream; each node incarnation and each disk forks its own stream from it. */
  readonly prng: Prng;
  readonly network: SimNetwork;
  readonly checker: SafetyChecker;
  readonly nodes: number;
  readonly trace?: Trace;
  /** Default {@link DEFAULT_SIM_TICK_MS}. */
  readonly tickMs?: number;
  /** Default {@link DEFAULT_SIM_ELECTION_TICKS}. */
  readonly electionTicks?: number;
  /** Default {@link DEFAULT_SIM_HEARTBEAT_TICKS}. */
  readonly heartbeatTicks?: number;
  /** Simulated sync latency range of every disk; SimStorage's defaults (1–5 ms) when absent. */
  readonly minSyncMs?: number;
  readonly maxSyncMs?: number;
  /** Each node takes a snapshot and compacts its log every this many applied entries; 0 (default) = never. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept behind each snapshot; the runtime's default when absent. Small values make leaders send snapshots. */
  readonly snapshotTrailingEntries?: number;
  /**
   * Wrap every node's KV store in a `SessionStateMachine` (client sessions, thesis §6.3), so
   * proposals must be session envelopes and resolve with a `SessionApplyResult`. Default false.
   */
  readonly sessions?: boolean;
  /** How every node confirms reads (default "read-index"); "lease" needs CheckQuorum, which is on. */
  readonly readMode?: ReadMode;
  /** Every node's `leaderWaitMs` (default 0: calls that meet an election or a deposed leader fail at once). */
  readonly leaderWaitMs?: number;
  /**
   * Largest clock-rate error per node, in thousandths: each node's clock runs at a fixed rate drawn
   * in [1000 - drift, 1000 + drift] (default 0: perfect clocks).
   */
  readonly clockDriftPermille?: number;
  /**
   * TEST ONLY. With `sessions`, false swaps the session wrapper for a double that applies every
   * copy of a command ({@link UncheckedSessionStateMachine}), to show the checks catch a double
   * apply. Default true.
   */
  readonly sessionDedupe?: boolean;
}

/** The membership as the latest observed leader sees it (its configuration entry applied so far). */
export interface MemberView {
  /** Term of the leader this view comes from (0: the bootstrap configuration). */
  readonly term: number;
  readonly voters: readonly NodeId[];
  /** Voters of the outgoing configuration while in joint consensus; empty otherwise. */
  readonly outgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** A node that stopped by itself (storage or state machine failure, internal error). */
export interface NodeFailure {
  readonly node: NodeId;
  readonly atMs: number;
  readonly detail: string;
}

/**
 * One life of a node between a start and a crash. Every seam the server holds goes through this
 * object's fence: once `alive` is false, timers are gone, sends and writes vanish and applies
 * never finish, so the abandoned server cannot affect the simulation even if it still holds work
 * in its microtask queue.
 */
class Incarnation {
  alive = true;
  started = false;
  failed = false;
  /** The status seen by the last observation; undefined before the first. */
  lastStatus: ServerBrief | undefined;
  lastRole: Role = "follower";
  lastTerm = 0;
  lastLeader: NodeId = "";
  server!: RaftServer<unknown>;
  readonly view: NodeView;
  /** The session wrapper around `stateMachine`, when the cluster runs sessions with dedupe. */
  sessionTable: SessionStateMachine<KvApplyResult> | undefined;

  constructor(
    readonly id: NodeId,
    readonly number: number,
    readonly clock: NodeClock,
    readonly stateMachine: KvStateMachine,
  ) {
    this.view = {
      id,
      status: (): NodeStatus => this.lastStatus as ServerBrief,
      entryAt: (index: number): Entry | undefined => this.server.entryAt(index),
    };
  }
}

/**
 * A node that found its disk damaged (a bit flip the simulator injected) and stopped for good, as
 * an operator would leave it until it is restored or replaced. It stays down and is left out of
 * the liveness and convergence checks.
 */
export interface NodeHalt {
  readonly node: NodeId;
  readonly atMs: number;
  /** E.g. "corruption detected at index 42". */
  readonly detail: string;
}

/** A node slot: its disk outlives every incarnation. */
interface SimNode {
  readonly id: NodeId;
  readonly disk: SimStorage;
  /** The configuration the node starts with while its log and snapshot hold none (core `voters`). */
  readonly bootstrapVoters: readonly NodeId[];
  incarnations: number;
  current: Incarnation | undefined;
  /** Armed by a "crash-during-write" or "torn-write" fault: crash at the next storage write. */
  crashOnWrite: "crash" | "tear" | undefined;
  /** Set once the node halted on detected corruption; it never restarts. */
  halted: NodeHalt | undefined;
  /**
   * Bits flipped on the disk while the node was down: nothing can rewrite them before the next
   * start reads the disk, so that start must detect them.
   */
  flipsWhileDown: number;
}

/**
 * N simulated nodes ("n1".."nN"), each a real `RaftServer` over a {@link KvStateMachine}, a
 * {@link SimStorage} disk that survives crashes, a {@link SimNetwork} endpoint and a
 * {@link NodeClock}. Every applied batch is reported to the {@link SafetyChecker}; after each
 * virtual instant {@link SimCluster.observe} shows the checker every node that took a step.
 *
 * A crash is abrupt: the node is marked down on the network, its timers are cancelled, its disk
 * loses unsynced writes, and its server object is dropped without `stop()`. A restart builds a
 * new server and a new (empty) state machine on the same disk; the node re-applies its log.
 *
 * @example
 * const cluster = new SimCluster({ clock, prng, network, checker, nodes: 5 });
 * await cluster.startAll();
 * cluster.crash("n2");
 * cluster.restart("n2");
 */
export class SimCluster {
  /** Every node ever started, initial ones first, then added ones in the order they were added. */
  private readonly idList: NodeId[] = [];
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly clock: VirtualClock;
  private readonly prng: Prng;
  private readonly network: SimNetwork;
  private readonly checker: SafetyChecker;
  private readonly trace: Trace | undefined;
  private readonly tickMs: number;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly snapshotEveryEntries: number;
  private readonly snapshotTrailingEntries: number | undefined;
  private readonly sessions: boolean;
  private readonly readMode: ReadMode;
  private readonly leaderWaitMs: number;
  private readonly clockDriftPermille: number;
  /** Each node's clock rate (thousandths), fixed for the node's whole life. */
  private readonly clockRates = new Map<NodeId, number>();
  private readonly sessionDedupe: boolean;
  private readonly minSyncMs: number | undefined;
  private readonly maxSyncMs: number | undefined;
  private memberView: MemberView;
  /** The arrays the member view was built from (a leader's `configuration()`), to notice a change by identity. */
  private memberSource: ReturnType<RaftServer<unknown>["configuration"]> | undefined;
  /** Nodes that took a step since the last observation, in the order they did. */
  private readonly dirty = new Set<NodeId>();
  private readonly crashListeners: ((id: NodeId) => void)[] = [];
  /** Calls in flight through {@link SimCluster.call}, per node: each is failed when its node crashes. */
  private readonly callsByNode = new Map<NodeId, Set<(error: Error) => void>>();
  private readonly failureList: NodeFailure[] = [];
  private readonly haltList: NodeHalt[] = [];
  private electionCount = 0;
  private crashCount = 0;
  private restartCount = 0;

  constructor(options: SimClusterOptions) {
    const initial = clusterNodeIds(options.nodes);
    this.clock = options.clock;
    this.prng = options.prng;
    this.network = options.network;
    this.checker = options.checker;
    this.trace = options.trace;
    this.tickMs = options.tickMs ?? DEFAULT_SIM_TICK_MS;
    this.electionTicks = options.electionTicks ?? DEFAULT_SIM_ELECTION_TICKS;
    this.heartbeatTicks = options.heartbeatTicks ?? DEFAULT_SIM_HEARTBEAT_TICKS;
    this.snapshotEveryEntries = options.snapshotEveryEntries ?? 0;
    this.snapshotTrailingEntries = options.snapshotTrailingEntries;
    this.sessions = options.sessions === true;
    this.readMode = options.readMode ?? "read-index";
    this.leaderWaitMs = options.leaderWaitMs ?? 0;
    this.clockDriftPermille = options.clockDriftPermille ?? 0;
    this.sessionDedupe = options.sessionDedupe !== false;
    this.minSyncMs = options.minSyncMs;
    this.maxSyncMs = options.maxSyncMs;
    this.memberView = { term: 0, voters: initial, outgoing: [], learners: [] };
    for (const id of initial) this.createNode(id, initial);
  }

  /** Every node ever started, initial ones first, then added ones in the order they were added. */
  get ids(): readonly NodeId[] {
    return this.idList;
  }

  /** True when the cluster has (or had) a node `id`. */
  hasNode(id: NodeId): boolean {
    return this.nodes.has(id);
  }

  /**
   * Starts a brand-new node `id` with an empty disk, knowing `bootstrapVoters` as the cluster
   * until the leader's log or snapshot tells it the real configuration (as an operator starts a
   * server before adding it). It is not a member until a configuration change adds it. Returns
   * false when a node `id` already exists.
   */
  addNode(id: NodeId, bootstrapVoters: readonly NodeId[]): boolean {
    if (this.nodes.has(id)) return false;
    const node = this.createNode(id, bootstrapVoters);
    void this.launch(node);
    return true;
  }

  /**
   * The configuration as the latest observed leader (highest term, latest status) applies it;
   * the bootstrap configuration until a leader has been observed.
   */
  members(): MemberView {
    return this.memberView;
  }

  /** Voters (incoming and outgoing) and learners of {@link SimCluster.members}, in node order. */
  memberIds(): NodeId[] {
    const view = this.memberView;
    return this.idList.filter(
      (id) => view.voters.includes(id) || view.outgoing.includes(id) || view.learners.includes(id),
    );
  }

  /** Members that have not halted: the nodes the liveness and convergence checks are about. */
  checkedIds(): NodeId[] {
    return this.memberIds().filter((id) => !this.isHalted(id));
  }

  /** Members that are up: where clients send their requests. */
  clientNodes(): NodeId[] {
    return this.memberIds().filter((id) => this.isUp(id));
  }

  /** True when the node's disk carries an injected bit flip (it halts when it next reads it). */
  isDamaged(id: NodeId): boolean {
    return this.node(id).disk.flips.length > 0;
  }

  private createNode(id: NodeId, bootstrapVoters: readonly NodeId[]): SimNode {
    const disk = new SimStorage(this.clock, this.prng.fork(`disk:${id}`), {
      minSyncMs: this.minSyncMs,
      maxSyncMs: this.maxSyncMs,
      storePath: `${id}:disk`,
      snapshotBlockBytes: SIM_SNAPSHOT_BLOCK_BYTES,
    });
    const node: SimNode = {
      id,
      disk,
      bootstrapVoters: [...bootstrapVoters],
      incarnations: 0,
      current: undefined,
      crashOnWrite: undefined,
      halted: undefined,
      flipsWhileDown: 0,
    };
    this.nodes.set(id, node);
    this.idList.push(id);
    return node;
  }

  /** Starts every node (first incarnation) and resolves once all have loaded their disks. */
  async startAll(): Promise<void> {
    const started: Promise<void>[] = [];
    for (const id of this.ids) started.push(this.launch(this.node(id)));
    await Promise.all(started);
  }

  /** Calls `listener(id)` synchronously whenever a node crashes (before anything else runs). */
  onCrash(listener: (id: NodeId) => void): void {
    this.crashListeners.push(listener);
  }

  /** True when the node has a live incarnation whose server is running (started, not failed). */
  isUp(id: NodeId): boolean {
    const current = this.node(id).current;
    return current?.started === true && !current.failed;
  }

  /** True when the node is crashed or halted (no live incarnation). */
  isDown(id: NodeId): boolean {
    return this.node(id).current === undefined;
  }

  /** True when the node halted on detected corruption (it stays down for good). */
  isHalted(id: NodeId): boolean {
    return this.node(id).halted !== undefined;
  }

  /** Ids of the nodes that have not halted, in id order: the ones liveness and convergence are checked on. */
  liveIds(): NodeId[] {
    return this.ids.filter((id) => !this.isHalted(id));
  }

  /** Nodes that halted on detected corruption, in the order they did. */
  halts(): readonly NodeHalt[] {
    return this.haltList;
  }

  /** The simulated disk of a node (it outlives every incarnation). */
  disk(id: NodeId): SimStorage {
    return this.node(id).disk;
  }

  /** Ids of running nodes, in id order. */
  upNodes(): NodeId[] {
    return this.ids.filter((id) => this.isUp(id));
  }

  /** Ids of crashed nodes, in id order. */
  downNodes(): NodeId[] {
    return this.ids.filter((id) => this.isDown(id));
  }

  /** The running server of `id`, or undefined when it is down or still starting. */
  server(id: NodeId): RaftServer<unknown> | undefined {
    const current = this.node(id).current;
    return current?.started ? current.server : undefined;
  }

  /** The state machine of the node's live incarnation (it starts empty after every restart). */
  stateMachine(id: NodeId): KvStateMachine | undefined {
    return this.node(id).current?.stateMachine;
  }

  /** The session wrapper of the node's live incarnation (sessions on, dedupe on), else undefined. */
  sessionStateMachine(id: NodeId): SessionStateMachine<KvApplyResult> | undefined {
    return this.node(id).current?.sessionTable;
  }

  /** True when the nodes run client sessions (proposals must be session envelopes). */
  usesSessions(): boolean {
    return this.sessions;
  }

  /**
   * Proposes on `id` through the public API (the node must be up). Resolves with the KV result,
   * or with a `SessionApplyResult` when the cluster runs sessions.
   */
  propose(id: NodeId, command: Uint8Array, options: CallOptions): Promise<unknown> {
    const server = this.requireServer(id);
    this.dirty.add(id);
    return server.propose(command, options);
  }

  /**
   * Runs `call` on the running server of `id` as a client connected to it would: when the node
   * crashes (or halts) before the call settles, the returned promise rejects with OUTCOME_UNKNOWN
   * (the connection dropped; the request may or may not have taken effect) instead of never
   * settling. Throws when the node is not up.
   */
  call<T>(id: NodeId, call: (server: RaftServer<unknown>) => Promise<T>): Promise<T> {
    const server = this.requireServer(id);
    this.dirty.add(id);
    let calls = this.callsByNode.get(id);
    if (calls === undefined) {
      calls = new Set();
      this.callsByNode.set(id, calls);
    }
    const pending = calls;
    return new Promise<T>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      pending.add(fail);
      call(server).then(
        (value) => {
          pending.delete(fail);
          resolve(value);
        },
        (error: unknown) => {
          pending.delete(fail);
          reject(error);
        },
      );
    });
  }

  /**
   * The node that leads the highest term among the running nodes as last observed, or undefined
   * when none does.
   */
  leader(): NodeId | undefined {
    let best: NodeId | undefined;
    let bestTerm = -1;
    for (const id of this.idList) {
      const status = this.node(id).current?.lastStatus;
      if (status?.role === "leader" && status.term > bestTerm && this.isUp(id)) {
        best = id;
        bestTerm = status.term;
      }
    }
    return best;
  }

  /** A linearizable read barrier on `id` (the node must be up). */
  read(id: NodeId, options: CallOptions): Promise<void> {
    const server = this.requireServer(id);
    this.dirty.add(id);
    return server.read(options);
  }

  /**
   * Crashes `id` abruptly. With `tear`, the disk leaves the first operation it loses half-written
   * (a torn write). Returns false when it was already down.
   */
  crash(id: NodeId, options: { readonly tear?: boolean } = {}): boolean {
    const node = this.node(id);
    const current = node.current;
    if (current === undefined) return false;
    current.alive = false;
    this.network.setDown(id, true);
    current.clock.halt();
    node.disk.crash({ tear: options.tear === true });
    const outcome = node.disk.lastCrash as CrashOutcome;
    if (outcome.torn) {
      this.trace?.fault(
        this.clock.now(),
        `${id} disk: write torn after ${outcome.kept} of ${outcome.kept + outcome.lost} in flight`,
      );
    }
    node.current = undefined;
    this.dirty.delete(id);
    this.checker.forget(id);
    this.crashCount++;
    this.notifyCrash(id);
    return true;
  }

  /** Restarts a crashed node from its disk. Returns false when it was up or has halted. */
  restart(id: NodeId): boolean {
    const node = this.node(id);
    node.crashOnWrite = undefined;
    if (node.current !== undefined || node.halted !== undefined) return false;
    this.restartCount++;
    void this.launch(node);
    return true;
  }

  /** Crashes every node that is up; returns how many crashed. */
  crashAll(): number {
    let count = 0;
    for (const id of this.ids) if (this.crash(id)) count++;
    return count;
  }

  /** Restarts every crashed node; returns how many restarted. */
  restartAll(): number {
    let count = 0;
    for (const id of this.ids) if (this.restart(id)) count++;
    return count;
  }

  /**
   * Arms a crash of `id` for the moment it next issues a storage write, so the crash lands
   * between the write and its sync. A restart disarms it.
   */
  crashDuringNextWrite(id: NodeId): void {
    this.node(id).crashOnWrite = "crash";
  }

  /**
   * Arms a torn write on `id`: at its next storage write it crashes, and its disk leaves the first
   * lost operation half-written. A restart disarms it.
   */
  tearNextWrite(id: NodeId): void {
    this.node(id).crashOnWrite = "tear";
  }

  /** Disarms every pending crash-during-write and torn write. */
  disarmAll(): void {
    for (const node of this.nodes.values()) node.crashOnWrite = undefined;
  }

  /**
   * The most nodes whose disks may be damaged by bit flips: a minority, so a majority of intact
   * nodes always remains to keep every acknowledged write and elect leaders.
   */
  maxDamagedNodes(): number {
    return Math.floor((this.memberView.voters.length - 1) / 2);
  }

  /** Nodes whose disks took a bit flip, in id order. */
  damagedNodes(): NodeId[] {
    return this.idList.filter((id) => this.node(id).disk.flips.length > 0);
  }

  /**
   * Flips one bit in a stored record of `id`'s disk (see `SimStorage.flipBit`). Refused when it
   * would damage a majority of the current voters' disks (more than
   * {@link SimCluster.maxDamagedNodes} of them, and of the outgoing voters during a joint
   * configuration), and when the disk holds nothing. The node finds the damage when it next
   * reads the record (its next start, or a read of its snapshot) and halts. Returns where the
   * flip landed, or undefined.
   */
  flipBit(id: NodeId): BitFlip | undefined {
    const node = this.node(id);
    if (node.halted !== undefined) return undefined;
    const damaged = new Set(this.damagedNodes());
    damaged.add(id);
    const view = this.memberView;
    for (const voters of [view.voters, view.outgoing]) {
      const hit = voters.filter((voter) => damaged.has(voter)).length;
      if (voters.length > 0 && hit > Math.floor((voters.length - 1) / 2)) return undefined;
    }
    const flip = node.disk.flipBit();
    if (flip !== undefined && node.current === undefined) node.flipsWhileDown++;
    return flip;
  }

  /**
   * Shows the safety checker every node that took a step since the last call, notes role and
   * leader changes, and notices nodes that stopped by themselves. Called once per virtual instant.
   */
  observe(): void {
    if (this.dirty.size === 0) return;
    const atMs = this.clock.now();
    for (const id of this.dirty) {
      const current = this.node(id).current;
      if (current === undefined || !current.started) continue;
      // The cheap brief, not status(): this runs for every node that stepped, at every instant.
      const status = current.server.brief();
      current.lastStatus = status;
      if (status.lifecycle === "stopped" && !current.failed) {
        this.recordFailure(current, current.server.status(), atMs);
        if (!current.alive) continue; // halted on detected corruption
      }
      this.checker.observe(current.view, atMs);
      this.noteRole(current, status, atMs);
      if (status.role === "leader" && status.term >= this.memberView.term) {
        this.noteMembers(status.term, current.server.configuration());
      }
    }
    this.dirty.clear();
  }

  /** A leader of the latest term was observed: its configuration is the cluster's. */
  private noteMembers(term: number, config: ReturnType<RaftServer<unknown>["configuration"]>): void {
    const view = this.memberView;
    const source = this.memberSource;
    if (
      view.term === term &&
      source !== undefined &&
      source.voters === config.voters &&
      source.outgoing === config.outgoing &&
      source.learners === config.learners
    ) {
      return; // the same arrays: nothing changed (the core replaces them on every change)
    }
    this.memberSource = config;
    if (
      view.term === term &&
      sameIds(view.voters, config.voters) &&
      sameIds(view.outgoing, config.outgoing) &&
      sameIds(view.learners, config.learners)
    ) {
      return;
    }
    this.memberView = {
      term,
      voters: [...config.voters],
      outgoing: [...config.outgoing],
      learners: [...config.learners],
    };
    const joint = config.outgoing.length > 0 ? ` (joint with ${config.outgoing.join(" ")})` : "";
    const learners = config.learners.length > 0 ? ` learners ${config.learners.join(" ")}` : "";
    this.trace?.note(this.clock.now(), `members t${term}: voters ${config.voters.join(" ")}${joint}${learners}`);
  }

  /**
   * The leader every member agrees on, or "" when there is none yet: every member that has not
   * halted is up, all report the same leader and term, and that leader reports itself leader of
   * that term. Nodes outside the configuration (removed, or started and never added) do not
   * count. Reads the statuses of the last {@link SimCluster.observe}.
   */
  agreedLeader(): NodeId {
    let leader: NodeId | undefined;
    let term = 0;
    for (const id of this.checkedIds()) {
      const current = this.node(id).current;
      const status = current?.lastStatus;
      if (current === undefined || current.failed || status === undefined) return "";
      if (leader === undefined) {
        leader = status.leader;
        term = status.term;
      } else if (status.leader !== leader || status.term !== term) return "";
    }
    if (leader === undefined || leader === "") return "";
    return this.node(leader).current?.lastStatus?.role === "leader" ? leader : "";
  }

  /** Nodes that took a step since the last {@link SimCluster.observe}, in the order they did. */
  steppedNodes(): NodeId[] {
    return [...this.dirty];
  }

  /** A one-line summary of every node's role, term and leader as last observed (non-members marked). */
  describeRoles(): string {
    const members = new Set(this.memberIds());
    return this.ids
      .map((id) => {
        const status = this.lastStatus(id);
        const outside = members.has(id) ? "" : " (not a member)";
        if (status === undefined)
          return `${id} ${this.isHalted(id) ? "halted" : this.isDown(id) ? "down" : "starting"}${outside}`;
        return `${id} ${status.role} t${status.term} leader=${status.leader || "-"}${outside}`;
      })
      .join(", ");
  }

  /** The last observed status of a node (undefined when down or not observed yet). */
  lastStatus(id: NodeId): ServerBrief | undefined {
    return this.node(id).current?.lastStatus;
  }

  /** Nodes that stopped by themselves, in the order noticed. */
  failures(): readonly NodeFailure[] {
    return this.failureList;
  }

  /** How many times some node became leader. */
  elections(): number {
    return this.electionCount;
  }

  crashes(): number {
    return this.crashCount;
  }

  restarts(): number {
    return this.restartCount;
  }

  private node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new RangeError(`no node "${id}" in this cluster (${this.ids.join(", ")})`);
    return node;
  }

  private requireServer(id: NodeId): RaftServer<unknown> {
    const server = this.server(id);
    if (server === undefined) throw new Error(`node ${id} is not up`);
    return server;
  }

  /** A node's clock rate: drawn once from its own stream, so adding drift changes no other draw. */
  private clockRateOf(id: NodeId): number {
    let rate = this.clockRates.get(id);
    if (rate === undefined) {
      const drift = this.clockDriftPermille;
      rate = drift === 0 ? 1000 : 1000 - drift + this.prng.fork(`clock:${id}`).nextInt(2 * drift + 1);
      this.clockRates.set(id, rate);
    }
    return rate;
  }

  /** Builds and starts a new incarnation on the node's disk. */
  private launch(node: SimNode): Promise<void> {
    node.incarnations++;
    const id = node.id;
    this.network.setDown(id, false);
    const markDirty = () => {
      if (incarnation.alive) this.dirty.add(id);
    };
    const incarnation: Incarnation = new Incarnation(
      id,
      node.incarnations,
      new NodeClock(this.clock, markDirty, this.clockRateOf(id)),
      new KvStateMachine({ snapshotChunkBytes: SIM_KV_SNAPSHOT_CHUNK_BYTES }),
    );
    incarnation.server = new RaftServer<unknown>({
      id,
      clusterId: SIM_CLUSTER_ID,
      voters: node.bootstrapVoters,
      random: this.prng.fork(`node:${id}:${node.incarnations}`),
      electionTicks: this.electionTicks,
      heartbeatTicks: this.heartbeatTicks,
      tickMs: this.tickMs,
      snapshotEveryEntries: this.snapshotEveryEntries,
      snapshotTrailingEntries: this.snapshotTrailingEntries,
      readMode: this.readMode,
      leaderWaitMs: this.leaderWaitMs,
      clock: incarnation.clock,
      storage: this.fencedStorage(node, incarnation, markDirty),
      transport: this.fencedTransport(incarnation, markDirty),
      stateMachine: this.reportingStateMachine(incarnation),
    });
    node.current = incarnation;
    return incarnation.server.start().then(
      () => {
        if (!incarnation.alive) return;
        incarnation.started = true;
        this.dirty.add(id);
        if (node.flipsWhileDown > 0) {
          // Every record is verified at start-up: a flip made while the node was down must stop it.
          this.failureList.push({
            node: id,
            atMs: this.clock.now(),
            detail: `started on a disk with ${node.flipsWhileDown} flipped bit(s) without detecting the corruption`,
          });
        }
        node.flipsWhileDown = 0;
      },
      (error: unknown) => {
        if (!incarnation.alive) return;
        incarnation.failed = true;
        if (this.haltOnInjectedCorruption(node, error)) return;
        this.failureList.push({ node: id, atMs: this.clock.now(), detail: `start failed: ${String(error)}` });
      },
    );
  }

  /**
   * The disk as one incarnation sees it: operations after the crash never settle and never reach
   * the disk; a completed operation marks the node as having taken a step; an armed
   * crash-during-write fires right after a write is issued (at the same instant, before its sync).
   */
  private fencedStorage(node: SimNode, incarnation: Incarnation, markDirty: () => void): Storage {
    const disk = node.disk;
    const never = <T>() => new Promise<T>(() => {});
    const settled = <T>(operation: Promise<T>): Promise<T> =>
      operation.then(
        (value) => {
          markDirty();
          return value;
        },
        (error: unknown) => {
          markDirty();
          throw error;
        },
      );
    const fence = <T>(operation: () => Promise<T>): Promise<T> => (incarnation.alive ? settled(operation()) : never());
    return {
      load: (): Promise<PersistedState> => (incarnation.alive ? disk.load() : never()),
      write: (write: StorageWrite): Promise<void> => {
        if (!incarnation.alive) return never();
        const written = disk.write(write);
        if (node.crashOnWrite !== undefined) this.crashSoon(node, incarnation);
        return settled(written);
      },
      saveSnapshot: (meta: SnapshotMeta, data: SnapshotChunks, compactTo: number): Promise<void> =>
        fence(() => disk.saveSnapshot(meta, data, compactTo)),
      stageSnapshot: (meta: SnapshotMeta): Promise<SnapshotStaging> =>
        fence(() => disk.stageSnapshot(meta)).then((staging) => new FencedStaging(staging, fence)),
      installSnapshot: (staging: SnapshotStaging): Promise<void> =>
        fence(() => disk.installSnapshot(staging instanceof FencedStaging ? staging.inner : staging)),
      openSnapshot: (): Promise<SnapshotReader | undefined> =>
        fence(() => disk.openSnapshot()).then((reader) =>
          reader === undefined ? undefined : new FencedReader(reader, fence),
        ),
      close: () => Promise.resolve(),
    };
  }

  /** Fires an armed crash-during-write or torn write: at this instant, after the write call returned, before its sync. */
  private crashSoon(node: SimNode, incarnation: Incarnation): void {
    const how = node.crashOnWrite;
    node.crashOnWrite = undefined;
    this.clock.setTimer(0, () => {
      if (!incarnation.alive) return;
      const kind = how === "tear" ? "torn-write" : "crash-during-write";
      this.trace?.fault(this.clock.now(), `${kind} fired on ${node.id} (${node.disk.inflightCount()} in flight)`);
      this.crash(node.id, { tear: how === "tear" });
    });
  }

  private fencedTransport(incarnation: Incarnation, markDirty: () => void): Transport {
    const endpoint = this.network.endpoint(incarnation.id);
    return {
      start: (handler) =>
        endpoint.start({
          onMessage: (message) => {
            if (!incarnation.alive) return;
            markDirty();
            handler.onMessage(message);
          },
          onUnreachable: (peer) => {
            if (!incarnation.alive) return;
            markDirty();
            handler.onUnreachable?.(peer);
          },
        }),
      send: (message) => {
        if (incarnation.alive) endpoint.send(message);
      },
      stop: () => (incarnation.alive ? endpoint.stop() : Promise.resolve()),
    };
  }

  /**
   * Applies through the incarnation's KvStateMachine and reports every batch to the checker.
   * After the crash nothing reaches the state machine any more (calls never finish).
   */
  private reportingStateMachine(incarnation: Incarnation): StateMachine<unknown> {
    const inner = this.outerStateMachine(incarnation);
    const never = <T>() => new Promise<T>(() => {});
    return {
      apply: (entries) => {
        if (!incarnation.alive) return never();
        const results = inner.apply(entries);
        this.checker.observeApplied(incarnation.id, entries, this.clock.now());
        return results;
      },
      appliedIndex: () => inner.appliedIndex(),
      // Every state machine the simulator builds supports snapshots.
      snapshot: () =>
        incarnation.alive ? (inner.snapshot as NonNullable<typeof inner.snapshot>).call(inner) : never(),
      restore: (meta, data) =>
        incarnation.alive ? (inner.restore as NonNullable<typeof inner.restore>).call(inner, meta, data) : never(),
    };
  }

  /** Tells the crash listeners, then fails every call in flight on the node (see {@link SimCluster.call}). */
  private notifyCrash(id: NodeId): void {
    for (const listener of this.crashListeners) listener(id);
    const calls = this.callsByNode.get(id);
    if (calls === undefined || calls.size === 0) return;
    const failed = [...calls];
    calls.clear();
    for (const fail of failed) fail(new OutcomeUnknownError(`node ${id} crashed while the call was pending`));
  }

  /** The state machine the server drives: the KV store, or the session wrapper around it. */
  private outerStateMachine(incarnation: Incarnation): StateMachine<unknown> {
    const kv = incarnation.stateMachine;
    if (!this.sessions) return kv;
    if (!this.sessionDedupe) return new UncheckedSessionStateMachine(kv);
    // Cached results go into snapshots with the table; KV results are JSON-safe (or undefined).
    const wrapper = new SessionStateMachine<KvApplyResult>(kv, { resultCodec: jsonResultCodec<KvApplyResult>() });
    incarnation.sessionTable = wrapper;
    return wrapper;
  }

  private recordFailure(incarnation: Incarnation, status: ServerStatus, atMs: number): void {
    incarnation.failed = true;
    if (this.haltOnInjectedCorruption(this.node(incarnation.id), status.fatalError)) return;
    const detail = status.fatalError?.message ?? "the server stopped";
    this.failureList.push({ node: incarnation.id, atMs, detail });
    this.trace?.note(atMs, `node ${incarnation.id} stopped: ${detail}`);
  }

  /**
   * A node that stopped on a `StorageCorruptionError` while its disk carries an injected bit flip
   * did what it must: it halts for good (down, out of the checks) and the run reports it. Any
   * other stop is a failure. Returns whether the node halted.
   */
  private haltOnInjectedCorruption(node: SimNode, error: unknown): boolean {
    const corruption = findCorruption(error);
    if (corruption === undefined || node.disk.flips.length === 0) return false;
    const current = node.current;
    const where = corruption.index !== undefined ? `index ${corruption.index}` : `the ${corruption.record} record`;
    const halt: NodeHalt = {
      node: node.id,
      atMs: this.clock.now(),
      detail: `corruption detected at ${where}: ${corruption.message}`,
    };
    node.halted = halt;
    this.haltList.push(halt);
    this.trace?.note(halt.atMs, `node ${node.id} halted: corruption detected at ${where}`);
    if (current !== undefined) {
      current.alive = false;
      current.clock.halt();
      node.current = undefined;
      this.network.setDown(node.id, true);
      this.dirty.delete(node.id);
      this.checker.forget(node.id);
      this.notifyCrash(node.id);
    }
    return true;
  }

  private noteRole(incarnation: Incarnation, status: ServerBrief, atMs: number): void {
    if (
      status.role === incarnation.lastRole &&
      status.term === incarnation.lastTerm &&
      status.leader === incarnation.lastLeader
    ) {
      return;
    }
    if (status.role === "leader" && (incarnation.lastRole !== "leader" || incarnation.lastTerm !== status.term)) {
      this.electionCount++;
    }
    incarnation.lastRole = status.role;
    incarnation.lastTerm = status.term;
    incarnation.lastLeader = status.leader;
    this.trace?.role(incarnation.id, status.role, status.term, status.leader, atMs);
  }
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** The `StorageCorruptionError` in `error` or its causes (matched by code: copies of the class differ). */
function findCorruption(error: unknown): StorageCorruptionError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    if ((current as { code?: unknown }).code === "STORAGE_CORRUPTION") return current as StorageCorruptionError;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A staging as one incarnation sees it: after the crash its appends never settle. */
class FencedStaging implements SnapshotStaging {
  constructor(
    readonly inner: SnapshotStaging,
    private readonly fence: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}
  get meta(): SnapshotMeta {
    return this.inner.meta;
  }
  get bytes(): number {
    return this.inner.bytes;
  }
  get checksum(): number {
    return this.inner.checksum;
  }
  append(chunk: Uint8Array): Promise<void> {
    return this.fence(() => this.inner.append(chunk));
  }
  discard(): Promise<void> {
    return this.fence(() => this.inner.discard());
  }
}

/** A snapshot reader as one incarnation sees it: after the crash its reads never settle. */
class FencedReader implements SnapshotReader {
  constructor(
    private readonly inner: SnapshotReader,
    private readonly fence: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}
  get meta(): SnapshotMeta {
    return this.inner.meta;
  }
  get bytes(): number {
    return this.inner.bytes;
  }
  get checksum(): number {
    return this.inner.checksum;
  }
  read(offset: number, maxBytes: number): Promise<Uint8Array> {
    return this.fence(() => this.inner.read(offset, maxBytes));
  }
  close(): Promise<void> {
    return this.fence(() => this.inner.close());
  }
}
