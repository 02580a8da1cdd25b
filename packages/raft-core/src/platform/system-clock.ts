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
    // Timers stay referenced: a running server, like a listening socket, keeps the process alive
    // (an unreferenced yield timer would let Node.js exit with proposals still pending).
    // RaftServer.stop() cancels them.
    return setTimeout(fn, Math.max(0, delayMs)) as TimerHandle;
  }

  cancelTimer(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}
