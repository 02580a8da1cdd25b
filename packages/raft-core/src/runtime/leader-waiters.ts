/**
 * Times one call may be offered to the core again after a refusal that came back from the leader
 * it reached (see {@link LeaderWaiters.mayOfferAgain}): enough for the leader change that caused
 * it, few enough that a node still believing in a deposed leader does not bounce a call for long.
 */
export const maxOffersAgain = 3;

/** A call parked until a leader is known: a proposal or a read, still unsettled. */
export interface LeaderWaiter {
  readonly settled: boolean;
}

/**
 * Calls that arrived while this node knew no leader (an election is running), held until one is
 * known instead of being refused at once (`leaderWaitMs`). A refusal for "no leader" changes
 * nothing, so holding such a call and handing it to the core again later is safe; without this,
 * every caller of a node in an election would get NOT_LEADER without a hint, back off and find
 * the new leader only at its next attempt (the LMS measured that as most of its failover gap).
 *
 * Each call keeps the deadline of its first wait: a call released to a leader that is lost again
 * before the call reaches the core waits only for the rest of its time.
 */
export class LeaderWaiters<T extends LeaderWaiter> {
  private waiting: T[] = [];
  private readonly deadlines = new WeakMap<T, number>();
  private readonly offeredAgain = new WeakMap<T, number>();

  constructor(private readonly waitMs: number) {}

  /** Whether calls wait at all (`leaderWaitMs` > 0). */
  get enabled(): boolean {
    return this.waitMs > 0;
  }

  /** Calls waiting now. */
  get size(): number {
    return this.waiting.length;
  }

  /**
   * Parks `call` until a leader is known, or until its deadline (set at its first wait: `nowMs`
   * plus `leaderWaitMs`). Returns false, parking nothing, when waiting is off or the call's time
   * is up already: the caller refuses it then.
   */
  park(call: T, nowMs: number): boolean {
    if (!this.withinDeadline(call, nowMs)) return false;
    this.waiting.push(call);
    return true;
  }

  /**
   * Whether `call`, refused by the leader it reached because that node no longer leads (a
   * forwarded proposal refused, a read whose leadership could not be confirmed), may be offered
   * to the core again: waiting is on, the call's time (from its first wait or refusal) is not up,
   * and it was offered again fewer than {@link maxOffersAgain} times. Counts the offer when true.
   * Only a refusal that guarantees nothing happened may be answered this way.
   */
  mayOfferAgain(call: T, nowMs: number): boolean {
    const offered = this.offeredAgain.get(call) ?? 0;
    if (offered >= maxOffersAgain || !this.withinDeadline(call, nowMs)) return false;
    this.offeredAgain.set(call, offered + 1);
    return true;
  }

  /** Every waiting call, oldest first, to be handed to the core again; none wait afterwards. */
  releaseAll(): T[] {
    const released = this.waiting.filter((call) => !call.settled);
    this.waiting = [];
    return released;
  }

  /** The waiting calls whose time is up at `nowMs` (removed); settled calls are dropped too. */
  takeExpired(nowMs: number): T[] {
    const expired: T[] = [];
    const kept: T[] = [];
    for (const call of this.waiting) {
      if (call.settled) continue;
      if (nowMs >= (this.deadlines.get(call) ?? 0)) expired.push(call);
      else kept.push(call);
    }
    this.waiting = kept;
    return expired;
  }

  /** Sets the call's deadline at its first wait; false when waiting is off or the time is up. */
  private withinDeadline(call: T, nowMs: number): boolean {
    if (!this.enabled) return false;
    let deadline = this.deadlines.get(call);
    if (deadline === undefined) {
      deadline = nowMs + this.waitMs;
      this.deadlines.set(call, deadline);
    }
    return nowMs < deadline;
  }

  /** Forgets every waiting call (the server stopped; the caller fails them itself). */
  clear(): void {
    this.waiting = [];
  }
}
