import type { NodeId } from "./types.js";

/** One read waiting for leadership confirmation. `origin` is the node whose client asked. */
export interface PendingRead {
  readonly requestId: number;
  readonly origin: NodeId;
}

/** A heartbeat round confirming leadership for a batch of reads (rule 6). */
interface ReadRound {
  readonly round: number;
  /** The commit index when the round started; the reads may be served once applied ≥ this. */
  readonly index: number;
  readonly reads: PendingRead[];
  readonly acks: Set<NodeId>;
}

/** A batch of reads whose round reached a quorum: serve them at `index`. */
export interface ConfirmedReads {
  readonly index: number;
  readonly reads: readonly PendingRead[];
}

/**
 * ReadIndex bookkeeping on the leader (thesis §6.4). Reads that arrive join `waiting`; one new
 * heartbeat round serves all of them; an acknowledgement of round r confirms every round ≤ r,
 * because it proves leadership at a moment after those rounds started. Acks of older rounds
 * never count toward newer ones.
 */
export class ReadOnly {
  private waiting: PendingRead[] = [];
  private rounds: ReadRound[] = [];
  private nextRound = 1;

  add(read: PendingRead): void {
    this.waiting.push(read);
  }

  hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** Starts a round for every waiting read; returns its number for the heartbeats. */
  startRound(commit: number, self: NodeId): number {
    const round = this.nextRound++;
    this.rounds.push({ round, index: commit, reads: this.waiting, acks: new Set([self]) });
    this.waiting = [];
    return round;
  }

  /**
   * Numbers a plain heartbeat round that carries no reads (lease reads time every heartbeat).
   * Sharing the counter with read rounds keeps the numbers in send order, so an ack of this round
   * still confirms every earlier read round: it proves leadership after those reads arrived.
   */
  allocateRound(): number {
    return this.nextRound++;
  }

  /**
   * Records `from`'s acknowledgement of `round`; returns the reads that became confirmed, oldest
   * first, using `isQuorum` to decide.
   */
  ack(from: NodeId, round: number, isQuorum: (acks: ReadonlySet<NodeId>) => boolean): ConfirmedReads[] {
    let confirmedUpTo = -1;
    for (let i = 0; i < this.rounds.length; i++) {
      const r = this.rounds[i];
      if (r.round > round) break;
      r.acks.add(from);
      if (isQuorum(r.acks)) confirmedUpTo = i;
    }
    return this.release(confirmedUpTo);
  }

  /** Completes rounds that already have a quorum (a single-voter cluster confirms at once). */
  confirmReady(isQuorum: (acks: ReadonlySet<NodeId>) => boolean): ConfirmedReads[] {
    let confirmedUpTo = -1;
    for (let i = 0; i < this.rounds.length; i++) if (isQuorum(this.rounds[i].acks)) confirmedUpTo = i;
    return this.release(confirmedUpTo);
  }

  /** Removes and returns every read, confirmed or not (leadership was lost: they all fail). */
  drainAll(): PendingRead[] {
    const out: PendingRead[] = [];
    for (const r of this.rounds) out.push(...r.reads);
    out.push(...this.waiting);
    this.rounds = [];
    this.waiting = [];
    return out;
  }

  pendingCount(): number {
    let n = this.waiting.length;
    for (const r of this.rounds) n += r.reads.length;
    return n;
  }

  private release(upTo: number): ConfirmedReads[] {
    if (upTo < 0) return [];
    const done = this.rounds.splice(0, upTo + 1);
    return done.map((r) => ({ index: r.index, reads: r.reads }));
  }
}
