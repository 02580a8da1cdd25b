import type { SnapshotMeta } from "../core/types.js";
import type { LogPosition } from "./memory-storage.js";
import { snapshotMetaProblem } from "./snapshot.js";

/** What a snapshot save or install is checked against: the log it would apply to, and its snapshot. */
export interface SnapshotPosition extends LogPosition {
  /** Index of the stored snapshot, 0 without one. */
  readonly snapshotIndex: number;
}

/**
 * Why a save of a snapshot at `meta` that compacts up to `compactTo` cannot apply on `position`,
 * or undefined when it can. The log must hold entry `meta.index` with `meta.term`, the snapshot
 * must be newer than the stored one, and `compactTo` must lie in [0, meta.index]. The stored commit
 * index is not a bound: the runtime writes it lazily (it is volatile state, thesis Figure 3.1), and
 * a snapshot is taken only of applied, hence committed, entries.
 */
export function snapshotSaveProblem(
  meta: SnapshotMeta,
  compactTo: number,
  position: SnapshotPosition,
): string | undefined {
  const common = snapshotCommonProblem(meta, position);
  if (common !== undefined) return common;
  if (!Number.isSafeInteger(compactTo) || compactTo < 0 || compactTo > meta.index) {
    return `compactTo must be an integer in [0, ${meta.index}], got ${String(compactTo)}`;
  }
  const term = position.termAt(meta.index);
  if (term !== meta.term) {
    return `the log holds ${term === undefined ? "no entry" : `term ${term}`} at the snapshot index ${meta.index}, not term ${meta.term}`;
  }
  return undefined;
}

/**
 * Why installing a snapshot received from the leader at `meta` cannot apply on `position`, or
 * undefined when it can: it must be newer than the stored snapshot and past the stored commit
 * index (rule 9: a snapshot never replaces committed entries).
 */
export function snapshotInstallProblem(meta: SnapshotMeta, position: SnapshotPosition): string | undefined {
  const common = snapshotCommonProblem(meta, position);
  if (common !== undefined) return common;
  if (meta.index <= position.hardState.commit) {
    return `snapshot index ${meta.index} is not past the stored commit index ${position.hardState.commit} (rule 9: a snapshot never replaces committed entries)`;
  }
  return undefined;
}

function snapshotCommonProblem(meta: SnapshotMeta, position: SnapshotPosition): string | undefined {
  const metaProblem = snapshotMetaProblem(meta);
  if (metaProblem !== undefined) return metaProblem;
  if (meta.index <= position.snapshotIndex) {
    return `snapshot index ${meta.index} is not newer than the stored snapshot's ${position.snapshotIndex}`;
  }
  return undefined;
}

/** Why `offset` and `maxBytes` cannot address a snapshot read, or undefined when they can. */
export function snapshotReadProblem(offset: number, maxBytes: number): string | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0) return `offset must be a non-negative integer, got ${offset}`;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    return `maxBytes must be a non-negative integer, got ${maxBytes}`;
  }
  return undefined;
}
