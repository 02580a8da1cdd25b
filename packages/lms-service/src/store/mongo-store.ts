import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { type AnyBulkWriteOperation, type Collection, type Db, MongoClient } from "mongodb";
import { canonicalJson } from "../domain/canonical-json.js";
import { type CollectionName, collectionNames, type LmsCollections } from "../domain/records.js";
import {
  defaultListLimit,
  type Keyed,
  type ListOptions,
  type LmsStore,
  type RecordRef,
  type StoreWrite,
} from "./lms-store.js";
import { decodeSnapshot, encodeSnapshot, type SnapshotRecordText } from "./snapshot-format.js";

/** How long connecting may take before the store gives up (and the contract test skips). */
export const defaultMongoConnectTimeoutMs = 2000;
/** Documents inserted per request while restoring. */
const restoreBatchDocuments = 500;
const metaCollection = "_meta";
const stateId = "state";
const prefixEnd = "\uffff";

/** One record document: the record under `value`, and the applied index of the batch that wrote it. */
interface RecordDocument {
  _id: string;
  value: object;
  appliedIndex: number;
}

interface PendingWrite {
  c: CollectionName;
  k: string;
  /** null deletes. */
  v: object | null;
}

interface StateDocument {
  _id: string;
  appliedIndex: number;
  /** A batch being applied: redone on open, so a crash mid-batch never leaves half of it. */
  pending?: { appliedIndex: number; writes: PendingWrite[] };
  /** A restore in progress: on open the partial data is cleared. */
  restoring?: boolean;
}

export interface MongoLmsStoreOptions {
  /** Database of this node (one per node: e.g. `lectern_n1`). */
  readonly databaseName: string;
  /** See {@link defaultMongoConnectTimeoutMs}. */
  readonly connectTimeoutMs?: number;
  /** Where a snapshot is spooled while it streams (default the OS temp dir). */
  readonly tempDirectory?: string;
}

/**
 * The MongoDB `LmsStore` (`MONGO_URI`, one database per node). One MongoDB collection per LMS
 * collection, documents `{ _id: key, value, appliedIndex }`; every write is an upsert or delete by
 * `_id`, so repeating a batch is harmless. Atomicity without transactions (a standalone server has
 * none): a commit first records the whole batch as `pending` in the `_meta` state document (one
 * atomic document write), then applies it, then moves `appliedIndex` and clears `pending`. Opening
 * the store redoes a pending batch, so a crash at any step ends at the old or the new index, never
 * in between. Writes use `{ w: "majority", j: true }`, so `durableIndex() === appliedIndex()`.
 *
 * Snapshots: MongoDB offers no point-in-time read on a standalone server, so `snapshot()` starts
 * copying the state into a local spool file at once and commits wait until the copy is done; the
 * stream then reads the spool file. Filters are only ever `_id` equality or ranges of keys built
 * from validated ids, so no client string can become a query operator.
 */
export class MongoLmsStore implements LmsStore {
  private applied = 0;
  private copying: Promise<void> | undefined;
  private writing = false;

  private constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    private readonly tempDirectory: string,
  ) {}

  /**
   * Connects (failing after `connectTimeoutMs` when no server answers), finishes a pending batch
   * or clears an interrupted restore, and reads the applied index.
   */
  static async open(uri: string, options: MongoLmsStoreOptions): Promise<MongoLmsStore> {
    const timeoutMs = options.connectTimeoutMs ?? defaultMongoConnectTimeoutMs;
    const client = new MongoClient(uri, {
      serverSelectionTimeoutMS: timeoutMs,
      connectTimeoutMS: timeoutMs,
      writeConcern: { w: "majority", journal: true },
    });
    try {
      await client.connect();
      const store = new MongoLmsStore(client, client.db(options.databaseName), options.tempDirectory ?? tmpdir());
      await store.recover();
      return store;
    } catch (error) {
      await client.close().catch(() => {});
      throw error;
    }
  }

  appliedIndex(): number {
    return this.applied;
  }

  durableIndex(): number {
    return this.applied;
  }

  async get<C extends CollectionName>(collection: C, key: string): Promise<LmsCollections[C] | undefined> {
    const found = await this.records(collection).findOne({ _id: key });
    return found === null ? undefined : (found.value as LmsCollections[C]);
  }

  /** Ignored: each `get` is one indexed `_id` lookup on the server already. */
  async prefetch(_refs: readonly RecordRef[]): Promise<void> {}

  async list<C extends CollectionName>(collection: C, prefix: string, options: ListOptions = {}): Promise<Keyed<C>[]> {
    const after = options.startAfter;
    const lower = after !== undefined && after >= prefix ? { $gt: after } : { $gte: prefix };
    const found = await this.records(collection)
      .find({ _id: { ...lower, $lt: prefix + prefixEnd } })
      .sort({ _id: 1 })
      .limit(options.limit ?? defaultListLimit)
      .toArray();
    return found.map((document) => ({ key: document._id, value: document.value as LmsCollections[C] }));
  }

  async commit(writes: readonly StoreWrite[], appliedIndex: number): Promise<void> {
    if (this.copying !== undefined) await this.copying;
    this.beginWrite("commit");
    try {
      if (!(appliedIndex > this.applied)) {
        throw new Error(`MongoLmsStore.commit: applied index ${appliedIndex} does not follow ${this.applied}`);
      }
      const pending: PendingWrite[] = writes.map((write) => ({
        c: write.collection,
        k: write.key,
        v: write.value === undefined ? null : plain(write.value),
      }));
      const state = this.state();
      await state.updateOne(
        { _id: stateId },
        { $set: { pending: { appliedIndex, writes: pending } } },
        { upsert: true },
      );
      await this.applyWrites(pending, appliedIndex);
      await state.updateOne({ _id: stateId }, { $set: { appliedIndex }, $unset: { pending: "" } });
      this.applied = appliedIndex;
    } finally {
      this.writing = false;
    }
  }

  async sync(): Promise<void> {}

  snapshot(): AsyncIterable<Uint8Array> {
    if (this.writing) throw new Error("MongoLmsStore.snapshot: called while a commit is in flight");
    const spool = join(this.tempDirectory, `lectern-lms-snapshot-${randomUUID()}.ndjson`);
    // Started now, before any later commit can run: commits wait for `copying`.
    const copy = pipeline(encodeSnapshot(this.applied, this.allRecords()), createWriteStream(spool));
    // Commits wait for the copy but never fail with it; the stream's reader gets its error.
    copy.catch(() => {});
    this.copying = copy
      .catch(() => {})
      .finally(() => {
        this.copying = undefined;
      });
    return readSpool(copy, spool);
  }

  async restore(data: AsyncIterable<Uint8Array>): Promise<number> {
    if (this.copying !== undefined) await this.copying;
    this.beginWrite("restore");
    try {
      await this.state().updateOne(
        { _id: stateId },
        { $set: { restoring: true, appliedIndex: 0 }, $unset: { pending: "" } },
        { upsert: true },
      );
      this.applied = 0;
      await this.clearRecords();
      let appliedIndex = 0;
      const batches = new Map<CollectionName, RecordDocument[]>();
      for await (const record of decodeSnapshot(data, (index) => {
        appliedIndex = index;
      })) {
        const batch = batches.get(record.collection) ?? [];
        batch.push({ _id: record.key, value: plain(record.value), appliedIndex });
        batches.set(record.collection, batch);
        if (batch.length >= restoreBatchDocuments) {
          await this.records(record.collection).insertMany(batch, { ordered: true });
          batches.set(record.collection, []);
        }
      }
      for (const [collection, batch] of batches) {
        if (batch.length > 0) await this.records(collection).insertMany(batch, { ordered: true });
      }
      await this.state().updateOne({ _id: stateId }, { $set: { appliedIndex }, $unset: { restoring: "" } });
      this.applied = appliedIndex;
      return appliedIndex;
    } finally {
      this.writing = false;
    }
  }

  async close(): Promise<void> {
    if (this.copying !== undefined) await this.copying.catch(() => {});
    await this.client.close();
  }

  private async recover(): Promise<void> {
    const state = await this.state().findOne({ _id: stateId });
    if (state === null) return;
    if (state.restoring === true) {
      await this.clearRecords();
      await this.state().updateOne(
        { _id: stateId },
        { $set: { appliedIndex: 0 }, $unset: { restoring: "", pending: "" } },
      );
      this.applied = 0;
      return;
    }
    if (state.pending !== undefined) {
      await this.applyWrites(state.pending.writes, state.pending.appliedIndex);
      await this.state().updateOne(
        { _id: stateId },
        { $set: { appliedIndex: state.pending.appliedIndex }, $unset: { pending: "" } },
      );
      this.applied = state.pending.appliedIndex;
      return;
    }
    this.applied = state.appliedIndex;
  }

  /** Upserts and deletes by `_id`, collection by collection, in order; safe to repeat. */
  private async applyWrites(writes: readonly PendingWrite[], appliedIndex: number): Promise<void> {
    const byCollection = new Map<CollectionName, AnyBulkWriteOperation<RecordDocument>[]>();
    for (const write of writes) {
      const operations = byCollection.get(write.c) ?? [];
      operations.push(
        write.v === null
          ? { deleteOne: { filter: { _id: write.k } } }
          : { replaceOne: { filter: { _id: write.k }, replacement: { value: write.v, appliedIndex }, upsert: true } },
      );
      byCollection.set(write.c, operations);
    }
    for (const [collection, operations] of byCollection) {
      await this.records(collection).bulkWrite(operations, { ordered: true });
    }
  }

  private async clearRecords(): Promise<void> {
    for (const collection of collectionNames) await this.records(collection).deleteMany({});
  }

  private async *allRecords(): AsyncGenerator<SnapshotRecordText> {
    for (const collection of collectionNames) {
      for await (const document of this.records(collection).find({}).sort({ _id: 1 })) {
        yield { collection, key: document._id, valueJson: canonicalJson(document.value) };
      }
    }
  }

  private beginWrite(operation: string): void {
    if (this.writing)
      throw new Error(`MongoLmsStore.${operation}: another write is in flight (writes are one at a time)`);
    this.writing = true;
  }

  private records(collection: CollectionName): Collection<RecordDocument> {
    return this.db.collection<RecordDocument>(collection);
  }

  private state(): Collection<StateDocument> {
    return this.db.collection<StateDocument>(metaCollection);
  }
}

/** The value as plain JSON data (no undefined fields, no class instances). */
function plain(value: object): object {
  return JSON.parse(canonicalJson(value));
}

async function* readSpool(copy: Promise<void>, spool: string): AsyncGenerator<Uint8Array> {
  try {
    await copy;
    for await (const chunk of createReadStream(spool)) yield chunk as Buffer;
  } finally {
    await rm(spool, { force: true });
  }
}
