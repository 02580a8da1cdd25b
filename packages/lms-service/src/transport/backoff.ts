/**
 * Exponential backoff with jitter for redialing a peer: the n-th delay is drawn uniformly from
 * [d/2, d] where d = min(maxMs, initialMs * 2^n) ("equal jitter": never zero, never above the
 * bound, and two nodes that lost each other at the same moment do not redial in lockstep).
 */
export class Backoff {
  private attempt = 0;

  /** @param random uniform in [0, 1), injectable for tests. */
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!(initialMs > 0) || !(maxMs >= initialMs)) {
      throw new Error(`Backoff needs 0 < initialMs <= maxMs, got ${initialMs} and ${maxMs}`);
    }
  }

  /** The delay before the next attempt; each call doubles the ceiling until `maxMs`. */
  next(): number {
    // 2^attempt stops growing once past the bound, so the exponent never overflows.
    const ceilingMs = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    if (ceilingMs < this.maxMs) this.attempt++;
    const halfMs = ceilingMs / 2;
    return Math.round(halfMs + this.random() * halfMs);
  }

  /** Back to the initial delay, after a connection proved stable. */
  reset(): void {
    this.attempt = 0;
  }
}
