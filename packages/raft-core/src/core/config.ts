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
}

export const DEFAULT_ELECTION_TICKS = 30;
export const DEFAULT_HEARTBEAT_TICKS = 5;
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 256;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_ENTRY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_UNCOMMITTED_BYTES = 64 * 1024 * 1024;

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
    ...stripUndefined(config),
  } as ResolvedCoreConfig;
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
  const voters = new Set(resolved.voters);
  if (voters.size !== resolved.voters.length) throw new Error("config.voters has duplicate ids");
  for (const learner of resolved.learners) {
    if (voters.has(learner)) throw new Error(`config: ${learner} is both a voter and a learner`);
  }
  return resolved;
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
