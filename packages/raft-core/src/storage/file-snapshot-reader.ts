import type { SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "./crc32c.js";
import type { SnapshotRecord } from "./record-codec.js";
import type { SnapshotFile, SnapshotFileSystem } from "./snapshot-file-system.js";
import { snapshotReadProblem } from "./snapshot-rules.js";
import type { SnapshotReader } from "./storage.js";
import { StorageClosedError, StorageCorruptionError, StorageError, StorageIoError } from "./storage-errors.js";

/** Size of the pieces read while verifying a snapshot file: memory stays at one piece. */
export const VERIFY_READ_CHUNK_BYTES = 1024 * 1024;

/** Where the reader's file is and how to report on it. */
export interface FileSnapshotSource {
  readonly fs: SnapshotFileSystem;
  /** Full path of the data file. */
  readonly path: string;
  /** The data folder, for error messages. */
  readonly storePath: string;
  readonly record: SnapshotRecord;
  /** Called once when the reader closes or fails to open (the storage unpins the file). */
  readonly onClose: () => Promise<void>;
}

function corruption(source: FileSnapshotSource, detail: string): StorageCorruptionError {
  return new StorageCorruptionError(
    source.storePath,
    "snapshot",
    source.record.meta.index,
    `snapshot file ${source.path} ${detail}`,
  );
}

/** Reads the whole file once, comparing its length and CRC-32C with the record. */
async function verifyWholeFile(file: SnapshotFile, source: FileSnapshotSource): Promise<void> {
  const piece = new Uint8Array(VERIFY_READ_CHUNK_BYTES);
  let crc = 0;
  let bytes = 0;
  for (;;) {
    const read = await file.readAt(piece, bytes);
    if (read === 0) break;
    crc = crc32cUpdate(crc, piece, 0, read);
    bytes += read;
    if (bytes > source.record.bytes) break;
  }
  if (bytes !== source.record.bytes) {
    const found = bytes > source.record.bytes ? `more than ${source.record.bytes}` : String(bytes);
    throw corruption(source, `holds ${found} bytes, but the snapshot record says ${source.record.bytes}`);
  }
  if (crc !== source.record.checksum) {
    throw corruption(
      source,
      `fails its checksum (recorded ${source.record.checksum.toString(16)}, computed ${crc.toString(16)})`,
    );
  }
}

/**
 * Opens a stored snapshot's data file for random-access reads.
 *
 * Verification happens here, once: the whole file is read (in pieces of
 * {@link VERIFY_READ_CHUNK_BYTES}) and its length and CRC-32C compared with the snapshot record,
 * so a reader never hands out a byte of a damaged file, and a restore never starts on one. Reads
 * afterwards check only that the file still has the bytes asked for. The cost is one extra
 * sequential read of the file per open.
 *
 * @throws StorageCorruptionError when the file is damaged; StorageIoError when it cannot be read.
 */
export async function openFileSnapshotReader(source: FileSnapshotSource): Promise<SnapshotReader> {
  let file: SnapshotFile;
  try {
    file = await source.fs.openForReading(source.path);
  } catch (error) {
    await source.onClose();
    if ((error as { code?: unknown } | null)?.code === "ENOENT") throw corruption(source, "is missing");
    throw new StorageIoError(source.storePath, "read", error);
  }
  try {
    await verifyWholeFile(file, source);
  } catch (error) {
    await file.close().catch(() => undefined);
    await source.onClose();
    if (error instanceof StorageError) throw error;
    throw new StorageIoError(source.storePath, "read", error);
  }
  return new FileSnapshotReader(file, source);
}

class FileSnapshotReader implements SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly bytes: number;
  readonly checksum: number;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly file: SnapshotFile,
    private readonly source: FileSnapshotSource,
  ) {
    this.meta = source.record.meta;
    this.bytes = source.record.bytes;
    this.checksum = source.record.checksum;
  }

  async read(offset: number, maxBytes: number): Promise<Uint8Array> {
    if (this.closing !== undefined)
      throw new StorageClosedError(this.source.storePath, "the snapshot reader is closed");
    const problem = snapshotReadProblem(offset, maxBytes);
    if (problem !== undefined) throw new RangeError(problem);
    const length = Math.min(maxBytes, Math.max(0, this.bytes - offset));
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      let read: number;
      try {
        read = await this.file.readAt(out.subarray(filled), offset + filled);
      } catch (error) {
        throw new StorageIoError(this.source.storePath, "read", error);
      }
      if (read === 0) throw corruption(this.source, `ended at ${offset + filled} bytes while being read`);
      filled += read;
    }
    return out;
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      // The handle closes before the storage may delete a replaced file.
      this.closing = this.file
        .close()
        .catch(() => undefined)
        .then(() => this.source.onClose());
    }
    return this.closing;
  }
}
