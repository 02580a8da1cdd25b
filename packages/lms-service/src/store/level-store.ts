import { ClassicLevel } from "classic-level";
import { canonicalJson } from "../domain/canonical-json.js";
import { type CollectionName, isCollectionName, type LmsCollections } from "../domain/records.js";
import { ListCache, type ListedTexts, listKeyOf } from "./list-cache.js";
import {
  defaultListLimit,
  type Keyed,
  type ListOptions,
  type LmsStore,
  type RecordRef,
  type StoreWrite,
} from "./lms-store.js";
import { type CachedText, defaultRecordCacheBytes, RecordCache } from "./record-cache.js";
import { decodeSnapshot, encodeSnapshot, type SnapshotRecordText } from "./snapshot-format.js";
import { type FlushBatch, type FlushOperation, UnflushedCommits } from "./unflushed-commits.js";

/**
 * Durability policy, decided here: a commit is accepted in memory at once (reads see it from the
 * unflushed overlay, unflushed-commits.ts) and written to LevelDB in the background, one batch at a
 * time, several commits coalesced per batch, WITHOUT fsync except one batch in every
 * `syncEveryCommits` commits (and on `sync()`). That is safe because the Raft log already holds
 * every applied entry durably: a crash that loses the unwritten or unsynced tail of this store
 * rolls it back to an earlier applied index (each batch holds whole commits and the applied index
 * they reach, and LevelDB recovers a prefix of its write-ahead log), and the runtime re-applies the
 * entries after it, deterministically, with the same results. `durableIndex()` reports the last
 * synced index so the runtime never compacts the log past what this store can lose. A synced
 * LevelDB write makes every earlier write durable too (one sequential log), so syncing one batch
 * in N suffices. Set `syncEveryCommits: 1` to sync every batch.
 *
 * Writing behind takes the disk's round trips (two per apply before: a read and a write) off the
 * path of every proposal, and lets one LevelDB batch carry many applies under load.
 */
export const defaultSyncEveryCommits = 64;

/**
 * Above this many unflushed bytes a commit waits for the disk to catch up, so memory stays
 * bounded when LevelDB is slower than the applies.
 */
export const maxUnflushedBytes = 32 * 1024 * 1024;

/** Records read per step while streaming a snapshot or restoring one. */
const snapshotBatchRecords = 512;

const dataStart = "d/";
// "0" follows "/" in ASCII, so [d/, d0) is exactly the data keys.
const dataEnd = "d0";
const appliedIndexKey = "m/appliedIndex";
const restoringKey = "m/restoring";
// Every key is ASCII, so U+FFFF (UTF-8 EF BF BF) sorts after any key with the same prefix.
const prefixEnd = "\uffff";

/**
 * Collections held whole in memory (kept exact by every commit, loaded at open and restore), so a
 * read of them never touches the disk: the revocation list is read on every authenticated call,
 * mostly for ids it does not hold. It grows by one small record per logout.
 */
const residentCollections: ReadonlySet<CollectionName> = new Set<CollectionName>(["revokedTokens"]);

export interface LevelLmsStoreOptions {
  /** Sync one commit in this many (default {@link defaultSyncEveryCommits}); 1 syncs all. */
  readonly syncEveryCommits?: number;
  /** Bound of the in-memory record cache (default {@link defaultRecordCacheBytes}); 0 turns it off. */
  readonly cacheBytes?: number;
  /**
   * Test seam: awaited before each background batch is written, with what it will write. Lets a
   * test hold the disk behind the applies and look at every batch.
   */
  readonly beforeFlush?: (batch: FlushBatch) => Promise<void>;
}

type LevelView = ReturnType<ClassicLevel<string, string>["snapshot"]>;

/** Someone waiting for the disk to reach an applied index (a snapshot or a `sync()`). */
interface IndexWaiter<T> {
  readonly index: number;
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The embedded `LmsStore`: one classic-level (LevelDB) database per node. Record keys are
 * `d/<collection>/<key>`, values canonical JSON; the applied index is `m/appliedIndex`, written in
 * the same batch as the command writes. Snapshots read from an explicit LevelDB snapshot taken when
 * the disk holds exactly the state of the call, so commits continue while a snapshot streams.
 *
 * Reads are served from memory where possible: a bounded cache of record texts (and of known-absent
 * keys, record-cache.ts) and of short list results (list-cache.ts) that every commit writes through
 * or retires, and the resident collections. The cache is coherent
 * because this store's own commits are the only writes: a read fills the cache only if no commit
 * or restore finished while it was reading (else it might hold a value older than the commit's).
 *
 * @example
 * const store = await LevelLmsStore.open("/data/n1/lms");
 * await store.commit([{ collection: "courses", key: "c1", value: course }], 7);
 */
export class LevelLmsStore implements LmsStore {
  private applied = 0;
  /** The applied index the disk holds (written, maybe not synced). */
  private flushedIndex = 0;
  private durable = 0;
  private commitsSinceSync = 0;
  /** A restore runs: no commit may start. */
  private writing = false;
  private readonly unflushed = new UnflushedCommits(collectionPrefixOf);
  /** The background flush running now, if any. */
  private flushing: Promise<void> | undefined;
  /** A background write failed: the disk no longer matches memory and every later write fails. */
  private flushError: Error | undefined;
  private snapshotWaiters: IndexWaiter<LevelView>[] = [];
  private syncWaiters: IndexWaiter<void>[] = [];
  /** Bumped whenever a commit or restore changes the data: a read that saw it change fills nothing. */
  private generation = 0;
  /** Full record key -> text of every record of the resident collections. */
  private resident = new Map<string, string>();
  private readonly lists = new ListCache();

  private constructor(
    private readonly db: ClassicLevel<string, string>,
    private readonly syncEveryCommits: number,
    private readonly cache: RecordCache,
    private readonly beforeFlush: ((batch: FlushBatch) => Promise<void>) | undefined,
  ) {}

  /**
   * Opens (creating if needed) the database at `location`. A restore interrupted by a crash left
   * the `m/restoring` mark: the partial data is cleared and the store starts empty at index 0.
   */
  static async open(location: string, options: LevelLmsStoreOptions = {}): Promise<LevelLmsStore> {
    const syncEveryCommits = options.syncEveryCommits ?? defaultSyncEveryCommits;
    if (!Number.isSafeInteger(syncEveryCommits) || syncEveryCommits < 1) {
      throw new RangeError(`syncEveryCommits must be a positive integer, got ${syncEveryCommits}`);
    }
    const db = new ClassicLevel<string, string>(location, { keyEncoding: "utf8", valueEncoding: "utf8" });
    await db.open();
    const store = new LevelLmsStore(
      db,
      syncEveryCommits,
      new RecordCache(options.cacheBytes ?? defaultRecordCacheBytes),
      options.beforeFlush,
    );
    if ((await db.get(restoringKey)) !== undefined) {
      await db.clear({ gte: dataStart, lt: dataEnd });
      await db.batch(
        [
          { type: "del", key: appliedIndexKey },
          { type: "del", key: restoringKey },
        ],
        { sync: true },
      );
    }
    const stored = await db.get(appliedIndexKey);
    store.applied = stored === undefined ? 0 : Number(stored);
    store.flushedIndex = store.applied;
    store.durable = store.applied;
    await store.loadResident();
    return store;
  }

  appliedIndex(): number {
    return this.applied;
  }

  durableIndex(): number {
    return this.durable;
  }

  async get<C extends CollectionName>(collection: C, key: string): Promise<LmsCollections[C] | undefined> {
    const fullKey = recordKey(collection, key);
    const known = this.known(collection, fullKey);
    if (known !== undefined) return known === null ? undefined : (JSON.parse(known) as LmsCollections[C]);
    const generation = this.generation;
    const text = await this.db.get(fullKey);
    if (generation === this.generation) this.cache.set(fullKey, text ?? null);
    return text === undefined ? undefined : (JSON.parse(text) as LmsCollections[C]);
  }

  /** Reads the records not in memory in one LevelDB `getMany` and caches them. */
  async prefetch(refs: readonly RecordRef[]): Promise<void> {
    const missing = new Set<string>();
    for (const ref of refs) {
      const fullKey = recordKey(ref.collection, ref.key);
      if (this.known(ref.collection, fullKey) === undefined) missing.add(fullKey);
    }
    if (missing.size === 0) return;
    const keys = [...missing];
    const generation = this.generation;
    const texts = await this.db.getMany(keys);
    if (generation !== this.generation) return;
    for (let i = 0; i < keys.length; i++) this.cache.set(keys[i], texts[i] ?? null);
  }

  async list<C extends CollectionName>(collection: C, prefix: string, options: ListOptions = {}): Promise<Keyed<C>[]> {
    const start = recordKey(collection, prefix);
    const end = start + prefixEnd;
    const after = options.startAfter === undefined ? undefined : recordKey(collection, options.startAfter);
    const range = after !== undefined && after >= start ? { gt: after, lt: end } : { gte: start, lt: end };
    const limit = options.limit ?? defaultListLimit;
    const listKey = listKeyOf(collection, prefix, options.startAfter, limit);
    const skip = collection.length + 3;
    const toKeyed = (entries: ListedTexts) =>
      entries.map(([fullKey, text]) => ({ key: fullKey.slice(skip), value: JSON.parse(text) }));
    const cached = this.lists.get(collection, listKey);
    if (cached !== undefined) return toKeyed(cached);
    const generation = this.lists.generationOf(collection);
    // Taken before the disk read: whatever a flush moves to disk meanwhile, this overlay says it too.
    const overlay = [...this.unflushed.inRange(start, end)].filter(
      ([fullKey]) => after === undefined || fullKey > after,
    );
    const deletes = overlay.filter(([, text]) => text === null).length;
    const fromDisk = await this.db.iterator({ ...range, limit: limit + deletes }).all();
    const entries = overlay.length === 0 ? fromDisk : mergeOverlay(fromDisk, overlay, limit);
    this.lists.set(collection, listKey, generation, entries);
    return toKeyed(entries);
  }

  /**
   * Accepts the commit in memory (every read sees it at once) and queues it for the disk. Resolves
   * at once unless the unflushed backlog is past {@link maxUnflushedBytes}; rejects if an earlier
   * background write failed.
   */
  async commit(writes: readonly StoreWrite[], appliedIndex: number): Promise<void> {
    if (this.flushError !== undefined) throw this.flushError;
    if (this.writing) throw new Error("LevelLmsStore.commit: called while a restore is in flight");
    if (!(appliedIndex > this.applied)) {
      throw new Error(`LevelLmsStore.commit: applied index ${appliedIndex} does not follow ${this.applied}`);
    }
    const operations: FlushOperation[] = writes.map((write) => [
      recordKey(write.collection, write.key),
      write.value === undefined ? null : (write.text ?? canonicalJson(write.value)),
    ]);
    this.unflushed.add(appliedIndex, operations);
    this.generation++;
    for (let i = 0; i < writes.length; i++) {
      this.lists.changed(writes[i].collection);
      this.remember(writes[i].collection, operations[i][0], operations[i][1]);
    }
    this.applied = appliedIndex;
    this.startFlushing();
    while (this.unflushed.bytes > maxUnflushedBytes && this.flushing !== undefined) await this.flushing;
    if (this.flushError !== undefined) throw this.flushError;
  }

  /** Resolves once everything committed before the call is on disk and synced. */
  sync(): Promise<void> {
    if (this.flushError !== undefined) return Promise.reject(this.flushError);
    if (this.durable >= this.applied) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) =>
      this.syncWaiters.push({ index: this.applied, resolve, reject }),
    );
    this.startFlushing();
    return done;
  }

  snapshot(): AsyncIterable<Uint8Array> {
    if (this.writing) throw new Error("LevelLmsStore.snapshot: called while a restore is in flight");
    // The state of this instant: a LevelDB snapshot taken when the disk holds exactly this index
    // (now, or right after the background write that reaches it, before the next one starts).
    const index = this.applied;
    return encodeSnapshot(index, this.recordsOf(this.viewAt(index)));
  }

  async restore(data: AsyncIterable<Uint8Array>): Promise<number> {
    this.beginWrite("restore");
    try {
      // The snapshot supersedes whatever is still queued: let the write in flight end, drop the rest.
      await this.flushing;
      if (this.flushError !== undefined) throw this.flushError;
      this.unflushed.clear();
      this.rejectWaiters(new Error("LevelLmsStore: a restore replaced the state this call waited for"));
      await this.db.batch(
        [
          { type: "put", key: restoringKey, value: "1" },
          { type: "del", key: appliedIndexKey },
        ],
        { sync: true },
      );
      this.applied = 0;
      this.flushedIndex = 0;
      this.durable = 0;
      this.forgetMemory();
      await this.db.clear({ gte: dataStart, lt: dataEnd });
      let appliedIndex = 0;
      let batch = this.db.batch();
      for await (const record of decodeSnapshot(data, (index) => {
        appliedIndex = index;
      })) {
        batch.put(recordKey(record.collection, record.key), canonicalJson(record.value));
        if (batch.length >= snapshotBatchRecords) {
          await batch.write();
          batch = this.db.batch();
        }
      }
      batch.put(appliedIndexKey, String(appliedIndex));
      batch.del(restoringKey);
      await batch.write({ sync: true });
      this.forgetMemory();
      await this.loadResident();
      this.applied = appliedIndex;
      this.flushedIndex = appliedIndex;
      this.durable = appliedIndex;
      this.commitsSinceSync = 0;
      return appliedIndex;
    } finally {
      this.writing = false;
    }
  }

  /** Resolves once every commit accepted so far is on disk (written; synced or not). */
  async whenFlushed(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
    if (this.flushError !== undefined) throw this.flushError;
  }

  /** Writes what is still queued (unless the disk failed), then closes the database. */
  async close(): Promise<void> {
    await this.whenFlushed().catch(() => {});
    this.rejectWaiters(new Error("LevelLmsStore: closed"));
    await this.db.close();
  }

  private startFlushing(): void {
    if (this.flushing !== undefined || this.flushError !== undefined) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
    });
  }

  /**
   * Writes queued commits, oldest first, one batch at a time. A batch never passes the index a
   * snapshot waits for, and the snapshot's view is taken as soon as the disk holds that index.
   */
  private async flushLoop(): Promise<void> {
    for (;;) {
      const batch = this.unflushed.nextBatch(this.snapshotWaiters[0]?.index);
      const syncWanted = this.syncWaiters.length > 0;
      if (batch === undefined && !(syncWanted && this.unflushed.size === 0)) return;
      const commits = batch?.commits ?? 0;
      const index = batch?.appliedIndex ?? this.flushedIndex;
      const sync = syncWanted || this.commitsSinceSync + commits >= this.syncEveryCommits;
      try {
        if (batch !== undefined) await this.beforeFlush?.(batch);
        // A chained batch: each operation goes straight to LevelDB's write batch, without the
        // per-operation object copies an array batch makes (a third of this store's CPU before).
        const write = this.db.batch();
        for (const [key, text] of batch?.operations ?? []) {
          if (text === null) write.del(key);
          else write.put(key, text);
        }
        write.put(appliedIndexKey, String(index));
        await write.write({ sync });
      } catch (error) {
        this.flushError = error instanceof Error ? error : new Error(String(error));
        this.rejectWaiters(this.flushError);
        return;
      }
      if (batch !== undefined) this.unflushed.flushed(batch);
      this.flushedIndex = index;
      this.commitsSinceSync = sync ? 0 : this.commitsSinceSync + commits;
      if (sync) this.durable = index;
      while (this.snapshotWaiters.length > 0 && this.snapshotWaiters[0].index <= index) {
        this.snapshotWaiters.shift()?.resolve(this.db.snapshot());
      }
      this.syncWaiters = this.syncWaiters.filter((waiter) => {
        if (waiter.index > this.durable) return true;
        waiter.resolve();
        return false;
      });
    }
  }

  /** A LevelDB view of exactly the state at `index` (the applied index when asked). */
  private viewAt(index: number): Promise<LevelView> {
    if (this.flushError !== undefined) return Promise.reject(this.flushError);
    if (this.flushedIndex >= index && this.unflushed.size === 0) return Promise.resolve(this.db.snapshot());
    const view = new Promise<LevelView>((resolve, reject) => this.snapshotWaiters.push({ index, resolve, reject }));
    this.startFlushing();
    return view;
  }

  private rejectWaiters(error: Error): void {
    const waiters = [...this.snapshotWaiters, ...this.syncWaiters];
    this.snapshotWaiters = [];
    this.syncWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  /** What memory knows of a record: its text, null for "absent", undefined for "ask the disk". */
  private known(collection: CollectionName, fullKey: string): CachedText | undefined {
    if (residentCollections.has(collection)) return this.resident.get(fullKey) ?? null;
    const unflushed = this.unflushed.get(fullKey);
    return unflushed !== undefined ? unflushed : this.cache.get(fullKey);
  }

  private remember(collection: CollectionName, fullKey: string, text: CachedText): void {
    if (!residentCollections.has(collection)) this.cache.set(fullKey, text);
    else if (text === null) this.resident.delete(fullKey);
    else this.resident.set(fullKey, text);
  }

  private forgetMemory(): void {
    this.generation++;
    this.cache.clear();
    this.lists.clear();
    this.resident.clear();
  }

  /** Reads every record of the resident collections into memory. */
  private async loadResident(): Promise<void> {
    const loaded = new Map<string, string>();
    for (const collection of residentCollections) {
      const start = recordKey(collection, "");
      for await (const [fullKey, text] of this.db.iterator({ gte: start, lt: start + prefixEnd })) {
        loaded.set(fullKey, text);
      }
    }
    this.resident = loaded;
  }

  private beginWrite(operation: string): void {
    if (this.writing)
      throw new Error(`LevelLmsStore.${operation}: another write is in flight (writes are one at a time)`);
    this.writing = true;
  }

  private async *recordsOf(promisedView: Promise<LevelView>): AsyncGenerator<SnapshotRecordText> {
    const view = await promisedView;
    const iterator = this.db.iterator({ gte: dataStart, lt: dataEnd, snapshot: view });
    try {
      for (;;) {
        const entries = await iterator.nextv(snapshotBatchRecords);
        if (entries.length === 0) return;
        for (const [fullKey, valueJson] of entries) yield splitRecordKey(fullKey, valueJson);
      }
    } finally {
      await iterator.close();
      await view.close();
    }
  }
}

function recordKey(collection: CollectionName, key: string): string {
  return `${dataStart}${collection}/${key}`;
}

/**
 * `d/<collection>/` of a record key (a range bound too: every list ranges inside one collection),
 * the overlay's group (unflushed-commits.ts).
 */
function collectionPrefixOf(fullKey: string): string {
  const end = fullKey.indexOf("/", dataStart.length);
  return end === -1 ? fullKey : fullKey.slice(0, end + 1);
}

/**
 * Records read from the disk in key order with the unflushed overlay's entries of the same range
 * laid over them (a null text deletes), in key order, at most `limit`.
 */
function mergeOverlay(
  fromDisk: readonly (readonly [string, string])[],
  overlay: readonly FlushOperation[],
  limit: number,
): [string, string][] {
  const merged = new Map<string, string>();
  for (const [fullKey, text] of fromDisk) merged.set(fullKey, text);
  for (const [fullKey, text] of overlay) {
    if (text === null) merged.delete(fullKey);
    else merged.set(fullKey, text);
  }
  return [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, limit);
}

function splitRecordKey(fullKey: string, valueJson: string): SnapshotRecordText {
  const slash = fullKey.indexOf("/", dataStart.length);
  const collection = fullKey.slice(dataStart.length, slash);
  if (!isCollectionName(collection))
    throw new Error(`LevelLmsStore: key ${JSON.stringify(fullKey)} names no collection`);
  return { collection, key: fullKey.slice(slash + 1), valueJson };
}
