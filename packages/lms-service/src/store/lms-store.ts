import type { CollectionName, LmsCollections } from "../domain/records.js";

/** One write of a command: a record put, or a delete when `value` is undefined. */
export type StoreWrite = {
  [C in CollectionName]: {
    readonly collection: C;
    readonly key: string;
    readonly value: LmsCollections[C] | undefined;
    /**
     * `canonicalJson(value)` when the writer computed it already (a store may use it instead of
     * encoding again); MUST equal it exactly. Absent for a delete.
     */
    readonly text?: string;
  };
}[CollectionName];

/** Names one record: its collection and key. */
export interface RecordRef {
  readonly collection: CollectionName;
  readonly key: string;
}

/** A record found by a list, with its key. */
export interface Keyed<C extends CollectionName> {
  readonly key: string;
  readonly value: LmsCollections[C];
}

export interface ListOptions {
  /** Only keys after this one (for paging: pass the last key of the previous page). */
  readonly startAfter?: string;
  /** At most this many records (default {@link defaultListLimit}). */
  readonly limit?: number;
}

/** Largest page a list returns unless told otherwise; every list is bounded. */
export const defaultListLimit = 1000;

/** Reads of the LMS state; queries and apply both use them. Records returned are fresh copies. */
export interface LmsReader {
  get<C extends CollectionName>(collection: C, key: string): Promise<LmsCollections[C] | undefined>;
  /** Records whose key starts with `prefix`, in key order (byte order: keys are ASCII). */
  list<C extends CollectionName>(collection: C, prefix: string, options?: ListOptions): Promise<Keyed<C>[]>;
}

/**
 * Where the LMS state machine keeps its state. `commit` is the one way to change it: a command
 * batch's writes and the new applied index land together or not at all, so after a crash the
 * store is at some applied index and the Raft log re-applies what follows.
 *
 * Implementations: `LevelLmsStore` (embedded, default), `MongoLmsStore` (`MONGO_URI`) and
 * `MemoryLmsStore` (tests); all pass test/store/contract.ts.
 */
export interface LmsStore extends LmsReader {
  /** The last index whose writes this store holds (0 when empty). */
  appliedIndex(): number;
  /**
   * The last index whose writes survive a crash. Equal to `appliedIndex()` for a store that syncs
   * every commit; lower for one that syncs in batches (Raft must not compact past it).
   */
  durableIndex(): number;
  /**
   * Applies `writes` (in order: a later write to a key wins) and sets the applied index to
   * `appliedIndex`, atomically. `appliedIndex` must be above the current one.
   */
  commit(writes: readonly StoreWrite[], appliedIndex: number): Promise<void>;
  /**
   * A hint that `get`s of these records follow soon, so a store may fetch them together now (one
   * round trip instead of one each). It never changes what any read returns; a store may ignore it.
   */
  prefetch(refs: readonly RecordRef[]): Promise<void>;
  /** Makes everything committed so far durable; afterwards `durableIndex() === appliedIndex()`. */
  sync(): Promise<void>;
  /**
   * The whole state at exactly `appliedIndex()` at the time of the call, as a stream in the format
   * of snapshot-format.ts. Commits may continue while the stream is read and never change it.
   */
  snapshot(): AsyncIterable<Uint8Array>;
  /**
   * Replaces the whole state with a snapshot stream's (format of snapshot-format.ts) and returns
   * its applied index. A crash part-way leaves an empty store (applied index 0), never a mix.
   */
  restore(data: AsyncIterable<Uint8Array>): Promise<number>;
  close(): Promise<void>;
}
