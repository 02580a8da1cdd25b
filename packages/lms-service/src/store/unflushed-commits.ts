import type { CachedText } from "./record-cache.js";

/** One store operation as LevelDB will take it: full key, and the text to put or null to delete. */
export type FlushOperation = readonly [fullKey: string, text: CachedText];

/** One accepted commit that is not on disk yet. */
interface QueuedCommit {
  readonly sequence: number;
  readonly appliedIndex: number;
  readonly operations: readonly FlushOperation[];
  readonly bytes: number;
}

/** Commits one flush takes at most, so one LevelDB batch stays a bounded size. */
export const maxCommitsPerFlush = 4096;
/** Bytes (keys and texts) one flush takes at most; a larger single commit goes alone. */
export const maxBytesPerFlush = 8 * 1024 * 1024;

/** What one flush writes: the operations of some oldest commits, coalesced, and their last index. */
export interface FlushBatch {
  readonly operations: readonly FlushOperation[];
  readonly appliedIndex: number;
  /** How many commits it covers (for the store's sync policy). */
  readonly commits: number;
  /** Pass to {@link UnflushedCommits.flushed} once the batch is on disk. */
  readonly lastSequence: number;
}

/**
 * Commits the store has accepted in memory but not yet written to LevelDB, in order, with an
 * overlay of the newest text per key for reads. Reads consult the overlay first, so they see
 * every accepted commit at once, while the disk catches up in the background.
 *
 * A flush takes whole commits from the front, and only their own operations: a key rewritten by a
 * later, unflushed commit goes to disk with the value it had at the flushed commit. So the disk
 * always holds the state at exactly the applied index written with it, which is what makes
 * re-applying the Raft log after a crash give the same results. An overlay entry leaves only once
 * the last commit that wrote its key is on disk.
 */
export class UnflushedCommits {
  private readonly queue: QueuedCommit[] = [];
  private readonly overlay = new Map<string, { text: CachedText; sequence: number }>();
  /** The overlay's keys by group, so a range read inside one group visits only that group's keys. */
  private readonly groups = new Map<string, Set<string>>();
  private nextSequence = 1;
  private queuedBytes = 0;

  /**
   * @param groupOf the group of a key (for the store: its collection's key prefix). A range whose
   *   two ends are in one group must hold only keys of that group; {@link inRange} then looks at
   *   that group alone instead of the whole overlay, which under write load holds thousands of keys.
   */
  constructor(private readonly groupOf: (fullKey: string) => string = () => "") {}

  /** Accepts one commit's operations (in order: a later one for the same key wins). */
  add(appliedIndex: number, operations: readonly FlushOperation[]): void {
    const sequence = this.nextSequence++;
    let bytes = 0;
    for (const [fullKey, text] of operations) {
      if (!this.overlay.has(fullKey)) this.groupFor(fullKey).add(fullKey);
      this.overlay.set(fullKey, { text, sequence });
      bytes += fullKey.length + (text?.length ?? 0);
    }
    this.queue.push({ sequence, appliedIndex, operations, bytes });
    this.queuedBytes += bytes;
  }

  /** The accepted text of `fullKey` (null: deleted) if a commit not yet on disk wrote it. */
  get(fullKey: string): CachedText | undefined {
    return this.overlay.get(fullKey)?.text;
  }

  /** Every overlay entry whose key is in [from, to) (for merging into a range read), in no set order. */
  *inRange(from: string, to: string): Generator<FlushOperation> {
    const group = this.groupOf(from);
    const keys = group === this.groupOf(to) ? (this.groups.get(group) ?? []) : this.overlay.keys();
    for (const fullKey of keys) {
      if (fullKey >= from && fullKey < to) yield [fullKey, (this.overlay.get(fullKey) as { text: CachedText }).text];
    }
  }

  get size(): number {
    return this.queue.length;
  }

  /** Bytes of keys and texts waiting for the disk (the store's back-pressure bound). */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** The applied index of the newest queued commit, or undefined when everything is on disk. */
  lastQueuedIndex(): number | undefined {
    return this.queue.at(-1)?.appliedIndex;
  }

  /**
   * The next flush: the oldest commits, none past `upToIndex` (a snapshot waiting for that exact
   * state) and within the size bounds, their operations coalesced (the last write to a key wins).
   * Undefined when nothing at or below `upToIndex` is queued.
   */
  nextBatch(upToIndex: number = Number.POSITIVE_INFINITY): FlushBatch | undefined {
    const latest = new Map<string, CachedText>();
    let taken = 0;
    let bytes = 0;
    while (taken < this.queue.length && taken < maxCommitsPerFlush) {
      const commit = this.queue[taken];
      if (commit.appliedIndex > upToIndex) break;
      if (taken > 0 && bytes + commit.bytes > maxBytesPerFlush) break;
      for (const [fullKey, text] of commit.operations) latest.set(fullKey, text);
      bytes += commit.bytes;
      taken++;
    }
    if (taken === 0) return undefined;
    const last = this.queue[taken - 1];
    return { operations: [...latest], appliedIndex: last.appliedIndex, commits: taken, lastSequence: last.sequence };
  }

  /**
   * The batch is on disk: its commits leave the queue, and overlay entries no later commit
   * rewrote leave the overlay (the disk answers for them now).
   */
  flushed(batch: FlushBatch): void {
    const done = this.queue.splice(0, batch.commits);
    for (const commit of done) this.queuedBytes -= commit.bytes;
    for (const [fullKey] of batch.operations) {
      const entry = this.overlay.get(fullKey);
      if (entry !== undefined && entry.sequence <= batch.lastSequence) {
        this.overlay.delete(fullKey);
        const group = this.groupOf(fullKey);
        const keys = this.groups.get(group);
        keys?.delete(fullKey);
        if (keys?.size === 0) this.groups.delete(group);
      }
    }
  }

  /** Forgets everything queued (a restore replaces the whole state). */
  clear(): void {
    this.queue.length = 0;
    this.overlay.clear();
    this.groups.clear();
    this.queuedBytes = 0;
  }

  private groupFor(fullKey: string): Set<string> {
    const group = this.groupOf(fullKey);
    let keys = this.groups.get(group);
    if (keys === undefined) {
      keys = new Set();
      this.groups.set(group, keys);
    }
    return keys;
  }
}
