import { join } from "node:path";
import {
  asPlainBytes,
  hardStateKey,
  type LevelDatabase,
  readEntryRecords,
  reading,
  snapshotKey,
} from "./level-records.js";
import { type VerifiedLog, verifyLog } from "./log-verifier.js";
import { decodeSnapshotRecord, type SnapshotRecord } from "./record-codec.js";
import type { SnapshotFileSystem } from "./snapshot-file-system.js";
import { StorageCorruptionError } from "./storage-errors.js";

/** What a LevelStorage folder holds, verified. */
export interface VerifiedStore {
  readonly log: VerifiedLog;
  /** The snapshot record, when a snapshot is stored; its file exists with the recorded size. */
  readonly snapshot: SnapshotRecord | undefined;
}

/** Where the store's records and snapshot files are. */
export interface StoreLocation {
  readonly db: LevelDatabase;
  /** The data folder, for error messages. */
  readonly storePath: string;
  readonly fs: SnapshotFileSystem;
  /** The snapshots folder. */
  readonly snapshotFolder: string;
}

/**
 * Reads the snapshot record, if any, and verifies its checksum (not its file).
 * @throws StorageCorruptionError when the record is damaged.
 */
export async function readSnapshotRecord(location: StoreLocation): Promise<SnapshotRecord | undefined> {
  const { db, storePath } = location;
  const value = await reading(storePath, () => db.get(snapshotKey()));
  if (value === undefined) return undefined;
  const decoded = decodeSnapshotRecord(asPlainBytes(value));
  if (!decoded.ok) throw new StorageCorruptionError(storePath, "snapshot", undefined, decoded.problem);
  return decoded.value;
}

/**
 * Reads and verifies the snapshot record, if any, and checks that its data file exists with the
 * recorded length. The file's content is not read here (a snapshot can be large); its checksum is
 * checked when a reader opens it.
 */
async function verifiedSnapshotRecord(location: StoreLocation): Promise<SnapshotRecord | undefined> {
  const { storePath, fs, snapshotFolder } = location;
  const record = await readSnapshotRecord(location);
  if (record === undefined) return undefined;
  const path = join(snapshotFolder, record.fileName);
  const size = await reading(storePath, () => fs.size(path));
  if (size === undefined) {
    throw new StorageCorruptionError(
      storePath,
      "snapshot",
      record.meta.index,
      `snapshot file ${path} is missing (the snapshot record at index ${record.meta.index} needs it)`,
    );
  }
  if (size !== record.bytes) {
    throw new StorageCorruptionError(
      storePath,
      "snapshot",
      record.meta.index,
      `snapshot file ${path} is ${size} bytes, but the snapshot record says ${record.bytes} (truncated or overwritten)`,
    );
  }
  return record;
}

/**
 * Reads every record of the store and verifies it: the snapshot record and its file's size, the
 * hard state, every entry's checksum, and the log's shape against the snapshot (see
 * {@link verifyLog}).
 * @throws StorageCorruptionError for damaged data; StorageIoError when reading fails.
 */
export async function readVerifiedStore(location: StoreLocation): Promise<VerifiedStore> {
  const { db, storePath } = location;
  const snapshot = await verifiedSnapshotRecord(location);
  const hardStateValue = await reading(storePath, () => db.get(hardStateKey()));
  const records = await reading(storePath, () => readEntryRecords(db));
  const log = verifyLog(hardStateValue && asPlainBytes(hardStateValue), records, {
    storePath,
    ...(snapshot === undefined ? {} : { snapshot: { index: snapshot.meta.index, term: snapshot.meta.term } }),
  });
  return { log, snapshot };
}
