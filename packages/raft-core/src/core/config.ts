import type { Random } from "./random.js";
import type { NodeId } from "./types.js";

/** Settings of one core. Limits carry their unit last. */
export interface CoreConfig {
  readonly id: NodeId;
  readonly clusterId: string;
  /** Bootstrap voters; used only when the log holds no configuration yet. Must include `id` for a voter. */
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly random: Random;
  /** Base election timeout; each election draws uniformly from [electionTicks, 2 * electionTicks). */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** PreVote (thesis §9.6): a partitioned node cannot inflate terms. On by default. */
  readonly preVote?: boolean;
  /** CheckQuorum (thesis §6.2): a leader that hears from no quorum for an election timeout steps down. On by default. */
  readonly checkQuorum?: boolean;
  /** Appends in flight to one follower in replicate state before waiting for acks. */
  readonly maxInflightMessages?: number;
  /** Soft limit on one append's payload; an append always carries at least one entry (rule 5). */
  readonly maxMessageBytes?: number;
  /** Proposals whose data exceeds this are refused (rule 5). */
  readonly maxEntryBytes?: number;
  /** Uncommitted bytes a leader accepts before refusing proposals as overloaded. */
  readonly maxUncommittedBytes?: number;
  /** Followers forward proposals and reads to the leader. On by default. */
  readonly forwardProposals?: boolean;
  /**
   * How a leader confirms it still leads before answering a linearizable read (thesis §6.4):
   * - "read-index" (default): one heartbeat round to a quorum per batch of reads (rule 6);
   * - "lease" (thesis §6.4.1, rule 7): while a quorum acknowledged a heartbeat sent less than
   *   `electionTicks - leaseDriftTicks` ticks ago, the read is answered at once from the commit
   *   index; otherwise it falls back to a ReadIndex round. Requires `checkQuorum` (the followers'
   *   leader stickiness is what keeps a rival from being elected during the lease), and relies on
   *   every node's ticks keeping pace with real time to within `leaseDriftTicks`.
   */
  readonly readMode?: ReadMode;
  /**
   * Clock-drift bound for lease reads, in ticks: the lease is this much shorter than the
   * (minimum) election timeout. It must cover how far a follower's ticks can run ahead of the
   * leader's during one election timeout: clock rate drift, tick phase (one tick), and a leader
   * whose ticks fire late (a stalled event loop delays its ticks, so its lease would otherwise
   * outlast the followers' timers). Default: {@link DEFAULT_LEASE_DRIFT_PERCENT}% of
   * `electionTicks`, rounded up, at least 1. Must be in [1, electionTicks).
   */
  readonly leaseDriftTicks?: number;
  /**
   * Own proposals a leader holds while it transfers leadership (thesis §3.10) before it refuses
   * new ones as "transferring"; their bytes also count against `maxUncommittedBytes`. Held
   * proposals are forwarded to the new leader once it is known, or refused with the leader hint
   * if the transfer is abandoned (after one election timeout) or no leader appears. With
   * `forwardProposals` off nothing is held: proposals during a transfer are refused at once.
   */
  readonly maxTransferHeldProposals?: number;
}

/** The read confirmation modes of {@link CoreConfig.readMode}. */
export type ReadMode = "read-index" | "lease";

export const DEFAULT_ELECTION_TICKS = 30;
export const DEFAULT_HEARTBEAT_TICKS = 5;
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 256;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_ENTRY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_UNCOMMITTED_BYTES = 64 * 1024 * 1024;
/** Default lease clock-drift bound, as a percentage of `electionTicks` (thesis §6.4.1). */
export const DEFAULT_LEASE_DRIFT_PERCENT = 10;
export const DEFAULT_MAX_TRANSFER_HELD_PROPOSALS = 1024;

export type ResolvedCoreConfig = Required<CoreConfig>;

/** Fills defaults and rejects settings that cannot work, naming the setting. */
export function resolveCoreConfig(config: CoreConfig): ResolvedCoreConfig {
  const resolved: ResolvedCoreConfig = {
    learners: [],
    electionTicks: DEFAULT_ELECTION_TICKS,
    heartbeatTicks: DEFAULT_HEARTBEAT_TICKS,
    preVote: true,
    checkQuorum: true,
    maxInflightMessages: DEFAULT_MAX_INFLIGHT_MESSAGES,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    maxEntryBytes: DEFAULT_MAX_ENTRY_BYTES,
    maxUncommittedBytes: DEFAULT_MAX_UNCOMMITTED_BYTES,
    forwardProposals: true,
    readMode: "read-index",
    maxTransferHeldProposals: DEFAULT_MAX_TRANSFER_HELD_PROPOSALS,
    ...stripUndefined(config),
  } as ResolvedCoreConfig;
  if (config.leaseDriftTicks === undefined) {
    const electionTicks = resolved.electionTicks;
    (resolved as { leaseDriftTicks: number }).leaseDriftTicks = Math.max(
      1,
      Math.ceil((electionTicks * DEFAULT_LEASE_DRIFT_PERCENT) / 100),
    );
  }
  if (typeof resolved.id !== "string" || resolved.id === "") throw new Error("config.id must be a non-empty string");
  if (typeof resolved.clusterId !== "string") throw new Error("config.clusterId must be a string");
  positive("electionTicks", resolved.electionTicks);
  positive("heartbeatTicks", resolved.heartbeatTicks);
  if (resolved.heartbeatTicks >= resolved.electionTicks) {
    throw new Error("config.heartbeatTicks must be smaller than config.electionTicks");
  }
  positive("maxInflightMessages", resolved.maxInflightMessages);
  positive("maxMessageBytes", resolved.maxMessageBytes);
  positive("maxEntryBytes", resolved.maxEntryBytes);
  positive("maxUncommittedBytes", resolved.maxUncommittedBytes);
  positive("maxTransferHeldProposals", resolved.maxTransferHeldProposals);
  checkReadMode(resolved);
  const voters = new Set(resolved.voters);
  if (voters.size !== resolved.voters.length) throw new Error("config.voters has duplicate ids");
  for (const learner of resolved.learners) {
    if (voters.has(learner)) throw new Error(`config: ${learner} is both a voter and a learner`);
  }
  return resolved;
}

/** Rule 7: lease reads only with CheckQuorum, and a lease strictly shorter than the election timeout. */
function checkReadMode(resolved: ResolvedCoreConfig): void {
  if (resolved.readMode !== "read-index" && resolved.readMode !== "lease") {
    throw new Error(`config.readMode must be "read-index" or "lease", got ${String(resolved.readMode)}`);
  }
  positive("leaseDriftTicks", resolved.leaseDriftTicks);
  if (resolved.leaseDriftTicks >= resolved.electionTicks) {
    throw new Error("config.leaseDriftTicks must be smaller than config.electionTicks (the lease would be empty)");
  }
  if (resolved.readMode === "lease" && !resolved.checkQuorum) {
    throw new Error(
      'config.readMode "lease" requires config.checkQuorum: without it followers vote for a rival while the lease runs, and a deposed leader serves stale reads',
    );
  }
}

function positive(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new Error(`config.${name} must be a positive integer, got ${value}`);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}
