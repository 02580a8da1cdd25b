/**
 * When to take a snapshot and how far to compact the log behind it.
 *
 * A snapshot is due once the state machine has applied `everyEntries` entries, or `everyBytes`
 * bytes of entry data, past the latest snapshot (a limit of 0 is off). The log is then compacted up to the snapshot index minus `trailingEntries`, so a
 * follower only slightly behind still catches up with appends rather than a whole snapshot; the
 * compaction point never moves back.
 *
 * @example
 * const policy = new CompactionPolicy(20, 5, 0);
 * policy.isDue(45, 20, 0);       // true: 25 entries applied since the snapshot at 20
 * policy.compactionIndex(45, 0); // 40
 */
export class CompactionPolicy {
  constructor(
    /** 0 turns the entry limit off. */
    readonly everyEntries: number,
    readonly trailingEntries: number,
    /** 0 turns the byte limit off. */
    readonly everyBytes: number = 0,
  ) {}

  get enabled(): boolean {
    return this.everyEntries > 0 || this.everyBytes > 0;
  }

  /**
   * Whether a snapshot at `appliedIndex` is due, the latest snapshot being at `snapshotIndex` (0
   * for none) and `bytesSinceSnapshot` bytes of entry data applied since.
   */
  isDue(appliedIndex: number, snapshotIndex: number, bytesSinceSnapshot: number): boolean {
    if (appliedIndex <= snapshotIndex) return false;
    if (this.everyEntries > 0 && appliedIndex - snapshotIndex >= this.everyEntries) return true;
    return this.everyBytes > 0 && bytesSinceSnapshot >= this.everyBytes;
  }

  /**
   * The index up to which the log may be dropped behind a snapshot at `snapshotIndex`: the
   * trailing window below it, never past what a lazily flushing state machine made durable
   * (`durableIndex`: a restart re-applies from there), never below `previousCompactionIndex`
   * (nor above the snapshot).
   */
  compactionIndex(
    snapshotIndex: number,
    previousCompactionIndex: number,
    durableIndex: number = Number.POSITIVE_INFINITY,
  ): number {
    const trailing = Math.min(Math.max(0, snapshotIndex - this.trailingEntries), durableIndex);
    return Math.min(snapshotIndex, Math.max(trailing, previousCompactionIndex));
  }
}
