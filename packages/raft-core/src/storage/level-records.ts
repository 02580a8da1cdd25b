import type { ClassicLevel } from "classic-level";
import type { RawRecord } from "./log-verifier.js";
import { ENTRY_KEY_RANGE, HARD_STATE_KEY, METADATA_KEY, SNAPSHOT_KEY } from "./record-codec.js";
import { StorageError, StorageIoError } from "./storage-errors.js";

/** Records fetched per iterator step at load. */
const LOAD_CHUNK_RECORDS = 1024;

/**
 * Keys and values cross into LevelDB as Buffers ("buffer" encoding) through chained batches: on
 * classic-level 3 that costs about 4 us per operation against about 25 us for an array batch
 * of Uint8Arrays, and the per-operation cost is what limits a synced batch of many entries.
 */
export type LevelDatabase = ClassicLevel<Buffer, Buffer>;
export type BatchOperation =
  | { readonly type: "put"; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: "del"; readonly key: Buffer };

/** A Buffer sharing `bytes`' memory (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array over a Buffer's memory, so callers never receive Buffers. */
export function asPlainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Functions rather than constants: importing this module must not touch Node's Buffer.
export const hardStateKey = (): Buffer => asBuffer(HARD_STATE_KEY);
export const metadataKey = (): Buffer => asBuffer(METADATA_KEY);
export const snapshotKey = (): Buffer => asBuffer(SNAPSHOT_KEY);
const entryKeyRange = () => ({ gte: asBuffer(ENTRY_KEY_RANGE.gte), lt: asBuffer(ENTRY_KEY_RANGE.lt) });

/** Writes `operations` as one atomic LevelDB batch; with `sync`, it resolves only once fsynced. */
export function commitBatch(db: LevelDatabase, operations: readonly BatchOperation[], sync: boolean): Promise<void> {
  const batch = db.batch();
  try {
    for (const operation of operations) {
      if (operation.type === "put") batch.put(operation.key, operation.value);
      else batch.del(operation.key);
    }
  } catch (error) {
    void batch.close();
    throw error;
  }
  return batch.write({ sync });
}

/** Writes one batch, turning a failure into a typed I/O error. */
export async function writeBatch(
  db: LevelDatabase,
  storePath: string,
  operations: readonly BatchOperation[],
  sync: boolean,
): Promise<void> {
  try {
    await commitBatch(db, operations, sync);
  } catch (error) {
    throw new StorageIoError(storePath, "write", error);
  }
}

/** Every entry record, in key (= index) order. */
export async function readEntryRecords(db: LevelDatabase): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  const iterator = db.iterator(entryKeyRange());
  try {
    for (;;) {
      const chunk = await iterator.nextv(LOAD_CHUNK_RECORDS);
      if (chunk.length === 0) return records;
      for (const [key, value] of chunk) records.push({ key: asPlainBytes(key), value: asPlainBytes(value) });
    }
  } finally {
    await iterator.close();
  }
}

/** Runs a read, turning a database failure into a typed error (typed errors pass through). */
export async function reading<T>(storePath: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageIoError(storePath, "read", error);
  }
}
