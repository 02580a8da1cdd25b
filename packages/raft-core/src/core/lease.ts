import type { QuorumConfig } from "./quorum.js";
import type { NodeId } from "./types.js";

/**
 * Heartbeat rounds whose send time the lease remembers at most. A round older than the lease
 * duration can no longer extend the lease, so rounds are also forgotten by age; this cap only
 * bounds memory when many read rounds start within one lease (each forgotten round merely stops
 * counting, which can shorten the lease, never lengthen it).
 */
export const MAX_LEASE_ROUNDS_TRACKED = 1024;

/** "Never acknowledged": below any tick, so it never holds a lease. */
const NEVER = Number.NEGATIVE_INFINITY;

/**
 * The leader's lease for lease-based reads (thesis §6.4.1, design rule 7).
 *
 * A follower that heard from the leader ignores vote requests for an election timeout (leader
 * stickiness, thesis §4.2.3, which needs CheckQuorum), so no other leader can be elected until an
 * election timeout after a quorum last heard from this one. The lease therefore counts from when
 * a heartbeat round acknowledged by a quorum was *sent* (not when the acks arrived: a follower's
 * timer started at receipt, which is later), and lasts `durationTicks` = election timeout minus
 * a clock-drift bound, so a follower whose clock runs a little fast still cannot vote for a rival
 * before the lease ends.
 *
 * Time is the leader's own ticks. The lease is revoked for the rest of the leadership once a
 * TimeoutNow has left: the invited campaign bypasses stickiness, and a delayed TimeoutNow can
 * arrive at any later moment.
 */
export class LeaderLease {
  /** Leader ticks since this leadership began. */
  private now = 0;
  /** Send tick of every recent heartbeat round, in send order (round numbers only grow). */
  private readonly sentAt = new Map<number, number>();
  /** Per peer: the send tick of the latest round it acknowledged. Only ever grows. */
  private readonly ackedSentAt = new Map<NodeId, number>();
  private revoked = false;

  /** @param durationTicks election timeout minus the clock-drift bound; positive. */
  constructor(private readonly durationTicks: number) {
    if (!Number.isSafeInteger(durationTicks) || durationTicks <= 0) {
      throw new Error(`LeaderLease: durationTicks must be a positive integer, got ${durationTicks}`);
    }
  }

  /** One leader tick passed; rounds too old to extend the lease are forgotten. */
  tick(): void {
    this.now++;
    this.forgetOlderThan(this.now - this.durationTicks);
  }

  /** The heartbeat round `round` leaves now. */
  recordSent(round: number): void {
    if (this.sentAt.size >= MAX_LEASE_ROUNDS_TRACKED) {
      const oldest = this.sentAt.keys().next().value as number;
      this.sentAt.delete(oldest);
    }
    this.sentAt.set(round, this.now);
  }

  /** `from` acknowledged heartbeat round `round` (unknown or forgotten rounds count for nothing). */
  recordAck(from: NodeId, round: number): void {
    const sent = this.sentAt.get(round);
    if (sent === undefined) return;
    if (sent > (this.ackedSentAt.get(from) ?? NEVER)) this.ackedSentAt.set(from, sent);
  }

  /** A TimeoutNow left: no lease for the rest of this leadership. */
  revoke(): void {
    this.revoked = true;
  }

  /**
   * The latest tick at which a quorum of `config` (each half of a joint configuration) is known
   * to have been in contact: the leader itself counts as now. NEVER when no quorum acknowledged.
   */
  quorumContact(config: QuorumConfig, self: NodeId): number {
    const contactOf = (id: NodeId): number => (id === self ? this.now : (this.ackedSentAt.get(id) ?? NEVER));
    return Math.min(majorityContact(config.incoming, contactOf), majorityContact(config.outgoing, contactOf));
  }

  /** Ticks the lease still has (0 when it has none). */
  remainingTicks(config: QuorumConfig, self: NodeId): number {
    if (this.revoked) return 0;
    const contact = this.quorumContact(config, self);
    // NEVER: no quorum acknowledged yet; +Infinity: no voters at all, which confirms nothing.
    if (!Number.isFinite(contact)) return 0;
    return Math.max(0, contact + this.durationTicks - this.now);
  }

  /** Whether a read may be served now without a heartbeat round: `now - contact < duration`. */
  isValid(config: QuorumConfig, self: NodeId): boolean {
    return this.remainingTicks(config, self) > 0;
  }

  private forgetOlderThan(tick: number): void {
    for (const [round, sent] of this.sentAt) {
      if (sent > tick) return;
      this.sentAt.delete(round);
    }
  }
}

/**
 * The latest contact tick shared by a majority of `voters`: sorted newest first, the value at
 * position ⌊n/2⌋ is held by n/2+1 of them. An empty half places no constraint (+Infinity).
 */
function majorityContact(voters: readonly NodeId[], contactOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  const contacts = voters.map(contactOf);
  // Explicit comparison: subtraction would give NaN for two NEVER (-Infinity) values.
  contacts.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  return contacts[n >> 1];
}
