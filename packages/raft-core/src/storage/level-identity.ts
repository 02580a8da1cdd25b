import { asBuffer, asPlainBytes, type LevelDatabase, metadataKey, reading, writeBatch } from "./level-records.js";
import type { LevelStorageOptions } from "./level-storage.js";
import { decodeMetadata, encodeMetadata } from "./record-codec.js";
import {
  StorageCorruptionError,
  StorageFormatError,
  StorageIdentityError,
  type StoreIdentity,
} from "./storage-errors.js";

/** The key layout and record encoding this version writes and reads (see record-codec.ts). */
export const LEVEL_STORAGE_FORMAT_VERSION = 1;

/**
 * Checks that the folder belongs to this cluster and node, recording both (and the format
 * version) in a new folder.
 */
export async function checkIdentity(
  db: LevelDatabase,
  storePath: string,
  options: LevelStorageOptions,
  sync: boolean,
): Promise<"created" | "matched"> {
  const stored = await reading(storePath, () => db.get(metadataKey()));
  if (stored === undefined) {
    const anyKey = await reading(storePath, () => db.keys({ limit: 1 }).all());
    if (anyKey.length > 0) {
      throw new StorageCorruptionError(storePath, "metadata", undefined, "it is missing but the store holds data");
    }
    const metadata = encodeMetadata({ formatVersion: LEVEL_STORAGE_FORMAT_VERSION, ...identityOf(options) });
    await writeBatch(db, storePath, [{ type: "put", key: metadataKey(), value: asBuffer(metadata) }], sync);
    return "created";
  }
  const decoded = decodeMetadata(asPlainBytes(stored));
  if (!decoded.ok) throw new StorageCorruptionError(storePath, "metadata", undefined, decoded.problem);
  const found = decoded.value;
  if (found.formatVersion !== LEVEL_STORAGE_FORMAT_VERSION) {
    throw new StorageFormatError(storePath, found.formatVersion, LEVEL_STORAGE_FORMAT_VERSION);
  }
  if (found.clusterId !== options.clusterId || found.nodeId !== options.nodeId) {
    throw new StorageIdentityError(storePath, identityOf(options), found);
  }
  return "matched";
}

function identityOf(options: LevelStorageOptions): StoreIdentity {
  return { clusterId: options.clusterId, nodeId: options.nodeId };
}

/** Throws a TypeError for a missing directory or id, before anything touches the disk. */
export function validateOptions(directory: string, options: LevelStorageOptions): void {
  if (typeof directory !== "string" || directory === "") throw new TypeError("directory must be a non-empty path");
  if (typeof options?.clusterId !== "string" || options.clusterId === "") {
    throw new TypeError("options.clusterId must be a non-empty string");
  }
  if (typeof options.nodeId !== "string" || options.nodeId === "") {
    throw new TypeError("options.nodeId must be a non-empty string");
  }
}
