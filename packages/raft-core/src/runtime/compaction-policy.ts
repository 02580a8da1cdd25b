/**
 * When to take a snapshot and how far to compact the log behind it.
 *
 * A snapshot is due once the state machine has applied `everyEntries` entries past the latest
 * snapshot. The log is then compacted up to the snapshot index minus `trailingEntries`, so a
 * follower only slightly behind still catches up with appends rather than a whole snapshot; the
 * compaction point never moves back.
 *
 * @example
 * const policy = new CompactionPolicy(20, 5);
 * policy.isDue(45, 20);          // true: 25 entries applied since the snapshot at 20
 * policy.compactionIndex(45, 0); // 40
 */
export class CompactionPolicy {
  constructor(
    /** 0 turns automatic snapshots off. */
    readonly everyEntries: number,
    readonly trailingEntries: number,
  ) {}

  get enabled(): boolean {
    return this.everyEntries > 0;
  }

  /** Whether a snapshot at `appliedIndex` is due, the latest snapshot being at `snapshotIndex` (0 for none). */
  isDue(appliedIndex: number, snapshotIndex: number): boolean {
    return this.enabled && appliedIndex - snapshotIndex >= this.everyEntries;
  }

  /**
   * The index up to which the log may be dropped behind a snapshot at `snapshotIndex`: the
   * trailing window below it, but never below `previousCompactionIndex` (nor above the snapshot).
   */
  compactionIndex(snapshotIndex: number, previousCompactionIndex: number): number {
    const trailing = Math.max(0, snapshotIndex - this.trailingEntries);
    return Math.min(snapshotIndex, Math.max(trailing, previousCompactionIndex));
  }
}
