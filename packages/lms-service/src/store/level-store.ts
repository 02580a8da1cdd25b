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

/**
 * Durability policy, decided here: commits are written WITHOUT fsync, and every
 * `syncEveryCommits`-th commit (and every `sync()`) is synced. That is safe because the Raft log
 * already holds every applied entry durably: a crash that loses the unsynced tail of this store
 * rolls it back to an earlier applied index (LevelDB recovers a prefix of its write-ahead log, and
 * the applied index rides in the same batch as the writes), and the runtime re-applies the entries
 * after it, deterministically, with the same results. `durableIndex()` reports the last synced
 * index so the runtime never compacts the log past what this store can lose. A synced LevelDB write
 * makes every earlier write durable too (one sequential log), so syncing one batch in N suffices.
 * Set `syncEveryCommits: 1` to sync every commit (about 2.5x slower on this machine).
 */
export const defaultSyncEveryCommits = 64;

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
}

/**
 * The embedded `LmsStore`: one classic-level (LevelDB) database per node. Record keys are
 * `d/<collection>/<key>`, values canonical JSON; the applied index is `m/appliedIndex`, written in
 * the same batch as the command writes. Snapshots read from an explicit LevelDB snapshot taken at
 * the call, so commits continue while a snapshot streams.
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
  private durable = 0;
  private commitsSinceSync = 0;
  private writing = false;
  /** Bumped whenever a commit or restore changes the data: a read that saw it change fills nothing. */
  private generation = 0;
  /** Full record key -> text of every record of the resident collections. */
  private resident = new Map<string, string>();
  private readonly lists = new ListCache();

  private constructor(
    private readonly db: ClassicLevel<string, string>,
    private readonly syncEveryCommits: number,
    private readonly cache: RecordCache,
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
    const after = options.startAfter === undefined ? undefined : recordKey(collection, options.startAfter);
    const range =
      after !== undefined && after >= start
        ? { gt: after, lt: start + prefixEnd }
        : { gte: start, lt: start + prefixEnd };
    const limit = options.limit ?? defaultListLimit;
    const listKey = listKeyOf(collection, prefix, options.startAfter, limit);
    const skip = collection.length + 3;
    const toKeyed = (entries: ListedTexts) =>
      entries.map(([fullKey, text]) => ({ key: fullKey.slice(skip), value: JSON.parse(text) }));
    const cached = this.lists.get(collection, listKey);
    if (cached !== undefined) return toKeyed(cached);
    const generation = this.lists.generationOf(collection);
    const entries = await this.db.iterator({ ...range, limit }).all();
    this.lists.set(collection, listKey, generation, entries);
    return toKeyed(entries);
  }

  async commit(writes: readonly StoreWrite[], appliedIndex: number): Promise<void> {
    this.beginWrite("commit");
    try {
      if (!(appliedIndex > this.applied)) {
        throw new Error(`LevelLmsStore.commit: applied index ${appliedIndex} does not follow ${this.applied}`);
      }
      const operations = writes.map((write) =>
        write.value === undefined
          ? { type: "del" as const, key: recordKey(write.collection, write.key) }
          : {
              type: "put" as const,
              key: recordKey(write.collection, write.key),
              value: write.text ?? canonicalJson(write.value),
            },
      );
      const recordCount = operations.length;
      operations.push({ type: "put", key: appliedIndexKey, value: String(appliedIndex) });
      const sync = this.commitsSinceSync + 1 >= this.syncEveryCommits;
      try {
        await this.db.batch(operations, { sync });
      } catch (error) {
        // Whether any of it landed is unknown: nothing in memory may claim either way.
        this.forgetMemory();
        await this.loadResident().catch(() => {});
        throw error;
      }
      this.generation++;
      for (const write of writes) this.lists.changed(write.collection);
      for (let i = 0; i < recordCount; i++) {
        const operation = operations[i];
        this.remember(writes[i].collection, operation.key, operation.type === "put" ? operation.value : null);
      }
      this.applied = appliedIndex;
      this.commitsSinceSync = sync ? 0 : this.commitsSinceSync + 1;
      if (sync) this.durable = appliedIndex;
    } finally {
      this.writing = false;
    }
  }

  async sync(): Promise<void> {
    this.beginWrite("sync");
    try {
      const applied = this.applied;
      await this.db.batch([{ type: "put", key: appliedIndexKey, value: String(applied) }], { sync: true });
      this.durable = applied;
      this.commitsSinceSync = 0;
    } finally {
      this.writing = false;
    }
  }

  snapshot(): AsyncIterable<Uint8Array> {
    if (this.writing) throw new Error("LevelLmsStore.snapshot: called while a commit is in flight");
    // Taken synchronously: what the stream yields is the state at this instant.
    const view = this.db.snapshot();
    return encodeSnapshot(this.applied, this.recordsOf(view));
  }

  async restore(data: AsyncIterable<Uint8Array>): Promise<number> {
    this.beginWrite("restore");
    try {
      await this.db.batch(
        [
          { type: "put", key: restoringKey, value: "1" },
          { type: "del", key: appliedIndexKey },
        ],
        { sync: true },
      );
      this.applied = 0;
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
      this.durable = appliedIndex;
      this.commitsSinceSync = 0;
      return appliedIndex;
    } finally {
      this.writing = false;
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** What memory knows of a record: its text, null for "absent", undefined for "ask the disk". */
  private known(collection: CollectionName, fullKey: string): CachedText | undefined {
    if (residentCollections.has(collection)) return this.resident.get(fullKey) ?? null;
    return this.cache.get(fullKey);
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

  private async *recordsOf(
    view: ReturnType<ClassicLevel<string, string>["snapshot"]>,
  ): AsyncGenerator<SnapshotRecordText> {
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

function splitRecordKey(fullKey: string, valueJson: string): SnapshotRecordText {
  const slash = fullKey.indexOf("/", dataStart.length);
  const collection = fullKey.slice(dataStart.length, slash);
  if (!isCollectionName(collection))
    throw new Error(`LevelLmsStore: key ${JSON.stringify(fullKey)} names no collection`);
  return { collection, key: fullKey.slice(slash + 1), valueJson };
}
