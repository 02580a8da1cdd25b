import type { ReadState } from "../core/types.js";
import type { CallCancellation } from "./call-cancellation.js";
import { ReadFailedError } from "./errors.js";
import { ReadIndexHeap, type ReadIndexHeapItem } from "./read-index-heap.js";

/** One caller waiting for `read()`: first for its read index, then for the state machine to reach it. */
export class PendingRead implements ReadIndexHeapItem {
  /** Set when the core confirmed the read; 0 while waiting for the core. */
  readIndex = 0;
  heapSlot = -1;
  settled = false;
  cancellation: CallCancellation | undefined;

  constructor(
    readonly requestId: number,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    readonly resolve: () => void,
    readonly reject: (error: Error) => void,
  ) {}
}

/**
 * Linearizable reads of one server (ReadIndex, thesis §6.4): a read completes once the core
 * reported a read index for it and the local state machine has applied at least that index.
 */
export class PendingReads {
  private readonly byRequestId = new Map<number, PendingRead>();
  private readonly waitingForApply = new ReadIndexHeap<PendingRead>();

  /** Unsettled reads. */
  get size(): number {
    return this.byRequestId.size;
  }

  add(read: PendingRead): void {
    this.byRequestId.set(read.requestId, read);
  }

  /**
   * The core answered a read: index 0 means leadership could not be confirmed (retryable), and
   * the read fails unless `offerAgain` takes it (to hand it to the core again; it stays pending);
   * otherwise the read completes once `appliedIndex` reaches the index. Repeated or unknown
   * answers are ignored.
   */
  onReadState(state: ReadState, appliedIndex: number, offerAgain?: (read: PendingRead) => boolean): void {
    const read = this.byRequestId.get(state.requestId);
    if (read === undefined || read.readIndex !== 0) return;
    if (state.index === 0) {
      if (offerAgain?.(read) === true) return;
      this.reject(read, new ReadFailedError("leadership could not be confirmed (no leader, or it changed)"));
    } else if (state.index <= appliedIndex) {
      this.resolve(read);
    } else {
      read.readIndex = state.index;
      this.waitingForApply.push(read);
    }
  }

  /** Completes every read whose read index is at or below `appliedIndex`. */
  releaseUpTo(appliedIndex: number): void {
    for (;;) {
      const next = this.waitingForApply.peek();
      if (next === undefined || next.readIndex > appliedIndex) return;
      this.resolve(next);
    }
  }

  /** Fails every unsettled read with the error `makeError` builds for it. */
  failAll(makeError: (read: PendingRead) => Error): void {
    for (const read of [...this.byRequestId.values()]) this.reject(read, makeError(read));
  }

  resolve(read: PendingRead): void {
    if (this.forget(read)) read.resolve();
  }

  reject(read: PendingRead, error: Error): void {
    if (this.forget(read)) read.reject(error);
  }

  private forget(read: PendingRead): boolean {
    if (read.settled) return false;
    read.settled = true;
    read.cancellation?.dispose();
    read.cancellation = undefined;
    this.byRequestId.delete(read.requestId);
    this.waitingForApply.remove(read);
    return true;
  }
}
