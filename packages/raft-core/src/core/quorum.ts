import type { NodeId } from "./types.js";

/** Outcome of counting votes in one configuration. */
export type VoteResult = "won" | "lost" | "pending";

/**
 * The voting configuration. During joint consensus (thesis §4.3) both `incoming` and `outgoing`
 * are non-empty and every decision needs a majority of each; otherwise `outgoing` is empty.
 */
export interface QuorumConfig {
  readonly incoming: readonly NodeId[];
  readonly outgoing: readonly NodeId[];
}

/**
 * The highest index acknowledged by a majority of `voters` (§3.6: an entry is committed once a
 * majority stores it). An empty configuration places no constraint, so it yields +Infinity, which
 * lets a joint configuration with an empty half reduce to its other half.
 */
export function majorityCommitted(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  if (n === 1) return matchOf(voters[0]);
  const matches = new Array<number>(n);
  for (let i = 0; i < n; i++) matches[i] = matchOf(voters[i]);
  matches.sort(descending);
  // Sorted high to low, the (n/2+1)-th value is held by a majority: matches[n >> 1].
  return matches[n >> 1];
}

/** Majority vote count (§3.4): won once more than half granted, lost once that can no longer happen. */
export function majorityVoteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const n = voters.length;
  if (n === 0) return "won";
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const quorum = (n >> 1) + 1;
  if (granted >= quorum) return "won";
  if (n - rejected < quorum) return "lost";
  return "pending";
}

/** Joint commit index: what both halves have committed (thesis §4.3). */
export function jointCommitted(config: QuorumConfig, matchOf: (id: NodeId) => number): number {
  const incoming = majorityCommitted(config.incoming, matchOf);
  const outgoing = majorityCommitted(config.outgoing, matchOf);
  const committed = Math.min(incoming, outgoing);
  // Both halves empty means no voters at all: nothing can be committed by counting.
  return committed === Number.POSITIVE_INFINITY ? 0 : committed;
}

/** Joint vote: won only when both halves are won; lost as soon as either half is lost. */
export function jointVoteResult(config: QuorumConfig, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVoteResult(config.incoming, votes);
  const b = majorityVoteResult(config.outgoing, votes);
  if (a === "lost" || b === "lost") return "lost";
  if (a === "won" && b === "won") return "won";
  return "pending";
}

/** Whether `active` holds a quorum of the configuration (used by CheckQuorum and read rounds). */
export function hasJointQuorum(config: QuorumConfig, active: (id: NodeId) => boolean): boolean {
  const votes = new Map<NodeId, boolean>();
  for (const id of config.incoming) votes.set(id, active(id));
  for (const id of config.outgoing) votes.set(id, active(id));
  return jointVoteResult(config, votes) === "won";
}

/** Every voter of either half, each once, in a stable order. */
export function allVoters(config: QuorumConfig): NodeId[] {
  const out = [...config.incoming];
  for (const id of config.outgoing) if (!out.includes(id)) out.push(id);
  return out;
}

function descending(a: number, b: number): number {
  return b - a;
}
