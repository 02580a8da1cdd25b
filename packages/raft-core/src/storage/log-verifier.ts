import type { Entry, HardState } from "../core/types.js";
import { decodeEntry, decodeHardState, indexOfEntryKey } from "./record-codec.js";
import { EMPTY_HARD_STATE, type PersistedState } from "./storage.js";
import { StorageCorruptionError } from "./storage-errors.js";

/**
 * The first index a log without a snapshot holds. With a snapshot, the stored entries may start
 * anywhere up to the snapshot's index + 1 (a trailing window of compacted entries may remain).
 */
export const FIRST_LOG_INDEX = 1;

/** One stored key/value pair, as read from the database in key order. */
export interface RawRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface VerifiedLog extends PersistedState {
  /**
   * With a snapshot: the stored entries at or below its index (a trailing window kept by a
   * compaction), which `entries` leaves out. Absent without a snapshot.
   */
  readonly window?: readonly Entry[];
}

export interface VerifyOptions {
  /** Where the records came from, for error messages. */
  readonly storePath: string;
  /**
   * The stored snapshot (already verified), if any: the entries must reach it without a gap, the
   * entry at its index (if still stored) must have its term, and only entries after it are
   * returned.
   */
  readonly snapshot?: { readonly index: number; readonly term: number };
}

function verifiedHardState(value: Uint8Array | undefined, storePath: string): HardState {
  if (value === undefined) return EMPTY_HARD_STATE;
  const decoded = decodeHardState(value);
  // A damaged hard state is never a torn tail (rule 11): it may hold a vote already cast.
  if (!decoded.ok) throw new StorageCorruptionError(storePath, "hard-state", undefined, decoded.problem);
  return decoded.value;
}

/**
 * Decodes every entry; any damaged one throws, the last one included. (A write torn by a crash
 * never shows here: LevelDB's own log recovery drops an incomplete batch.)
 */
function decodedEntries(records: readonly RawRecord[], options: VerifyOptions): Entry[] {
  const entries: Entry[] = [];
  for (const { key, value } of records) {
    const index = indexOfEntryKey(key);
    if (index === undefined) {
      throw new StorageCorruptionError(options.storePath, "entry", undefined, "a malformed entry key");
    }
    const decoded = decodeEntry(index, key, value);
    if (!decoded.ok) throw new StorageCorruptionError(options.storePath, "entry", index, decoded.problem);
    entries.push(decoded.value);
  }
  return entries;
}

/** Checks contiguity from the first stored index, non-decreasing terms bounded by the hard state's term. */
function checkLogShape(entries: readonly Entry[], hardState: HardState, storePath: string): void {
  const first = entries[0]?.index ?? FIRST_LOG_INDEX;
  let previousTerm = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as Entry;
    const expected = first + i;
    if (entry.index !== expected) {
      throw new StorageCorruptionError(
        storePath,
        "entry",
        expected,
        `entry ${expected} is missing (next stored is ${entry.index})`,
      );
    }
    if (entry.term < previousTerm) {
      throw new StorageCorruptionError(
        storePath,
        "entry",
        entry.index,
        `its term ${entry.term} is below the previous entry's term ${previousTerm}`,
      );
    }
    if (entry.term > hardState.term) {
      throw new StorageCorruptionError(
        storePath,
        "entry",
        entry.index,
        `its term ${entry.term} is above the hard state's term ${hardState.term}`,
      );
    }
    previousTerm = entry.term;
  }
}

/**
 * Checks where the stored entries stand against the snapshot (or against index 1 without one):
 * no gap before them or between them and the snapshot, and the snapshot's own entry, if stored,
 * has its term.
 */
function checkLogStart(entries: readonly Entry[], options: VerifyOptions): void {
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first === undefined || last === undefined) return;
  const snapshot = options.snapshot;
  if (snapshot === undefined) {
    if (first.index !== FIRST_LOG_INDEX) {
      throw new StorageCorruptionError(
        options.storePath,
        "entry",
        FIRST_LOG_INDEX,
        `entry ${FIRST_LOG_INDEX} is missing (next stored is ${first.index})`,
      );
    }
    return;
  }
  if (first.index > snapshot.index + 1) {
    throw new StorageCorruptionError(
      options.storePath,
      "entry",
      snapshot.index + 1,
      `entry ${snapshot.index + 1} after the snapshot at ${snapshot.index} is missing (next stored is ${first.index})`,
    );
  }
  if (last.index < snapshot.index) {
    throw new StorageCorruptionError(
      options.storePath,
      "entry",
      last.index + 1,
      `entry ${last.index + 1} is missing: the stored entries end before the snapshot at ${snapshot.index}`,
    );
  }
  const atSnapshot = entries[snapshot.index - first.index];
  if (atSnapshot !== undefined && atSnapshot.term !== snapshot.term) {
    throw new StorageCorruptionError(
      options.storePath,
      "entry",
      snapshot.index,
      `its term ${atSnapshot.term} differs from the snapshot's term ${snapshot.term} at that index`,
    );
  }
  const afterSnapshot = entries[snapshot.index + 1 - first.index];
  if (afterSnapshot !== undefined && afterSnapshot.term < snapshot.term) {
    throw new StorageCorruptionError(
      options.storePath,
      "entry",
      afterSnapshot.index,
      `its term ${afterSnapshot.term} is below the snapshot's term ${snapshot.term}`,
    );
  }
}

/**
 * Verifies a stored log before anything from it is used: every checksum, index contiguity from
 * the first to the last index (from 1, or reaching the snapshot), non-decreasing terms, and
 * commit <= last index (the snapshot's index when no entry follows it). Returns only verified
 * data, and only the entries after the snapshot; anything else throws
 * {@link StorageCorruptionError}.
 *
 * @param hardStateValue the stored hard-state value, or undefined when none was ever written
 * @param entryRecords every entry record, in key (= index) order
 */
export function verifyLog(
  hardStateValue: Uint8Array | undefined,
  entryRecords: readonly RawRecord[],
  options: VerifyOptions,
): VerifiedLog {
  const hardState = verifiedHardState(hardStateValue, options.storePath);
  const entries = decodedEntries(entryRecords, options);
  checkLogShape(entries, hardState, options.storePath);
  checkLogStart(entries, options);
  const snapshotIndex = options.snapshot?.index ?? 0;
  const lastIndex = Math.max(entries[entries.length - 1]?.index ?? FIRST_LOG_INDEX - 1, snapshotIndex);
  if (hardState.commit > lastIndex) {
    throw new StorageCorruptionError(
      options.storePath,
      "hard-state",
      undefined,
      `its commit index ${hardState.commit} is past the last entry ${lastIndex}`,
    );
  }
  if (options.snapshot === undefined) return { hardState, entries };
  const windowLength = Math.max(0, snapshotIndex + 1 - (entries[0]?.index ?? lastIndex + 1));
  return { hardState, entries: entries.slice(windowLength), window: entries.slice(0, windowLength) };
}
