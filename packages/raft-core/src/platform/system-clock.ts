import type { Clock, TimerHandle } from "../runtime/clock.js";

/**
 * The real clock for production: `performance.now()` (monotonic) and the host's timers. Works in
 * Node.js and browsers. Lives outside src/runtime because it is exactly the outside world the
 * runtime must not touch directly.
 */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    // A pending Raft timer must not keep a Node.js process alive on its own.
    (handle as { unref?: () => void }).unref?.();
    return handle as TimerHandle;
  }

  cancelTimer(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}
