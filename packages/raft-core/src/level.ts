/**
 * @lectern/raft-core/level: durable storage on LevelDB. A separate entry so the main entry never
 * imports LevelDB and stays usable in a browser; `LevelStorage.open()` loads classic-level lazily.
 */

export { crc32c, crc32cUpdate } from "./storage/crc32c.js";
export {
  LEVEL_STORAGE_FORMAT_VERSION,
  LevelStorage,
  type LevelStorageOptions,
  type LevelStorageStats,
  MAX_BATCH_BYTES,
  MAX_WRITES_PER_BATCH,
} from "./storage/level-storage.js";
export {
  nodeSnapshotFileSystem,
  type SnapshotFile,
  type SnapshotFileSystem,
} from "./storage/snapshot-file-system.js";
export {
  CORRUPTION_REMEDY,
  type CorruptRecord,
  StorageClosedError,
  StorageCorruptionError,
  StorageError,
  type StorageErrorCode,
  StorageFormatError,
  StorageIdentityError,
  StorageInvalidWriteError,
  StorageIoError,
  type StorageOperation,
  type StoreIdentity,
} from "./storage/storage-errors.js";
