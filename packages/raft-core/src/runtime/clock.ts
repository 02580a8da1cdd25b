/** Opaque handle of a scheduled timer. */
export type TimerHandle = { readonly __timer: unique symbol } | number | object;

/**
 * Monotonic time and timers. Production uses `SystemClock` (in the service) and the simulator a
 * virtual clock; the runtime never reads time any other way (determinism contract).
 */
export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
  /** Runs `fn` once after at least `delayMs`. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  cancelTimer(handle: TimerHandle): void;
}
