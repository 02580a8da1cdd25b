import { Inflights } from "./inflights.js";

export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * The leader's view of one follower (thesis §3.5, flow control as in etcd's raft):
 * - probe: one append at a time until a match is found (after an election or a rejection);
 * - replicate: optimistic pipelining, `next` advances as appends are sent, bounded by `inflights`;
 * - snapshot: waiting for a snapshot to be installed (durability issue).
 *
 * Invariants: `match` never decreases (rule 3); `next > match`.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append is outstanding, so wait for its answer or the next heartbeat. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum interval. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    public isLearner: boolean,
    maxInflight: number,
    maxInflightBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  /** True when no append should be sent now. */
  isPaused(): boolean {
    if (this.state === "probe") return this.probeSent;
    if (this.state === "replicate") return this.inflights.full();
    return true;
  }

  becomeProbe(): void {
    this.state = "probe";
    this.pendingSnapshot = 0;
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** The entries this follower needs are compacted away: wait for the snapshot at `index`. */
  becomeSnapshot(index: number): void {
    this.state = "snapshot";
    this.pendingSnapshot = index;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** The snapshot was delivered (or failed): probe from just after it (or from match). */
  snapshotDone(delivered: boolean): void {
    const after = delivered ? this.pendingSnapshot + 1 : 0;
    this.pendingSnapshot = 0;
    this.becomeProbe();
    this.next = Math.max(this.match + 1, after);
    // Wait for the follower's answer (or the next heartbeat) before probing again.
    this.probeSent = true;
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** Records that an append covering up to `lastIndex` was sent. */
  sentEntries(lastIndex: number, bytes: number, entryCount: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /**
   * A successful response acknowledged `index`. Returns false for a stale response
   * (`index` ≤ match), which must change nothing (rule 3).
   */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    if (this.next <= index) this.next = index + 1;
    this.probeSent = false;
    return true;
  }

  /**
   * A rejection of the append whose prevLogIndex was `rejected`; `matchHint` is the leader's guess
   * of the last matching index from the follower's hint. Returns false when the rejection is stale.
   * `next` never drops below `match + 1` (rule 3).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.becomeProbe();
      this.next = Math.max(this.match + 1, Math.min(rejected, matchHint + 1));
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(this.match + 1, Math.min(rejected, matchHint + 1));
    this.probeSent = false;
    return true;
  }
}
