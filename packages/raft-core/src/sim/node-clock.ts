import type { Clock, TimerHandle } from "../runtime/clock.js";
import type { VirtualClock } from "./virtual-clock.js";

/** Handed out once the node has crashed: it refers to no event, so cancelling it does nothing. */
const HALTED_TIMER: TimerHandle = Object.freeze({ halted: true });

/**
 * One node incarnation's view of the shared {@link VirtualClock}. It remembers every timer the
 * node has pending so a crash can cancel them all at once: a crashed `RaftServer` is never
 * called again, not even by a timer it set before the crash. After {@link NodeClock.halt} new
 * timers are silently ignored, because the abandoned server may still finish the round it was in.
 *
 * @example
 * const clock = new NodeClock(shared, () => dirty.add("n1"));
 * const server = new RaftServer({ ...options, clock });
 * // ...on a crash:
 * clock.halt();
 */
export class NodeClock implements Clock {
  private readonly pending = new Set<TimerHandle>();
  private halted = false;

  /**
   * @param shared the simulation's clock.
   * @param onFire called just before one of this node's timers runs (the cluster uses it to know
   *   which nodes took a step at an instant).
   */
  constructor(
    private readonly shared: VirtualClock,
    private readonly onFire: () => void = () => {},
    /**
     * How fast this node's clock runs, in thousandths of real (virtual) time: 1000 keeps time,
     * 900 is 10% slow (its timers fire late, its `now()` lags). Clock drift is what a lease read's
     * safety depends on (design rule 7), so the simulator can give each node its own rate.
     */
    private readonly ratePermille: number = 1000,
  ) {}

  now(): number {
    return Math.floor((this.shared.now() * this.ratePermille) / 1000);
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    if (this.halted) return HALTED_TIMER;
    const realDelayMs = this.ratePermille === 1000 ? delayMs : Math.ceil((delayMs * 1000) / this.ratePermille);
    const handle = this.shared.setTimer(realDelayMs, () => {
      this.pending.delete(handle);
      this.onFire();
      fn();
    });
    this.pending.add(handle);
    return handle;
  }

  cancelTimer(handle: TimerHandle): void {
    if (this.pending.delete(handle)) this.shared.cancelTimer(handle);
  }

  /** Timers set and neither run nor cancelled. */
  pendingCount(): number {
    return this.pending.size;
  }

  /** True once {@link NodeClock.halt} was called. */
  isHalted(): boolean {
    return this.halted;
  }

  /** Cancels every pending timer and ignores every later one. Returns how many were cancelled. */
  halt(): number {
    this.halted = true;
    const cancelled = this.pending.size;
    for (const handle of this.pending) this.shared.cancelTimer(handle);
    this.pending.clear();
    return cancelled;
  }
}
