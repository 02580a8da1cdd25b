import type { Entry, HardState, SnapshotMeta } from "../core/types.js";
import {
  MEMORY_STORE_PATH,
  type MemorySnapshot,
  MemorySnapshotReader,
  MemorySnapshotStaging,
  memorySnapshot,
} from "./memory-snapshot.js";
import { copySnapshotData, snapshotDataProblem, snapshotMetaProblem } from "./snapshot.js";
import { snapshotInstallProblem, snapshotSaveProblem } from "./snapshot-rules.js";
import {
  EMPTY_HARD_STATE,
  type PersistedState,
  type SnapshotChunks,
  type SnapshotReader,
  type SnapshotStaging,
  type Storage,
  type StorageWrite,
} from "./storage.js";
import { StorageInvalidWriteError } from "./storage-errors.js";

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
 * Snapshots: `saveSnapshot` keeps a copy of the data (as chunks) and drops entries up to its
 * `compactTo`; `stageSnapshot` assembles a received snapshot in memory and `installSnapshot` makes
 * it the stored one, dropping every entry. Readers from `openSnapshot` keep reading the snapshot
 * they opened after a newer one replaced it. `load()` returns the snapshot's meta and the entries
 * after it (entries of the trailing window at or below the snapshot index stay stored until a
 * later compaction, but a restarted node does not need them). Refused snapshot operations reject
 * with a `StorageInvalidWriteError` and change nothing.
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
  /** Replaced, never modified: readers opened on an older snapshot keep it (pinned). */
  private snapshot: MemorySnapshot | undefined;

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
        : memorySnapshot(copyMeta(snapshot), copySnapshotData(snapshotData as readonly Uint8Array[]));
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

  /**
   * Stores a snapshot, then drops the entries up to `compactTo` (see {@link saveSnapshotSync}).
   * Chunks are copied as they arrive, so the caller may reuse a buffer once the next chunk is
   * asked for. An array of chunks is stored at once (the promise is already settled); a stream
   * is stored when it ends, checked again then against the log as it stands.
   */
  saveSnapshot(meta: SnapshotMeta, data: SnapshotChunks, compactTo: number): Promise<void> {
    if (Array.isArray(data)) return settled(() => this.saveSnapshotSync(meta, data, compactTo));
    const problem = snapshotSaveProblem(meta, compactTo, this);
    if (problem !== undefined) return Promise.reject(invalid("snapshot save", problem));
    return copiedChunks(data).then((chunks) =>
      this.applySnapshotSave(meta, memorySnapshot(copyMeta(meta), chunks), compactTo),
    );
  }

  /**
   * Replaces the stored snapshot with a copy of (`meta`, `data`), then drops the entries up to
   * `compactTo`. The log must hold entry `meta.index` with `meta.term`, committed, and the snapshot
   * must be newer than the stored one.
   * @throws StorageInvalidWriteError naming the problem; nothing is changed then.
   */
  saveSnapshotSync(meta: SnapshotMeta, data: readonly Uint8Array[], compactTo: number): void {
    const problem = snapshotDataProblem(data) ?? snapshotSaveProblem(meta, compactTo, this);
    if (problem !== undefined) throw invalid("snapshot save", problem);
    this.applySnapshotSave(meta, memorySnapshot(copyMeta(meta), copySnapshotData(data)), compactTo);
  }

  /** Starts assembling a snapshot received from the leader, in memory. */
  stageSnapshot(meta: SnapshotMeta): Promise<SnapshotStaging> {
    const problem = snapshotMetaProblem(meta);
    if (problem !== undefined) return Promise.reject(invalid("snapshot staging", problem));
    return Promise.resolve(new MemorySnapshotStaging(copyMeta(meta), this));
  }

  /**
   * Makes a staging of this storage the stored snapshot and discards every stored entry (see
   * {@link installSnapshotSync}). A staging of another storage, a discarded one or one already
   * installed is refused with a `StorageInvalidWriteError`.
   */
  installSnapshot(staging: SnapshotStaging): Promise<void> {
    return settled(() => {
      const problem =
        staging instanceof MemorySnapshotStaging
          ? (staging.installProblem(this) ?? snapshotInstallProblem(staging.meta, this))
          : "the snapshot staging belongs to another storage";
      if (problem !== undefined) throw invalid("snapshot install", problem);
      const ours = staging as MemorySnapshotStaging;
      this.applySnapshotInstall(memorySnapshot(ours.meta, ours.takeData()));
    });
  }

  /**
   * Replaces the stored snapshot with a copy of (`meta`, `data`) and discards every stored entry:
   * the log restarts after `meta.index`. The hard state is untouched. The snapshot must be newer
   * than the stored one and past the stored commit index (rule 9: committed entries stay).
   * @throws StorageInvalidWriteError naming the problem; nothing is changed then.
   */
  installSnapshotSync(meta: SnapshotMeta, data: readonly Uint8Array[]): void {
    const problem = snapshotDataProblem(data) ?? snapshotInstallProblem(meta, this);
    if (problem !== undefined) throw invalid("snapshot install", problem);
    this.applySnapshotInstall(memorySnapshot(copyMeta(meta), copySnapshotData(data)));
  }

  /**
   * Opens the stored snapshot for reading. The reader keeps reading the snapshot it opened even
   * after a newer one replaced it (nothing is ever modified in place).
   */
  openSnapshot(): Promise<SnapshotReader | undefined> {
    const snapshot = this.snapshot;
    return Promise.resolve(snapshot === undefined ? undefined : new MemorySnapshotReader(snapshot));
  }

  /** The stored snapshot (its meta and chunks are shared: do not modify them), or undefined. */
  loadSnapshotSync(): MemorySnapshot | undefined {
    return this.snapshot;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private applySnapshotSave(meta: SnapshotMeta, snapshot: MemorySnapshot, compactTo: number): void {
    // A stream may have ended after other writes landed: check again on the log as it is now.
    const problem = snapshotSaveProblem(meta, compactTo, this);
    if (problem !== undefined) throw invalid("snapshot save", problem);
    this.snapshot = snapshot;
    if (compactTo >= this.entriesFrom) {
      this.entries.splice(0, Math.min(compactTo + 1 - this.entriesFrom, this.entries.length));
      this.entriesFrom = compactTo + 1;
    }
  }

  private applySnapshotInstall(snapshot: MemorySnapshot): void {
    this.snapshot = snapshot;
    this.entries.length = 0;
    this.entriesFrom = snapshot.meta.index + 1;
  }
}

/** Runs `body` now and reports its outcome as a settled promise. */
function settled(body: () => void): Promise<void> {
  try {
    body();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
}

function invalid(operation: string, problem: string): StorageInvalidWriteError {
  return new StorageInvalidWriteError(MEMORY_STORE_PATH, `${operation}: ${problem}`);
}

/** Copies of every chunk of a stream, taken as each arrives (the producer may reuse its buffer). */
async function copiedChunks(data: SnapshotChunks): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) {
      throw invalid("snapshot save", `snapshot chunk ${chunks.length} is not a Uint8Array`);
    }
    chunks.push(chunk.slice());
  }
  return chunks;
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
