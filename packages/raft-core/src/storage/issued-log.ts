import type { Entry, HardState, SnapshotMeta } from "../core/types.js";
import { FIRST_LOG_INDEX } from "./log-verifier.js";
import type { SnapshotPosition } from "./snapshot-rules.js";

/** An inclusive range of stored indexes to delete; empty when `from > to`. */
export interface IndexRange {
  readonly from: number;
  readonly to: number;
}

/**
 * The log as it will be once every accepted write and snapshot is durable; new writes are
 * validated on it. Tracks the terms of the stored entries (a trailing window at or below the
 * snapshot's index included, so compaction knows what to delete) and the snapshot.
 */
export class IssuedLog implements SnapshotPosition {
  /** terms[i] is the term of the stored entry at storedFrom + i. */
  private terms: number[];
  /** Index of the first stored entry (of terms[0]). */
  private storedFrom: number;
  private snapshot: { readonly index: number; readonly term: number } | undefined;

  constructor(
    public hardState: HardState,
    /** Every stored entry, contiguous, in index order (a trailing window at or below the snapshot included). */
    entries: readonly Entry[],
    snapshot: SnapshotMeta | undefined,
  ) {
    this.snapshot = snapshot === undefined ? undefined : { index: snapshot.index, term: snapshot.term };
    this.terms = entries.map((entry) => entry.term);
    this.storedFrom = entries[0]?.index ?? (snapshot?.index ?? FIRST_LOG_INDEX - 1) + 1;
  }

  get snapshotIndex(): number {
    return this.snapshot?.index ?? 0;
  }

  /** The first index a write may start at: nothing at or below the snapshot is ever rewritten. */
  get firstIndex(): number {
    return Math.max(this.storedFrom, this.snapshotIndex + 1);
  }

  get lastIndex(): number {
    return Math.max(this.lastStoredIndex, this.snapshotIndex);
  }

  /** Index of the last stored entry record; below `storedFrom` when none is stored. */
  get lastStoredIndex(): number {
    return this.storedFrom + this.terms.length - 1;
  }

  termAt(index: number): number | undefined {
    const term = index >= this.storedFrom ? this.terms[index - this.storedFrom] : undefined;
    if (term !== undefined) return term;
    return index === this.snapshot?.index ? this.snapshot.term : undefined;
  }

  /** Entries from `entries[0].index` on replace the stored suffix (rule 4). */
  replaceSuffix(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (this.terms.length === 0) this.storedFrom = first.index;
    else this.terms.length = first.index - this.storedFrom;
    for (const entry of entries) this.terms.push(entry.term);
  }

  /**
   * A snapshot at `meta` is saved and the entries up to `compactTo` are dropped.
   * @returns the stored indexes to delete
   */
  compact(meta: SnapshotMeta, compactTo: number): IndexRange {
    this.snapshot = { index: meta.index, term: meta.term };
    if (compactTo < this.storedFrom) return { from: this.storedFrom, to: this.storedFrom - 1 };
    const dropped = Math.min(compactTo + 1 - this.storedFrom, this.terms.length);
    const range = { from: this.storedFrom, to: this.storedFrom + dropped - 1 };
    this.terms.splice(0, dropped);
    this.storedFrom = compactTo + 1;
    return range;
  }

  /**
   * A snapshot at `meta` is installed: every stored entry is dropped, the log restarts after it.
   * @returns the stored indexes to delete
   */
  install(meta: SnapshotMeta): IndexRange {
    const range = { from: this.storedFrom, to: this.lastStoredIndex };
    this.snapshot = { index: meta.index, term: meta.term };
    this.terms = [];
    this.storedFrom = meta.index + 1;
    return range;
  }
}
