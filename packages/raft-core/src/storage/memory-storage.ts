import type { Entry, HardState } from "../core/types.js";
import { EMPTY_HARD_STATE, type PersistedState, type Storage, type StorageWrite } from "./storage.js";

const ENTRY_TYPES: ReadonlySet<string> = new Set(["normal", "noop", "config"]);

/** What a write is checked against: the state it would be applied on. */
export interface LogPosition {
  readonly hardState: HardState;
  /** Index of the first entry storage can hold (1 until snapshots compact the log). */
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

function validatedInitialState(initial: PersistedState): PersistedState {
  const firstIndex = initial.entries[0]?.index ?? 1;
  const empty: LogPosition = {
    hardState: EMPTY_HARD_STATE,
    firstIndex,
    lastIndex: firstIndex - 1,
    termAt: () => undefined,
  };
  const problem = storageWriteProblem(initial, empty);
  if (problem !== undefined) throw new Error(`invalid initial storage state: ${problem}`);
  return initial;
}

/**
 * Storage that keeps everything in memory, for tests, browsers and nodes that need no disk.
 * Writes apply synchronously and the returned promise is already resolved (no timers). Invalid
 * writes are rejected with an Error that says what is wrong, and change nothing. `close()` keeps
 * the data, so a test can restart a node on the same storage.
 *
 * @example
 * const storage = new MemoryStorage();
 * await storage.write({ hardState: { term: 1, vote: "n1", commit: 0 }, entries: [] });
 * const { hardState } = await storage.load(); // { term: 1, vote: "n1", commit: 0 }
 */
export class MemoryStorage implements Storage, LogPosition {
  private currentHardState: HardState;
  /** entries[i] holds index firstIndex + i; appending is amortised O(1), truncation sets the length. */
  private readonly entries: Entry[];
  readonly firstIndex: number;

  constructor(initial?: PersistedState) {
    const state = initial === undefined ? undefined : validatedInitialState(initial);
    this.currentHardState = { ...(state?.hardState ?? EMPTY_HARD_STATE) };
    this.entries = state === undefined ? [] : state.entries.slice();
    this.firstIndex = state?.entries[0]?.index ?? 1;
  }

  get hardState(): HardState {
    return this.currentHardState;
  }

  get lastIndex(): number {
    return this.firstIndex + this.entries.length - 1;
  }

  termAt(index: number): number | undefined {
    return this.entries[index - this.firstIndex]?.term;
  }

  load(): Promise<PersistedState> {
    return Promise.resolve(this.loadSync());
  }

  /** The stored state, as copies: later writes never change what this returned. */
  loadSync(): PersistedState {
    return { hardState: { ...this.currentHardState }, entries: this.entries.slice() };
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
      this.entries.length = first.index - this.firstIndex;
      for (let i = 0; i < entries.length; i++) this.entries.push(entries[i] as Entry);
    }
    if (write.hardState !== undefined) this.currentHardState = { ...write.hardState };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
