import type { Entry, HardState, SnapshotMeta } from "../core/types.js";
import { copySnapshotData, snapshotDataProblem, snapshotMetaProblem } from "./snapshot.js";
import {
  EMPTY_HARD_STATE,
  type PersistedState,
  type Storage,
  type StorageWrite,
  type StoredSnapshot,
} from "./storage.js";

const ENTRY_TYPES: ReadonlySet<string> = new Set(["normal", "noop", "config"]);

/** What a write is checked against: the state it would be applied on. */
export interface LogPosition {
  readonly hardState: HardState;
  /** Index of the first entry a write may start at (1 until a snapshot compacts the log, then past the snapshot). */
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Term of the entry at `index`, or undefined when storage does not hold it. */
  termAt(index: number): number | undefined;
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

function isNonNegativeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function hardStateProblem(next: HardState, current: HardState): string | undefined {
  if (typeof next !== "object" || next === null) return "hardState must be an object";
  if (!isNonNegativeInteger(next.term)) return `hardState.term must be a non-negative integer, got ${next.term}`;
  if (typeof next.vote !== "string") return "hardState.vote must be a string";
  if (!isNonNegativeInteger(next.commit)) return `hardState.commit must be a non-negative integer, got ${next.commit}`;
  if (next.term < current.term) return `hardState.term went back from ${current.term} to ${next.term}`;
  if (next.term === current.term && current.vote !== "" && next.vote !== current.vote) {
    return `hardState.vote changed from ${current.vote} to ${next.vote || '""'} within term ${next.term} (rule 1: one vote per term)`;
  }
  if (next.commit < current.commit) return `hardState.commit went back from ${current.commit} to ${next.commit}`;
  return undefined;
}

function entriesProblem(entries: readonly Entry[], position: LogPosition, term: number): string | undefined {
  const first = entries[0];
  if (first === undefined) return undefined;
  if (!isPositiveInteger(first.index)) return `entries[0].index must be a positive integer, got ${first.index}`;
  if (first.index < position.firstIndex) {
    return `entries start at index ${first.index}, before the first stored index ${position.firstIndex}`;
  }
  if (first.index > position.lastIndex + 1) {
    return `entries start at index ${first.index} but the log ends at ${position.lastIndex}: a write may continue the log at most at ${position.lastIndex + 1}`;
  }
  let previousTerm = position.termAt(first.index - 1) ?? 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as Entry;
    if (typeof entry !== "object" || entry === null) return `entries[${i}] must be an entry object`;
    if (entry.index !== first.index + i) {
      return `entries must be contiguous: entries[${i}].index is ${entry.index}, expected ${first.index + i}`;
    }
    if (!isPositiveInteger(entry.term)) return `entries[${i}].term must be a positive integer, got ${entry.term}`;
    if (entry.term < previousTerm) {
      return `entry ${entry.index} has term ${entry.term}, below the previous entry's term ${previousTerm} (log terms never decrease)`;
    }
    if (entry.term > term) return `entry ${entry.index} has term ${entry.term}, above the hard state's term ${term}`;
    if (!ENTRY_TYPES.has(entry.type))
      return `entries[${i}].type must be normal, noop or config, got ${String(entry.type)}`;
    if (!(entry.data instanceof Uint8Array)) return `entries[${i}].data must be a Uint8Array`;
    previousTerm = entry.term;
  }
  return undefined;
}

/**
 * Why `write` cannot be applied on `position`, or undefined when it is valid. Checks the shape of
 * the write and the invariants every Raft node's disk keeps: entries are contiguous and continue
 * the log at most at lastIndex + 1; log terms never decrease and never exceed the current term;
 * the term never decreases; a vote never changes within a term; commit never decreases and never
 * passes the last index.
 */
export function storageWriteProblem(write: StorageWrite, position: LogPosition): string | undefined {
  if (typeof write !== "object" || write === null) return "the write must be an object";
  if (!Array.isArray(write.entries)) return "write.entries must be an array";
  const hardState = write.hardState ?? position.hardState;
  if (write.hardState !== undefined) {
    const problem = hardStateProblem(write.hardState, position.hardState);
    if (problem !== undefined) return problem;
  }
  const problem = entriesProblem(write.entries, position, hardState.term);
  if (problem !== undefined) return problem;
  const lastIndex =
    write.entries.length > 0 ? (write.entries[0] as Entry).index + write.entries.length - 1 : position.lastIndex;
  if (hardState.commit > lastIndex) {
    return `hardState.commit ${hardState.commit} is past the last index ${lastIndex} the write leaves`;
  }
  return undefined;
}

function validatedInitialState(
  initial: PersistedState,
  snapshotData: readonly Uint8Array[] | undefined,
): PersistedState {
  const snapshot = initial.snapshot;
  const fail = (problem: string): never => {
    throw new Error(`invalid initial storage state: ${problem}`);
  };
  if (snapshot !== undefined) {
    const metaProblem = snapshotMetaProblem(snapshot);
    if (metaProblem !== undefined) fail(metaProblem);
    if (snapshotData === undefined) fail("a snapshot needs its data (the second constructor argument)");
    const dataProblem = snapshotDataProblem(snapshotData as readonly Uint8Array[]);
    if (dataProblem !== undefined) fail(dataProblem);
    const first = initial.entries[0];
    if (first !== undefined && first.index !== snapshot.index + 1) {
      fail(`entries must follow the snapshot at ${snapshot.index}, but start at ${first.index}`);
    }
  } else if (snapshotData !== undefined) {
    fail("snapshot data was given without a snapshot");
  }
  const firstIndex = initial.entries[0]?.index ?? (snapshot?.index ?? 0) + 1;
  const empty: LogPosition = {
    hardState: EMPTY_HARD_STATE,
    firstIndex,
    lastIndex: firstIndex - 1,
    termAt: (index) => (snapshot !== undefined && index === snapshot.index ? snapshot.term : undefined),
  };
  const problem = storageWriteProblem(initial, empty);
  if (problem !== undefined) fail(problem);
  return initial;
}

/**
 * Storage that keeps everything in memory, for tests, browsers and nodes that need no disk.
 * Writes apply synchronously and the returned promise is already resolved (no timers). Invalid
 * writes are rejected with an Error that says what is wrong, and change nothing. `close()` keeps
 * the data, so a test can restart a node on the same storage.
 *
 * Snapshots: `saveSnapshot` keeps a copy of the data and drops entries up to its `compactTo`;
 * `installSnapshot` keeps a copy and drops every entry. `load()` returns the snapshot's meta and
 * the entries after it (entries of the trailing window at or below the snapshot index stay stored
 * until a later compaction, but a restarted node does not need them).
 *
 * @example
 * const storage = new MemoryStorage();
 * await storage.write({ hardState: { term: 1, vote: "n1", commit: 0 }, entries: [] });
 * const { hardState } = await storage.load(); // { term: 1, vote: "n1", commit: 0 }
 */
export class MemoryStorage implements Storage, LogPosition {
  private currentHardState: HardState;
  /** entries[i] holds index entriesFrom + i; appending is amortised O(1), truncation sets the length. */
  private readonly entries: Entry[];
  private entriesFrom: number;
  private snapshot: StoredSnapshot | undefined;

  /**
   * Starts from `initial` (validated like a write; its entries must follow `initial.snapshot`),
   * or empty. `snapshotData` is the data of `initial.snapshot`, required with it.
   * @throws Error naming the problem when the initial state is invalid.
   */
  constructor(initial?: PersistedState, snapshotData?: readonly Uint8Array[]) {
    const state = initial === undefined ? undefined : validatedInitialState(initial, snapshotData);
    this.currentHardState = { ...(state?.hardState ?? EMPTY_HARD_STATE) };
    this.entries = state === undefined ? [] : state.entries.slice();
    const snapshot = state?.snapshot;
    this.entriesFrom = state?.entries[0]?.index ?? (snapshot?.index ?? 0) + 1;
    this.snapshot =
      snapshot === undefined
        ? undefined
        : { meta: copyMeta(snapshot), data: copySnapshotData(snapshotData as readonly Uint8Array[]) };
  }

  get hardState(): HardState {
    return this.currentHardState;
  }

  /** The first index a write may start at: nothing at or below the snapshot is ever rewritten. */
  get firstIndex(): number {
    return Math.max(this.entriesFrom, this.snapshotIndex + 1);
  }

  get lastIndex(): number {
    return Math.max(this.entriesFrom + this.entries.length - 1, this.snapshotIndex);
  }

  /** Index of the stored snapshot, 0 without one. */
  get snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  termAt(index: number): number | undefined {
    const term = this.entries[index - this.entriesFrom]?.term;
    if (term !== undefined) return term;
    return index === this.snapshot?.meta.index ? this.snapshot.meta.term : undefined;
  }

  load(): Promise<PersistedState> {
    return Promise.resolve(this.loadSync());
  }

  /**
   * The stored state, as copies: later writes never change what this returned. With a snapshot,
   * only the entries after it are returned.
   */
  loadSync(): PersistedState {
    const hardState = { ...this.currentHardState };
    const snapshot = this.snapshot;
    if (snapshot === undefined) return { hardState, entries: this.entries.slice() };
    const skip = Math.max(0, snapshot.meta.index + 1 - this.entriesFrom);
    return { hardState, snapshot: copyMeta(snapshot.meta), entries: this.entries.slice(skip) };
  }

  write(write: StorageWrite): Promise<void> {
    try {
      this.writeSync(write);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Validates and applies one write atomically: its entries replace the stored suffix from
   * `entries[0].index` (rule 4), its hard state replaces the stored one.
   * @throws Error naming the problem; nothing is changed then.
   */
  writeSync(write: StorageWrite): void {
    const problem = storageWriteProblem(write, this);
    if (problem !== undefined) throw new Error(`invalid storage write: ${problem}`);
    const entries = write.entries;
    const first = entries[0];
    if (first !== undefined) {
      if (this.entries.length === 0) this.entriesFrom = first.index;
      else this.entries.length = first.index - this.entriesFrom;
      for (let i = 0; i < entries.length; i++) this.entries.push(entries[i] as Entry);
    }
    if (write.hardState !== undefined) this.currentHardState = { ...write.hardState };
  }

  saveSnapshot(meta: SnapshotMeta, data: readonly Uint8Array[], compactTo: number): Promise<void> {
    try {
      this.saveSnapshotSync(meta, data, compactTo);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Replaces the stored snapshot with a copy of (`meta`, `data`), then drops the entries up to
   * `compactTo`. The log must hold entry `meta.index` with `meta.term`, committed, and the snapshot
   * must be newer than the stored one.
   * @throws Error naming the problem; nothing is changed then.
   */
  saveSnapshotSync(meta: SnapshotMeta, data: readonly Uint8Array[], compactTo: number): void {
    const problem = this.saveProblem(meta, data, compactTo);
    if (problem !== undefined) throw new Error(`invalid snapshot save: ${problem}`);
    this.snapshot = { meta: copyMeta(meta), data: copySnapshotData(data) };
    if (compactTo >= this.entriesFrom) {
      this.entries.splice(0, Math.min(compactTo + 1 - this.entriesFrom, this.entries.length));
      this.entriesFrom = compactTo + 1;
    }
  }

  installSnapshot(meta: SnapshotMeta, data: readonly Uint8Array[]): Promise<void> {
    try {
      this.installSnapshotSync(meta, data);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Replaces the stored snapshot with a copy of (`meta`, `data`) and discards every stored entry:
   * the log restarts after `meta.index`. The hard state is untouched. The snapshot must be newer
   * than the stored one and past the stored commit index (rule 9: committed entries stay).
   * @throws Error naming the problem; nothing is changed then.
   */
  installSnapshotSync(meta: SnapshotMeta, data: readonly Uint8Array[]): void {
    const problem = this.installProblem(meta, data);
    if (problem !== undefined) throw new Error(`invalid snapshot install: ${problem}`);
    this.snapshot = { meta: copyMeta(meta), data: copySnapshotData(data) };
    this.entries.length = 0;
    this.entriesFrom = meta.index + 1;
  }

  loadSnapshot(): Promise<StoredSnapshot | undefined> {
    return Promise.resolve(this.loadSnapshotSync());
  }

  /** The stored snapshot (its chunks are shared: do not modify them), or undefined. */
  loadSnapshotSync(): StoredSnapshot | undefined {
    const snapshot = this.snapshot;
    return snapshot === undefined ? undefined : { meta: copyMeta(snapshot.meta), data: snapshot.data.slice() };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private saveProblem(meta: SnapshotMeta, data: readonly Uint8Array[], compactTo: number): string | undefined {
    const common = this.snapshotProblem(meta, data);
    if (common !== undefined) return common;
    if (!Number.isSafeInteger(compactTo) || compactTo < 0 || compactTo > meta.index) {
      return `compactTo must be an integer in [0, ${meta.index}], got ${String(compactTo)}`;
    }
    const term = this.termAt(meta.index);
    if (term !== meta.term) {
      return `the log holds ${term === undefined ? "no entry" : `term ${term}`} at the snapshot index ${meta.index}, not term ${meta.term}`;
    }
    if (meta.index > this.currentHardState.commit) {
      return `snapshot index ${meta.index} is past the stored commit index ${this.currentHardState.commit} (only committed entries may be snapshotted)`;
    }
    return undefined;
  }

  private installProblem(meta: SnapshotMeta, data: readonly Uint8Array[]): string | undefined {
    const common = this.snapshotProblem(meta, data);
    if (common !== undefined) return common;
    if (meta.index <= this.currentHardState.commit) {
      return `snapshot index ${meta.index} is not past the stored commit index ${this.currentHardState.commit} (rule 9: a snapshot never replaces committed entries)`;
    }
    return undefined;
  }

  private snapshotProblem(meta: SnapshotMeta, data: readonly Uint8Array[]): string | undefined {
    const metaProblem = snapshotMetaProblem(meta);
    if (metaProblem !== undefined) return metaProblem;
    const dataProblem = snapshotDataProblem(data);
    if (dataProblem !== undefined) return dataProblem;
    if (meta.index <= this.snapshotIndex) {
      return `snapshot index ${meta.index} is not newer than the stored snapshot's ${this.snapshotIndex}`;
    }
    return undefined;
  }
}

function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  const { voters, outgoing, learners, addresses } = meta.config;
  const config = { voters: [...voters], outgoing: [...outgoing], learners: [...learners] };
  return {
    index: meta.index,
    term: meta.term,
    config: addresses === undefined ? config : { ...config, addresses: { ...addresses } },
  };
}
