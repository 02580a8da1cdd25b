import type { Entry } from "./types.js";

/**
 * The core's in-memory log: every entry after the snapshot point, plus what is known durable.
 *
 * Invariants: applied ≤ commit ≤ lastIndex; stableIndex ≤ lastIndex; entries are contiguous from
 * `offset + 1`; terms never decrease along the log.
 */
export class RaftLog {
  private entries: Entry[];
  /** Index of the last entry covered by a snapshot (0 without one). */
  private offset: number;
  private offsetTerm: number;
  /** Highest index whose durable content equals the in-memory prefix up to it. */
  stableIndex: number;
  /** First index not yet handed to the caller for persisting. */
  persistFrom: number;
  commit: number;
  /** Highest committed index handed to the caller for applying. */
  applied: number;

  /**
   * `entries` follow the snapshot point (`snapshotIndex`, `snapshotTerm`), or index 0 without a
   * snapshot. Throws when the stored state contradicts itself.
   */
  constructor(entries: readonly Entry[], commit: number, applied: number, snapshotIndex = 0, snapshotTerm = 0) {
    this.entries = [...entries];
    this.offset = snapshotIndex;
    this.offsetTerm = snapshotTerm;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e.index !== this.offset + 1 + i)
        throw new Error(`RaftLog: stored entries are not contiguous at index ${e.index}`);
      const before = i > 0 ? this.entries[i - 1].term : this.offsetTerm;
      if (e.term < before) throw new Error(`RaftLog: term decreases at index ${e.index}`);
    }
    this.stableIndex = this.lastIndex();
    this.persistFrom = this.lastIndex() + 1;
    if (commit > this.lastIndex())
      throw new Error(`RaftLog: commit ${commit} is past the last stored index ${this.lastIndex()}`);
    // A snapshot is committed by definition, and so is whatever a durable state machine already
    // applied, even if the stored hard state lags behind (the commit index is written lazily).
    this.commit = Math.max(commit, this.offset, Math.min(applied, this.lastIndex()));
    this.applied = Math.min(Math.max(applied, this.offset), this.commit);
  }

  /** Index of the snapshot point: entries at or below it are compacted away. */
  snapshotIndex(): number {
    return this.offset;
  }

  snapshotTerm(): number {
    return this.offsetTerm;
  }

  /**
   * Drops entries up to `index` (already applied and durable, and covered by a snapshot the caller
   * stored). Returns false when `index` is not compactable.
   */
  compact(index: number): boolean {
    if (index <= this.offset || index > this.applied || index > this.stableIndex) return false;
    const term = this.termAt(index) as number;
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
    return true;
  }

  /**
   * Replaces the log with a snapshot's point (thesis §5.3): everything before it is in the
   * snapshot, everything after it is discarded because it did not match.
   */
  restore(index: number, term: number): void {
    this.entries = [];
    this.offset = index;
    this.offsetTerm = term;
    this.commit = index;
    this.applied = index;
    this.stableIndex = index;
    this.persistFrom = index + 1;
  }

  /**
   * The follower already holds the snapshot's last entry: keep the suffix, forget the prefix
   * (rule 9), and move commit up to the snapshot point.
   */
  compactTo(index: number): void {
    const term = this.termAt(index) as number;
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
    if (this.commit < index) this.commit = index;
    if (this.applied < index) this.applied = index;
    if (this.stableIndex < index) this.stableIndex = index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.termAt(this.lastIndex()) ?? 0;
  }

  /** Term of the entry at `index`, or undefined when it is not in the log. */
  termAt(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1].term;
  }

  entryAt(index: number): Entry {
    const e = this.entries[index - this.offset - 1];
    if (e === undefined)
      throw new Error(`RaftLog.entryAt: index ${index} is outside [${this.firstIndex()}, ${this.lastIndex()}]`);
    return e;
  }

  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** §3.6.1: a log is at least as up to date if its last term is higher, or equal with a longer log. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Leader append of a brand-new entry. */
  append(entry: Entry): void {
    if (entry.index !== this.lastIndex() + 1) {
      throw new Error(`RaftLog.append: index ${entry.index} does not follow last index ${this.lastIndex()}`);
    }
    this.entries.push(entry);
  }

  /**
   * Follower append (§3.5): `entries` follow `prevIndex`, whose term already matched. Only a real
   * conflict (same index, different term) truncates; a shorter or stale message never removes
   * entries (rule 3). Returns the last index this message covers, or -1 (changing nothing) when
   * the entries conflict with a committed entry, which no correct leader can send.
   */
  appendAfter(prevIndex: number, entries: readonly Entry[]): number {
    const lastNew = prevIndex + entries.length;
    let i = 0;
    while (i < entries.length) {
      const e = entries[i];
      const mine = this.termAt(e.index);
      if (mine === undefined || mine !== e.term) break;
      i++;
    }
    if (i === entries.length) return lastNew;
    const conflictIndex = entries[i].index;
    if (conflictIndex <= this.commit) return -1;
    this.truncateFrom(conflictIndex);
    for (; i < entries.length; i++) this.entries.push(entries[i]);
    return lastNew;
  }

  /** Drops every entry at or after `index`; the next write rewrites the suffix (rule 4). */
  private truncateFrom(index: number): void {
    this.entries.length = index - this.offset - 1;
    if (this.stableIndex >= index) this.stableIndex = index - 1;
    if (this.persistFrom > index) this.persistFrom = index;
  }

  /** Entries in [lo, hi], at least one when lo ≤ hi, up to about `maxBytes` of data. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi; i++) {
      const e = this.entries[i - this.offset - 1];
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Entries not yet handed out for persisting; marks them handed out. */
  takeUnpersisted(): Entry[] {
    const last = this.lastIndex();
    if (this.persistFrom > last) return [];
    const out = this.entries.slice(this.persistFrom - this.offset - 1);
    this.persistFrom = last + 1;
    return out;
  }

  /** The write ending at (index, term) is durable; it counts only if the log still holds that entry. */
  stableTo(index: number, term: number): void {
    if (this.termAt(index) === term && index > this.stableIndex) this.stableIndex = index;
  }

  commitTo(index: number): boolean {
    if (index <= this.commit) return false;
    if (index > this.lastIndex()) {
      throw new Error(`RaftLog.commitTo: ${index} is past the last index ${this.lastIndex()}`);
    }
    this.commit = index;
    return true;
  }

  /** Committed entries not yet handed out for applying; marks them handed out. */
  takeCommitted(): Entry[] {
    if (this.applied >= this.commit) return [];
    const out = this.entries.slice(this.applied - this.offset, this.commit - this.offset);
    this.applied = this.commit;
    return out;
  }

  /** Largest index ≤ `index` whose term is ≤ `term` (conflict hints, thesis §5.4.2 optimisation). */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    while (i > this.offset) {
      const t = this.termAt(i) as number;
      if (t <= term) return { index: i, term: t };
      i--;
    }
    return { index: this.offset, term: this.offsetTerm };
  }
}
