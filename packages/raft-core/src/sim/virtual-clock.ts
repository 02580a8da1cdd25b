import type { Clock, TimerHandle } from "../runtime/clock.js";
import { drainMicrotasks } from "./drain-microtasks.js";
import type { Prng } from "./prng.js";

/**
 * Events one virtual instant may run before the clock declares a livelock (for example a timer
 * that re-arms itself with a zero delay forever).
 */
export const DEFAULT_MAX_EVENTS_PER_INSTANT = 1_000_000;
/** Cancelled events are removed lazily; the heap is rebuilt once they exceed this many and half the heap. */
const MIN_CANCELLED_BEFORE_COMPACTION = 64;

const PENDING = 0;
const FINISHED = 1;

/**
 * One scheduled callback; also the opaque handle `setTimer` returns. `order` is 0 for FIFO or a
 * seed-drawn 32-bit key that permutes events sharing an instant; `sequence` breaks the rest of
 * the ties, so the order is total and replayable.
 */
class ScheduledEvent {
  state: typeof PENDING | typeof FINISHED = PENDING;
  constructor(
    readonly clock: VirtualClock,
    readonly atMs: number,
    readonly order: number,
    readonly sequence: number,
    public fn: (() => void) | undefined,
  ) {}
}

function runsBefore(x: ScheduledEvent, y: ScheduledEvent): boolean {
  if (x.atMs !== y.atMs) return x.atMs < y.atMs;
  if (x.order !== y.order) return x.order < y.order;
  return x.sequence < y.sequence;
}

/** A binary min-heap of events in run order; cancelled events stay until popped or compacted. */
class EventHeap {
  items: ScheduledEvent[] = [];

  push(event: ScheduledEvent): void {
    const items = this.items;
    let i = items.length;
    items.push(event);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = items[parent] as ScheduledEvent;
      if (!runsBefore(event, above)) break;
      items[i] = above;
      i = parent;
    }
    items[i] = event;
  }

  peek(): ScheduledEvent | undefined {
    return this.items[0];
  }

  pop(): ScheduledEvent | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top !== undefined && last !== undefined && items.length > 0) this.siftDown(0, last);
    return top;
  }

  /** Drops finished events and restores the heap property in O(n). */
  compact(): void {
    const items = this.items.filter((event) => event.state === PENDING);
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(i, items[i] as ScheduledEvent);
  }

  private siftDown(start: number, event: ScheduledEvent): void {
    const items = this.items;
    const length = items.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && runsBefore(items[right] as ScheduledEvent, items[left] as ScheduledEvent)) child = right;
      const below = items[child] as ScheduledEvent;
      if (!runsBefore(below, event)) break;
      items[i] = below;
      i = child;
    }
    items[i] = event;
  }
}

export interface VirtualClockOptions {
  /** Virtual time at creation; defaults to 0. */
  readonly startMs?: number;
  /**
   * When given, events that share an instant run in an order drawn from this stream (still one
   * order per seed); without it they run first-scheduled, first-run.
   */
  readonly permuteWith?: Prng;
  /** Livelock guard; defaults to {@link DEFAULT_MAX_EVENTS_PER_INSTANT}. */
  readonly maxEventsPerInstant?: number;
}

export interface RunOptions {
  /** Called synchronously after every event, e.g. to check invariants after each step. */
  onEvent?(): void;
  /** Called once per virtual instant, after its events ran and its microtasks were drained. */
  onInstant?(): void;
}

/**
 * Virtual time for the simulator: a `Clock` whose timers are events in a binary heap ordered by
 * (time, same-instant order, sequence). Nothing runs until `runUntil`/`runWhile` is awaited; they
 * run events in order and, once per virtual instant, drain microtasks so that promise
 * continuations started at that instant finish there.
 *
 * Times are integer milliseconds: delays are rounded up, as a timer runs "after at least" its delay.
 *
 * @example
 * const clock = new VirtualClock();
 * clock.setTimer(50, () => console.log("at", clock.now()));
 * await clock.runUntil(100); // prints "at 50"; clock.now() is 100
 */
export class VirtualClock implements Clock {
  private nowMs: number;
  private sequence = 0;
  private live = 0;
  private cancelledInHeap = 0;
  private running = false;
  private ran = 0;
  private readonly heap = new EventHeap();
  private readonly permuteWith: Prng | undefined;
  private readonly maxEventsPerInstant: number;

  constructor(options: VirtualClockOptions = {}) {
    const startMs = options.startMs ?? 0;
    if (!Number.isSafeInteger(startMs) || startMs < 0)
      throw new RangeError(`startMs must be a non-negative integer, got ${startMs}`);
    this.nowMs = startMs;
    this.permuteWith = options.permuteWith;
    this.maxEventsPerInstant = options.maxEventsPerInstant ?? DEFAULT_MAX_EVENTS_PER_INSTANT;
  }

  /** Current virtual time in ms. */
  now(): number {
    return this.nowMs;
  }

  /** Events run so far (cancelled ones never count). */
  get eventsRun(): number {
    return this.ran;
  }

  /** Scheduled events that have neither run nor been cancelled. */
  pendingCount(): number {
    return this.live;
  }

  /**
   * Events held in the heap, including cancelled ones awaiting lazy removal. Compaction keeps it
   * below about twice {@link pendingCount} plus a small constant, so cancelled timers do not leak.
   */
  storedEventCount(): number {
    return this.heap.items.length;
  }

  /** Time of the next pending event, or undefined when nothing is scheduled. */
  nextEventAtMs(): number | undefined {
    return this.peekPending()?.atMs;
  }

  /**
   * Runs `fn` once, `delayMs` (rounded up, at least 0) after now. A zero delay runs at this
   * instant but after the caller returns, never synchronously.
   */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    if (Number.isNaN(delayMs)) throw new RangeError("setTimer delayMs is NaN");
    return this.schedule(this.nowMs + Math.max(0, Math.ceil(delayMs)), fn);
  }

  /** Cancels a pending timer; a handle that already ran, was cancelled or belongs to another clock is ignored. */
  cancelTimer(handle: TimerHandle): void {
    if (!(handle instanceof ScheduledEvent) || handle.clock !== this || handle.state !== PENDING) return;
    handle.state = FINISHED;
    handle.fn = undefined;
    this.live--;
    this.cancelledInHeap++;
    if (this.cancelledInHeap > MIN_CANCELLED_BEFORE_COMPACTION && this.cancelledInHeap * 2 > this.heap.items.length) {
      this.heap.compact();
      this.cancelledInHeap = 0;
    }
  }

  /**
   * Runs `fn` at the absolute virtual time `atMs` (rounded up); cancel it with `cancelTimer`.
   * @throws RangeError when `atMs` is in the past or not finite.
   */
  schedule(atMs: number, fn: () => void): TimerHandle {
    const at = Math.ceil(atMs);
    if (!Number.isSafeInteger(at) || at < this.nowMs) {
      throw new RangeError(`cannot schedule an event at ${atMs} ms: the virtual clock is at ${this.nowMs} ms`);
    }
    const order = this.permuteWith === undefined ? 0 : this.permuteWith.nextUint32();
    const event = new ScheduledEvent(this, at, order, this.sequence++, fn);
    this.heap.push(event);
    this.live++;
    return event;
  }

  /**
   * Runs every event due at or before `timeMs`, instant by instant, then sets the clock to
   * `timeMs`. Microtasks are drained before the first instant and after each instant.
   * @throws RangeError when `timeMs` is before now; rethrows an event's exception.
   */
  async runUntil(timeMs: number, options: RunOptions = {}): Promise<void> {
    if (!Number.isFinite(timeMs) || timeMs < this.nowMs) {
      throw new RangeError(`runUntil(${timeMs}) needs a finite time at or after the virtual clock (${this.nowMs} ms)`);
    }
    await this.runInstants(Math.floor(timeMs), undefined, options);
    this.nowMs = Math.max(this.nowMs, Math.floor(timeMs));
  }

  /** `runUntil(now() + durationMs)`. */
  async runFor(durationMs: number, options: RunOptions = {}): Promise<void> {
    await this.runUntil(this.nowMs + durationMs, options);
  }

  /**
   * Runs instant by instant while `predicate()` holds, up to the absolute virtual time
   * `limitTimeMs`. The predicate is checked before the first instant and after each instant
   * (once its microtasks are drained).
   * @returns true when the predicate became false (the clock stays at that instant); false when
   * the limit was reached first (the clock is then at `limitTimeMs`).
   * @example const elected = await clock.runWhile(() => leaderOf(cluster) === "", clock.now() + 5_000);
   */
  async runWhile(predicate: () => boolean, limitTimeMs: number, options: RunOptions = {}): Promise<boolean> {
    if (!Number.isFinite(limitTimeMs) || limitTimeMs < this.nowMs) {
      throw new RangeError(
        `runWhile limit ${limitTimeMs} needs a finite time at or after the virtual clock (${this.nowMs} ms)`,
      );
    }
    const stopped = await this.runInstants(Math.floor(limitTimeMs), predicate, options);
    if (!stopped) this.nowMs = Math.max(this.nowMs, Math.floor(limitTimeMs));
    return stopped;
  }

  /** Returns true when it stopped because `keepGoing` returned false. */
  private async runInstants(
    limitMs: number,
    keepGoing: (() => boolean) | undefined,
    options: RunOptions,
  ): Promise<boolean> {
    if (this.running) throw new Error("VirtualClock is already running: await the previous runUntil/runWhile first");
    this.running = true;
    try {
      await drainMicrotasks();
      for (;;) {
        if (keepGoing !== undefined && !keepGoing()) return true;
        const next = this.peekPending();
        if (next === undefined || next.atMs > limitMs) return false;
        this.nowMs = next.atMs;
        this.runInstant(options.onEvent);
        await drainMicrotasks();
        options.onInstant?.();
      }
    } finally {
      this.running = false;
    }
  }

  /** Runs every pending event at the current instant, including those scheduled meanwhile. */
  private runInstant(onEvent: (() => void) | undefined): void {
    let count = 0;
    for (;;) {
      const next = this.peekPending();
      if (next === undefined || next.atMs !== this.nowMs) return;
      if (++count > this.maxEventsPerInstant) {
        throw new Error(`livelock: more than ${this.maxEventsPerInstant} events at virtual time ${this.nowMs} ms`);
      }
      this.heap.pop();
      const fn = next.fn as () => void;
      next.state = FINISHED;
      next.fn = undefined;
      this.live--;
      this.ran++;
      fn();
      onEvent?.();
    }
  }

  /** The first pending event, popping cancelled events off the top on the way. */
  private peekPending(): ScheduledEvent | undefined {
    let top = this.heap.peek();
    while (top !== undefined && top.state !== PENDING) {
      this.heap.pop();
      this.cancelledInHeap--;
      top = this.heap.peek();
    }
    return top;
  }
}
