import type { ReadMode } from "../core/config.js";
import type { NodeId } from "../core/types.js";
import { FaultInjector } from "./fault-injector.js";
import {
  FAULT_PROFILES,
  type FaultProfile,
  type FaultSchedule,
  generateSchedule,
  scheduleToData,
  validateSchedule,
} from "./fault-schedule.js";
import { History } from "./history.js";
import { checkLinearizability, type LinearizabilityResult } from "./linearizability.js";
import { MEMBERSHIP_CALL_TIMEOUT_MS, MembershipAdmin, type MembershipCounts } from "./membership-admin.js";
import { Prng } from "./prng.js";
import { SafetyChecker, type SafetyViolation } from "./safety-checker.js";
import {
  clusterNodeIds,
  DEFAULT_SIM_ELECTION_TICKS,
  DEFAULT_SIM_HEARTBEAT_TICKS,
  DEFAULT_SIM_TICK_MS,
  MAX_NODES,
  type NodeHalt,
  SimCluster,
} from "./sim-cluster.js";
import { DEFAULT_MAX_LATENCY_MS, DEFAULT_MIN_LATENCY_MS, type NetworkCounters, SimNetwork } from "./sim-network.js";
import { DEFAULT_MAX_SYNC_MS, DEFAULT_MIN_SYNC_MS } from "./sim-storage.js";
import { Trace } from "./trace.js";
import { VirtualClock } from "./virtual-clock.js";
import {
  DEFAULT_CLIENT_COUNT,
  DEFAULT_KEY_COUNT,
  DEFAULT_MAX_CLIENTS_PER_KEY,
  DEFAULT_OP_TIMEOUT_MS,
  DEFAULT_RATE_OPS_PER_SECOND,
  Workload,
  type WorkloadCounts,
} from "./workload.js";

export const DEFAULT_SIM_NODES = 5;
export const DEFAULT_SIM_TICKS = 3_000;
export const DEFAULT_FAULT_PROFILE: FaultProfile = "standard";
/**
 * Entries kept behind a snapshot when snapshots are on: small, so a follower that was down for a
 * while falls behind the leader's log and must be caught up with InstallSnapshot.
 */
export const DEFAULT_SIM_SNAPSHOT_TRAILING_ENTRIES = 20;
/**
 * After the faults stop, a leader every node agrees on must exist within this many base election
 * timeouts (electionTicks × tickMs; 10 × 300 ms = 3 s with the defaults).
 */
export const LEADER_BOUND_ELECTION_TIMEOUTS = 10;
/** How long the workload keeps running, every new operation required to succeed, once the leader is agreed. */
export const CONVERGENCE_WORKLOAD_MS = 2_000;
/** Extra time beyond the operation timeout for the last operations to settle. */
export const SETTLE_MARGIN_MS = 1_000;
/**
 * Virtual time must move: this many instants in a row at the same millisecond means some node
 * keeps re-arming zero-delay timers forever (a busy loop). The run stops with a liveness violation
 * instead of hanging.
 */
export const MAX_INSTANTS_AT_ONE_MS = 10_000;
/** Progress is reported (and the safety phase is run) in slices of this much virtual time. */
const PROGRESS_SLICE_MS = 1_000;

/** What to simulate. Only `seed` is required. */
export interface SimulationOptions {
  readonly seed: number;
  /** Cluster size, 1..9. Default {@link DEFAULT_SIM_NODES}. */
  readonly nodes?: number;
  /** Length of the safety phase in ticks (× tickMs of virtual time). Default {@link DEFAULT_SIM_TICKS}. */
  readonly ticks?: number;
  /** Profile of the generated schedule; ignored when `schedule` is given. Default "standard". */
  readonly faults?: FaultProfile;
  /** An explicit fault schedule (replaces the generated one). */
  readonly schedule?: FaultSchedule;
  /** Client operations per virtual second. Default {@link DEFAULT_RATE_OPS_PER_SECOND}. */
  readonly rate?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly minLatencyMs?: number;
  readonly maxLatencyMs?: number;
  readonly minSyncMs?: number;
  readonly maxSyncMs?: number;
  readonly keys?: number;
  readonly clients?: number;
  readonly maxClientsPerKey?: number;
  readonly opTimeoutMs?: number;
  /** Every node snapshots and compacts its log every this many applied entries; 0 (default) = never. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept behind a snapshot. Default {@link DEFAULT_SIM_SNAPSHOT_TRAILING_ENTRIES}. */
  readonly snapshotTrailingEntries?: number;
  /**
   * Client sessions (thesis §6.3): every node's KV store is wrapped in a `SessionStateMachine`,
   * each client registers, and writes are retried with the same sequence. Default true; false
   * runs the original workload (plain proposals, never retried) for comparison.
   */
  readonly sessions?: boolean;
  /** How nodes confirm reads: "read-index" (default) or "lease" (design rule 7). */
  readonly readMode?: ReadMode;
  /**
   * Model connection resets (default false): a message that cannot leave, and every connection of
   * a node that crashes, is reported to the sender as unreachable, as a refused or reset TCP
   * connection would be. Followers then learn of a crashed leader before an election timeout.
   */
  readonly connectionResets?: boolean;
  /**
   * Every node's `leaderWaitMs` (default 0): a proposal or read that meets an election, or a
   * leader that just stepped down, waits this long for the new leader instead of failing
   * NOT_LEADER / READ_FAILED at once.
   */
  readonly leaderWaitMs?: number;
  /**
   * Largest clock-rate error per node, in thousandths (default 0): each node's clock runs at a
   * fixed rate in [1000 - drift, 1000 + drift]. Lease reads are safe while the drift stays within
   * what `leaseDriftTicks` allows (10% of the election timeout by default).
   */
  readonly clockDriftPermille?: number;
  /**
   * TEST ONLY: with sessions, false replaces the session wrapper by a double that applies every
   * copy of a command, so the run shows what the checks say about double applies. Default true.
   */
  readonly sessionDedupe?: boolean;
  /** Keep the trace as text lines (for `--trace FILE`); the hash is computed either way. */
  readonly keepTraceLines?: boolean;
  /**
   * Called after each slice of virtual time with the virtual time reached and the planned safety
   * phase length. For progress display only: it never influences the run.
   */
  readonly onProgress?: (virtualMs: number, safetyPhaseMs: number) => void;
}

/** The options a run actually used, defaults filled in (part of the result, so it is replayable). */
export interface ResolvedSimulationOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly ticks: number;
  readonly faults: FaultProfile | "explicit";
  readonly rate: number;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly minLatencyMs: number;
  readonly maxLatencyMs: number;
  readonly minSyncMs: number;
  readonly maxSyncMs: number;
  readonly keys: number;
  readonly clients: number;
  readonly maxClientsPerKey: number;
  readonly opTimeoutMs: number;
  readonly snapshotEveryEntries: number;
  readonly snapshotTrailingEntries: number;
  readonly sessions: boolean;
  readonly sessionDedupe: boolean;
  readonly readMode: ReadMode;
  readonly connectionResets: boolean;
  readonly leaderWaitMs: number;
  readonly clockDriftPermille: number;
}

/** One thing a run found wrong. */
export interface SimulationViolation {
  /**
   * safety: a Raft safety property broke (SafetyChecker); linearizability: the client history has
   * no legal order (or too many keys could not be decided); liveness: no leader, or operations
   * failed, after the faults stopped; convergence: replicas differ at the end; node-failure: a
   * node stopped by itself; workload: an operation ended in a way the runtime's contract forbids.
   */
  readonly kind: "safety" | "linearizability" | "liveness" | "convergence" | "node-failure" | "workload";
  /** Virtual time it was noticed, when known. */
  readonly atMs: number | null;
  readonly node?: NodeId;
  readonly detail: string;
}

export interface LinearizabilitySummary {
  readonly verdict: LinearizabilityResult["verdict"];
  readonly keys: number;
  readonly unknownKeys: number;
  readonly unknownRatio: number;
  /** Operations checked ("ok" and "indeterminate"; "fail" ones had no effect). */
  readonly operations: number;
  readonly violation?: { readonly key: string; readonly explanation: string; readonly operationIds: readonly number[] };
}

export interface SimulationResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly options: ResolvedSimulationOptions;
  /** The schedule applied (generated or given), as JSON-ready data. */
  readonly schedule: readonly Record<string, unknown>[];
  readonly violations: readonly SimulationViolation[];
  readonly linearizability: LinearizabilitySummary;
  readonly liveness: {
    /** Virtual ms from the end of the faults until every node agreed on one leader; null if never. */
    readonly leaderAfterMs: number | null;
    /**
     * Virtual ms from the end of the faults until every node had applied the leader's commit index
     * as of the agreement; null if never.
     */
    readonly caughtUpAfterMs: number | null;
    /** Operations started once the replicas caught up: every one must end "ok". */
    readonly opsAfterHeal: { readonly issued: number; readonly ok: number; readonly notOk: number };
  };
  /**
   * Nodes that detected an injected bit flip on their disk and halted for good, e.g.
   * `{ node: "n3", detail: "corruption detected at index 42: ..." }`. They are left out of the
   * liveness and convergence checks (at most a minority of the nodes ever halts).
   */
  readonly halted: readonly NodeHalt[];
  readonly convergence: {
    /** The index every live replica applied at the end (null when they never agreed). */
    readonly appliedIndex: number | null;
    readonly digests: Readonly<Record<NodeId, string>>;
    readonly identical: boolean;
  };
  readonly stats: {
    readonly events: number;
    readonly virtualMs: number;
    readonly safetyPhaseMs: number;
    readonly messages: NetworkCounters;
    readonly elections: number;
    /** Highest index known committed. */
    readonly commits: number;
    readonly faultsApplied: number;
    readonly crashes: number;
    readonly restarts: number;
    /** Snapshots taken and stored by the nodes themselves (durable saves, every disk). */
    readonly snapshotsSaved: number;
    /** Snapshots received from a leader and installed (durable installs, every disk). */
    readonly snapshotsInstalled: number;
    /** Crashes that left a write (or snapshot file) half-written on a disk. */
    readonly tornWrites: number;
    /** Torn tails found and discarded by a restarted node's load. */
    readonly tornTailsRecovered: number;
    /** Bits flipped on the disks. */
    readonly bitFlips: number;
    readonly ops: WorkloadCounts;
    /** With sessions: registrations, and commands proposed again with the same sequence. */
    readonly sessions: { readonly registrations: number; readonly retries: number };
    /** Membership operations of the schedule: calls on the leader and how they ended. */
    readonly membership: MembershipCounts;
    /** The configuration at the end, as the last observed leader applied it. */
    readonly members: { readonly voters: readonly NodeId[]; readonly learners: readonly NodeId[] };
    readonly traceRecords: number;
  };
  /** Fingerprint of everything that happened (messages, roles, operations, faults): equal for equal runs. */
  readonly traceHash: string;
}

/** A result plus the artefacts the CLI can write to files. */
export interface SimulationRun {
  readonly result: SimulationResult;
  readonly history: History;
  /** The trace as text when `keepTraceLines` was set. */
  readonly traceLines: readonly string[] | undefined;
}

/**
 * Runs one deterministic simulation and checks it; the same options give a byte-identical
 * `JSON.stringify(result)`. See {@link runSimulationDetailed} for the phases.
 * @example
 * const result = await runSimulation({ seed: 7, nodes: 5, ticks: 500, faults: "standard" });
 * if (!result.ok) console.error(result.violations);
 */
export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  return (await runSimulationDetailed(options)).result;
}

/**
 * Runs one simulation in two phases (TigerBeetle style) and returns the result with the client
 * history and, when asked for, the trace lines.
 *
 * 1. Safety phase: `ticks × tickMs` of virtual time with the fault schedule applied and the
 *    workload running. The SafetyChecker sees every node that took a step after every instant.
 * 2. Convergence phase: the network heals, loss and duplication stop, crashed nodes restart. Every
 *    node must agree on one leader within {@link LEADER_BOUND_ELECTION_TIMEOUTS} election timeouts;
 *    then for {@link CONVERGENCE_WORKLOAD_MS} every new operation must succeed. The workload stops,
 *    the pending operations settle, every replica must apply the same index and end with the same
 *    state digest.
 *
 * Finally the whole client history is checked for linearizability.
 */
export async function runSimulationDetailed(options: SimulationOptions): Promise<SimulationRun> {
  const resolved = resolveSimulationOptions(options);
  const ids = clusterNodeIds(resolved.nodes);
  const root = Prng.fromSeed(resolved.seed);
  const schedule =
    options.schedule === undefined
      ? generateSchedule(root.fork("faults"), {
          nodes: ids,
          durationMs: resolved.ticks * resolved.tickMs,
          profile: resolved.faults as FaultProfile,
        })
      : validateSchedule(options.schedule as unknown, { nodes: ids });

  const clock = new VirtualClock({ permuteWith: root.fork("scheduler") });
  const trace = new Trace({ keepLines: options.keepTraceLines === true });
  const checker = new SafetyChecker();
  const network = new SimNetwork(clock, root.fork("network"), {
    minLatencyMs: resolved.minLatencyMs,
    maxLatencyMs: resolved.maxLatencyMs,
    reportUnreachable: resolved.connectionResets,
    onDeliver: (message, _from, atMs) => trace.message(message, atMs),
  });
  const cluster = new SimCluster({
    clock,
    prng: root,
    network,
    checker,
    nodes: resolved.nodes,
    trace,
    tickMs: resolved.tickMs,
    electionTicks: resolved.electionTicks,
    heartbeatTicks: resolved.heartbeatTicks,
    minSyncMs: resolved.minSyncMs,
    maxSyncMs: resolved.maxSyncMs,
    snapshotEveryEntries: resolved.snapshotEveryEntries,
    snapshotTrailingEntries: resolved.snapshotTrailingEntries,
    sessions: resolved.sessions,
    sessionDedupe: resolved.sessionDedupe,
    readMode: resolved.readMode,
    leaderWaitMs: resolved.leaderWaitMs,
    clockDriftPermille: resolved.clockDriftPermille,
  });
  const history = new History(clock);
  const workload = new Workload({
    clock,
    cluster,
    history,
    prng: root.fork("workload"),
    trace,
    rateOpsPerSecond: resolved.rate,
    keyCount: resolved.keys,
    clientCount: resolved.clients,
    maxClientsPerKey: resolved.maxClientsPerKey,
    opTimeoutMs: resolved.opTimeoutMs,
  });
  const membership = new MembershipAdmin({ clock, cluster, trace });
  const injector = new FaultInjector({ clock, cluster, network, schedule, trace, membership });
  const hooks = instantHooks(clock, cluster);
  const violations: SimulationViolation[] = [];

  await cluster.startAll();
  cluster.observe();
  injector.start();
  workload.start();

  const safetyPhaseMs = resolved.ticks * resolved.tickMs;
  const run: PhaseContext = {
    resolved,
    clock,
    network,
    cluster,
    checker,
    workload,
    injector,
    membership,
    trace,
    hooks,
    violations,
  };
  let outcome: ConvergenceOutcome = {
    leaderAfterMs: null,
    caughtUpAfterMs: null,
    convergence: { appliedIndex: null, digests: {}, identical: false },
  };
  try {
    await runSafetyPhase(run, safetyPhaseMs, options.onProgress);
    outcome = await runConvergencePhase(run);
  } catch (error) {
    if (!(error instanceof LivelockError)) throw error;
    violations.push({ kind: "liveness", atMs: error.atMs, detail: error.message });
    trace.note(error.atMs, "stopped: livelock");
    workload.stop();
  }
  const { leaderAfterMs, caughtUpAfterMs, convergence } = outcome;
  const opsAfterHeal = workload.convergenceOps();

  // ---- checks over the whole run ----
  violations.unshift(...checker.violations().map(safetyViolation));
  for (const failure of cluster.failures()) {
    violations.push({ kind: "node-failure", atMs: failure.atMs, node: failure.node, detail: failure.detail });
  }
  for (const problem of workload.unexpected()) violations.push({ kind: "workload", atMs: null, detail: problem });
  for (const problem of membership.unexpected()) violations.push({ kind: "workload", atMs: null, detail: problem });
  const linearizability = summarizeLinearizability(checkLinearizability(history.operations()));
  if (linearizability.verdict !== "ok") {
    violations.push({
      kind: "linearizability",
      atMs: null,
      detail:
        linearizability.violation !== undefined
          ? `key ${linearizability.violation.key}: ${linearizability.violation.explanation}`
          : `${linearizability.unknownKeys} of ${linearizability.keys} keys could not be decided within the search budget`,
    });
  }

  const result: SimulationResult = {
    ok: violations.length === 0,
    seed: resolved.seed,
    options: resolved,
    schedule: scheduleToData(schedule),
    violations,
    linearizability,
    liveness: { leaderAfterMs, caughtUpAfterMs, opsAfterHeal },
    halted: cluster.halts(),
    convergence,
    stats: {
      events: clock.eventsRun,
      virtualMs: clock.now(),
      safetyPhaseMs,
      messages: network.counters(),
      elections: cluster.elections(),
      commits: checker.committedIndex(),
      faultsApplied: injector.applied(),
      crashes: cluster.crashes(),
      restarts: cluster.restarts(),
      ...diskStats(cluster),
      ops: workload.outcomeCounts(),
      sessions: workload.sessionActivity(),
      membership: membership.outcomeCounts(),
      members: { voters: cluster.members().voters, learners: cluster.members().learners },
      traceRecords: trace.records,
    },
    traceHash: trace.hash(),
  };
  return { result, history, traceLines: trace.lines };
}

/** Everything the two phases share. */
interface PhaseContext {
  readonly resolved: ResolvedSimulationOptions;
  readonly clock: VirtualClock;
  readonly network: SimNetwork;
  readonly cluster: SimCluster;
  readonly checker: SafetyChecker;
  readonly workload: Workload;
  readonly injector: FaultInjector;
  readonly membership: MembershipAdmin;
  readonly trace: Trace;
  readonly hooks: { onInstant(): void };
  readonly violations: SimulationViolation[];
}

interface ConvergenceOutcome {
  readonly leaderAfterMs: number | null;
  readonly caughtUpAfterMs: number | null;
  readonly convergence: SimulationResult["convergence"];
}

/** Phase 1: the schedule's faults and the workload, for `ticks × tickMs` of virtual time. */
async function runSafetyPhase(
  run: PhaseContext,
  safetyPhaseMs: number,
  onProgress: SimulationOptions["onProgress"],
): Promise<void> {
  const { clock, hooks } = run;
  while (clock.now() < safetyPhaseMs) {
    await clock.runUntil(Math.min(safetyPhaseMs, clock.now() + PROGRESS_SLICE_MS), hooks);
    onProgress?.(clock.now(), safetyPhaseMs);
  }
}

/**
 * Phase 2: faults off, everything healed and restarted. A leader every node agrees on must appear
 * in time, every operation started after that must succeed, the pending operations must settle,
 * and every replica must apply the same index and hold the same state.
 */
async function runConvergencePhase(run: PhaseContext): Promise<ConvergenceOutcome> {
  const { resolved, clock, network, cluster, checker, workload, injector, membership, trace, hooks, violations } = run;
  injector.stop();
  network.heal();
  network.configure({ lossPerMillion: 0, duplicatePerMillion: 0 });
  cluster.restartAll();
  trace.note(clock.now(), "convergence phase: healed, restarted, faults off");
  // A membership change still in flight may take the leader out (a removed leader steps down):
  // let it finish (its calls time out) before the leader must be agreed and stay.
  await clock.runWhile(() => membership.busy(), clock.now() + MEMBERSHIP_CALL_TIMEOUT_MS + SETTLE_MARGIN_MS, hooks);
  const healedAtMs = clock.now();
  const leaderBoundMs = LEADER_BOUND_ELECTION_TIMEOUTS * resolved.electionTicks * resolved.tickMs;
  const agreed = await clock.runWhile(() => settledLeader(cluster) === "", healedAtMs + leaderBoundMs, hooks);
  let leaderAfterMs: number | null = null;
  let caughtUpAfterMs: number | null = null;
  if (agreed) {
    leaderAfterMs = clock.now() - healedAtMs;
    const leader = settledLeader(cluster);
    const leaderCommit = cluster.lastStatus(leader)?.commit ?? 0;
    trace.note(clock.now(), `leader agreed: ${leader} (commit ${leaderCommit})`);
    // Nodes that were down catch up (perhaps from a snapshot) before operations must succeed:
    // a lagging node may legitimately lose track of a proposal it forwarded while catching up.
    const caughtUp = await clock.runWhile(
      () => !allAppliedAtLeast(cluster, leaderCommit),
      clock.now() + leaderBoundMs,
      hooks,
    );
    if (caughtUp) {
      caughtUpAfterMs = clock.now() - healedAtMs;
      workload.requireSuccessFromNow();
      await clock.runFor(CONVERGENCE_WORKLOAD_MS, hooks);
    } else {
      violations.push({
        kind: "liveness",
        atMs: clock.now(),
        detail: `not every node applied the leader's commit index ${leaderCommit} within ${leaderBoundMs} ms of agreeing on leader ${leader} (${describeIndexes(cluster)})`,
      });
    }
  } else {
    violations.push({
      kind: "liveness",
      atMs: clock.now(),
      detail: describeNoSettledLeader(cluster, leaderBoundMs),
    });
  }
  workload.stop();
  const settleMs = workload.maxOperationMs() + SETTLE_MARGIN_MS;
  await clock.runWhile(() => workload.pendingCount() > 0, clock.now() + settleMs, hooks);
  if (workload.pendingCount() > 0) {
    violations.push({
      kind: "liveness",
      atMs: clock.now(),
      detail: `${workload.pendingCount()} operations still pending ${settleMs} ms after the workload stopped (they take at most ${workload.maxOperationMs()} ms)`,
    });
  }
  const opsAfterHeal = workload.convergenceOps();
  if (opsAfterHeal.notOk > 0) {
    violations.push({
      kind: "liveness",
      atMs: clock.now(),
      detail: `${opsAfterHeal.notOk} of ${opsAfterHeal.issued} operations started after the leader was agreed did not succeed: ${workload.convergenceFailures().join("; ")}`,
    });
  }
  const caughtUp = await clock.runWhile(() => !replicasCaughtUp(cluster, checker), clock.now() + leaderBoundMs, hooks);
  const convergence = compareReplicas(cluster, caughtUp);
  if (!caughtUp) {
    violations.push({
      kind: "convergence",
      atMs: clock.now(),
      detail: `replicas did not all apply the same committed index within ${leaderBoundMs} ms (${describeIndexes(cluster)})`,
    });
  } else if (!convergence.identical) {
    violations.push({
      kind: "convergence",
      atMs: clock.now(),
      detail: `replicas applied index ${convergence.appliedIndex} but their states differ: ${JSON.stringify(convergence.digests)}`,
    });
  }
  trace.note(clock.now(), `end: applied ${convergence.appliedIndex} identical=${convergence.identical}`);
  return { leaderAfterMs, caughtUpAfterMs, convergence };
}

/** Totals over every disk of the cluster. */
function diskStats(cluster: SimCluster): {
  snapshotsSaved: number;
  snapshotsInstalled: number;
  tornWrites: number;
  tornTailsRecovered: number;
  bitFlips: number;
} {
  let snapshotsSaved = 0;
  let snapshotsInstalled = 0;
  let tornWrites = 0;
  let tornTailsRecovered = 0;
  let bitFlips = 0;
  for (const id of cluster.ids) {
    const disk = cluster.disk(id);
    snapshotsSaved += disk.syncedSnapshots - disk.syncedInstalls;
    snapshotsInstalled += disk.syncedInstalls;
    tornWrites += disk.tornWrites;
    tornTailsRecovered += disk.recoveries.length;
    bitFlips += disk.flips.length;
  }
  return { snapshotsSaved, snapshotsInstalled, tornWrites, tornTailsRecovered, bitFlips };
}

/**
 * The leader every member agrees on, once the configuration is settled: not joint, and the leader
 * one of its voters (a leader that removed itself steps down when the change is applied).
 */
function settledLeader(cluster: SimCluster): NodeId {
  const leader = cluster.agreedLeader();
  if (leader === "") return "";
  const members = cluster.members();
  return members.outgoing.length === 0 && members.voters.includes(leader) ? leader : "";
}

/** Why {@link settledLeader} found none: no agreed leader, or a configuration that stayed joint. */
function describeNoSettledLeader(cluster: SimCluster, leaderBoundMs: number): string {
  const leader = cluster.agreedLeader();
  const members = cluster.members();
  if (leader !== "" && members.outgoing.length > 0) {
    return `the configuration stayed joint for ${leaderBoundMs} ms after the faults stopped (voters ${members.voters.join(" ")}, outgoing ${members.outgoing.join(" ")}; leader ${leader}): the joint phase was never left`;
  }
  if (leader !== "") {
    return `leader ${leader} is not a voter of its configuration ${leaderBoundMs} ms after the faults stopped (voters ${members.voters.join(" ")})`;
  }
  return `no leader agreed by every member within ${leaderBoundMs} ms after the faults stopped (${cluster.describeRoles()})`;
}

/** Every member that has not halted is up and its state machine has applied at least `index`. */
function allAppliedAtLeast(cluster: SimCluster, index: number): boolean {
  for (const id of cluster.checkedIds()) {
    const status = cluster.lastStatus(id);
    if (status === undefined || !cluster.isUp(id) || status.stateMachineApplied < index) return false;
  }
  return true;
}

/**
 * Fills in defaults and rejects options that cannot work, naming the option.
 * @example resolveSimulationOptions({ seed: 1 }).nodes // 5
 */
export function resolveSimulationOptions(options: SimulationOptions): ResolvedSimulationOptions {
  if (!Number.isSafeInteger(options.seed)) throw new RangeError(`seed must be a safe integer, got ${options.seed}`);
  const faults = options.schedule !== undefined ? "explicit" : (options.faults ?? DEFAULT_FAULT_PROFILE);
  if (faults !== "explicit" && !FAULT_PROFILES.includes(faults)) {
    throw new RangeError(`faults must be one of ${FAULT_PROFILES.join(", ")}, got ${String(faults)}`);
  }
  const resolved: ResolvedSimulationOptions = {
    seed: options.seed,
    nodes: options.nodes ?? DEFAULT_SIM_NODES,
    ticks: options.ticks ?? DEFAULT_SIM_TICKS,
    faults,
    rate: options.rate ?? DEFAULT_RATE_OPS_PER_SECOND,
    tickMs: options.tickMs ?? DEFAULT_SIM_TICK_MS,
    electionTicks: options.electionTicks ?? DEFAULT_SIM_ELECTION_TICKS,
    heartbeatTicks: options.heartbeatTicks ?? DEFAULT_SIM_HEARTBEAT_TICKS,
    minLatencyMs: options.minLatencyMs ?? DEFAULT_MIN_LATENCY_MS,
    maxLatencyMs: options.maxLatencyMs ?? DEFAULT_MAX_LATENCY_MS,
    minSyncMs: options.minSyncMs ?? DEFAULT_MIN_SYNC_MS,
    maxSyncMs: options.maxSyncMs ?? DEFAULT_MAX_SYNC_MS,
    keys: options.keys ?? DEFAULT_KEY_COUNT,
    clients: options.clients ?? DEFAULT_CLIENT_COUNT,
    maxClientsPerKey: options.maxClientsPerKey ?? DEFAULT_MAX_CLIENTS_PER_KEY,
    opTimeoutMs: options.opTimeoutMs ?? DEFAULT_OP_TIMEOUT_MS,
    snapshotEveryEntries: options.snapshotEveryEntries ?? 0,
    snapshotTrailingEntries: options.snapshotTrailingEntries ?? DEFAULT_SIM_SNAPSHOT_TRAILING_ENTRIES,
    sessions: options.sessions ?? true,
    sessionDedupe: options.sessionDedupe ?? true,
    readMode: options.readMode ?? "read-index",
    connectionResets: options.connectionResets ?? false,
    leaderWaitMs: options.leaderWaitMs ?? 0,
    clockDriftPermille: options.clockDriftPermille ?? 0,
  };
  if (resolved.readMode !== "read-index" && resolved.readMode !== "lease") {
    throw new RangeError(`readMode must be "read-index" or "lease", got ${String(resolved.readMode)}`);
  }
  if (
    !Number.isSafeInteger(resolved.clockDriftPermille) ||
    resolved.clockDriftPermille < 0 ||
    resolved.clockDriftPermille > 900
  ) {
    throw new RangeError(`clockDriftPermille must be an integer in [0, 900], got ${resolved.clockDriftPermille}`);
  }
  if (!Number.isSafeInteger(resolved.nodes) || resolved.nodes < 1 || resolved.nodes > MAX_NODES) {
    throw new RangeError(`nodes must be an integer in [1, ${MAX_NODES}], got ${resolved.nodes}`);
  }
  for (const name of [
    "ticks",
    "tickMs",
    "electionTicks",
    "heartbeatTicks",
    "keys",
    "clients",
    "maxClientsPerKey",
    "opTimeoutMs",
  ] as const) {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  for (const name of ["snapshotEveryEntries", "snapshotTrailingEntries", "leaderWaitMs"] as const) {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  if (!Number.isSafeInteger(resolved.rate) || resolved.rate < 0) {
    throw new RangeError(`rate must be a non-negative integer (operations per second), got ${resolved.rate}`);
  }
  return resolved;
}

/**
 * Every member that has not halted is up and has applied the same index, equal to its commit and
 * to the highest commit known.
 */
function replicasCaughtUp(cluster: SimCluster, checker: SafetyChecker): boolean {
  let index: number | undefined;
  for (const id of cluster.checkedIds()) {
    const status = cluster.lastStatus(id);
    if (status === undefined || !cluster.isUp(id)) return false;
    if (status.stateMachineApplied !== status.commit) return false;
    if (index === undefined) index = status.commit;
    else if (status.commit !== index) return false;
  }
  return index !== undefined && index >= checker.committedIndex();
}

function compareReplicas(cluster: SimCluster, caughtUp: boolean): SimulationResult["convergence"] {
  const digests: Record<NodeId, string> = {};
  let applied: number | undefined;
  let sameIndex = true;
  const live = cluster.checkedIds();
  for (const id of live) {
    const stateMachine = cluster.stateMachine(id);
    if (stateMachine === undefined) continue;
    // With sessions the replicated session table must agree too: its size and its log time.
    const sessions = cluster.sessionStateMachine(id);
    digests[id] =
      sessions === undefined
        ? stateMachine.digest()
        : `${stateMachine.digest()}/s${sessions.sessionCount()}/t${sessions.logTimeMs()}`;
    if (applied === undefined) applied = stateMachine.appliedIndex();
    else if (applied !== stateMachine.appliedIndex()) sameIndex = false;
  }
  const values = Object.values(digests);
  const identical = values.length === live.length && values.every((digest) => digest === values[0]) && sameIndex;
  return { appliedIndex: caughtUp && sameIndex ? (applied ?? null) : null, digests, identical };
}

function summarizeLinearizability(result: LinearizabilityResult): LinearizabilitySummary {
  const unknownKeys = result.keys.filter((key) => key.verdict === "unknown-exceeded").length;
  const operations = result.keys.reduce((sum, key) => sum + key.ops, 0);
  const summary = {
    verdict: result.verdict,
    keys: result.keys.length,
    unknownKeys,
    unknownRatio: result.unknownRatio,
    operations,
  };
  const violation = result.violation;
  if (violation === undefined) return summary;
  return {
    ...summary,
    violation: {
      key: violation.key,
      explanation: violation.explanation,
      operationIds: violation.ops.map((op) => op.id),
    },
  };
}

function safetyViolation(violation: SafetyViolation): SimulationViolation {
  return {
    kind: "safety",
    atMs: violation.atMs,
    node: violation.node,
    detail: `${violation.property}: ${violation.detail}`,
  };
}

/** Virtual time stopped moving; carries what the simulation saw so the run can end with a violation. */
class LivelockError extends Error {
  constructor(
    readonly atMs: number,
    detail: string,
  ) {
    super(detail);
    this.name = "LivelockError";
  }
}

/**
 * The per-instant hook: shows the checker every node that stepped, and stops the run when virtual
 * time is stuck at one millisecond for {@link MAX_INSTANTS_AT_ONE_MS} instants.
 */
function instantHooks(clock: VirtualClock, cluster: SimCluster): { onInstant(): void } {
  let lastMs = -1;
  let instantsAtMs = 0;
  return {
    onInstant: () => {
      const now = clock.now();
      if (now !== lastMs) {
        lastMs = now;
        instantsAtMs = 0;
      } else if (++instantsAtMs >= MAX_INSTANTS_AT_ONE_MS) {
        throw new LivelockError(
          now,
          `livelock: virtual time stuck at ${now} ms for ${instantsAtMs} instants; node(s) ${cluster.steppedNodes().join(", ") || "-"} stepped at every one (${cluster.describeRoles()})`,
        );
      }
      cluster.observe();
    },
  };
}

function describeIndexes(cluster: SimCluster): string {
  return cluster
    .memberIds()
    .map((id) => {
      const status = cluster.lastStatus(id);
      if (cluster.isHalted(id)) return `${id} halted`;
      return status === undefined ? `${id} -` : `${id} commit ${status.commit} applied ${status.stateMachineApplied}`;
    })
    .join(", ");
}
