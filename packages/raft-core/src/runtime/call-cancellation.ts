import type { Clock, TimerHandle } from "./clock.js";

/** Why a caller gave up on a request. */
export type CancelReason = "timeout" | "abort";

/**
 * A caller's deadline and AbortSignal for one request. Whichever fires first calls `onCancel`
 * once; `dispose` cancels the timer and removes the abort listener, so a completed request
 * leaves nothing behind (100k proposals sharing one signal must not accumulate listeners).
 */
export class CallCancellation {
  private timer: TimerHandle | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: (() => void) | undefined;

  /**
   * @param timeoutMs - milliseconds until `onCancel("timeout")`; `Infinity` means no deadline.
   */
  constructor(
    private readonly clock: Clock,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    onCancel: (reason: CancelReason) => void,
  ) {
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      this.timer = clock.setTimer(timeoutMs, () => {
        this.timer = undefined;
        this.dispose();
        onCancel("timeout");
      });
    }
    if (signal !== undefined) {
      this.signal = signal;
      this.onAbort = () => {
        this.dispose();
        onCancel("abort");
      };
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  /** Idempotent. */
  dispose(): void {
    if (this.timer !== undefined) {
      this.clock.cancelTimer(this.timer);
      this.timer = undefined;
    }
    if (this.signal !== undefined && this.onAbort !== undefined) {
      this.signal.removeEventListener("abort", this.onAbort);
    }
  }
}

/**
 * Checks a per-call `timeoutMs`: a non-negative number of milliseconds, or `Infinity` for none.
 * Throws a RangeError naming the bad value.
 */
export function checkTimeoutMs(timeoutMs: number): number {
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(
      `timeoutMs must be a non-negative number of milliseconds or Infinity, got ${String(timeoutMs)}`,
    );
  }
  return timeoutMs;
}
