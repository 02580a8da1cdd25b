import type { Entry, SnapshotMeta, StateMachine } from "@lectern/raft-core";
import type { LmsApplyResult, LmsStateMachine } from "../domain/lms-state-machine.js";

/**
 * The LMS state machine with a way to wait for the `apply` or `restore` in flight: RaftServer's
 * `stop()` does not wait for it, and the node must not close the store under a running apply.
 */
export class DrainableStateMachine implements StateMachine<LmsApplyResult> {
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly inner: LmsStateMachine,
    /** Told how many entries each successful `apply` applied (metrics). */
    private readonly onApplied: (count: number) => void = () => {},
    /**
     * Told after each successful `restore`: a snapshot carries the records naming files but not
     * the files, which the node then copies from its peers (files/missing-file-fetcher.ts).
     */
    private readonly onRestored: () => void = () => {},
  ) {}

  apply(entries: readonly Entry[]): Promise<LmsApplyResult[]> {
    return this.track(
      this.inner.apply(entries).then((results) => {
        this.onApplied(entries.length);
        return results;
      }),
    );
  }

  appliedIndex(): number {
    return this.inner.appliedIndex();
  }

  durableIndex(): number {
    return this.inner.durableIndex();
  }

  snapshot(): AsyncIterable<Uint8Array> {
    return this.inner.snapshot();
  }

  restore(meta: SnapshotMeta, data: AsyncIterable<Uint8Array>): Promise<void> {
    return this.track(
      this.inner.restore(meta, data).then(() => {
        this.onRestored();
      }),
    );
  }

  /** Resolves once the apply or restore running now (if any) has settled. */
  async drained(): Promise<void> {
    await this.inFlight;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight = work.catch(() => undefined);
    return work;
  }
}
