import { join } from "node:path";
import type { SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "./crc32c.js";
import type { SnapshotFile, SnapshotFileSystem } from "./snapshot-file-system.js";

/**
 * Snapshot data files of a LevelStorage live in this folder inside its data folder. LevelDB
 * leaves names it does not recognise alone, so the folder can sit among LevelDB's files.
 */
export const SNAPSHOTS_FOLDER = "snapshots";
/** A stored snapshot's data: `snapshot-<index>-<term>.snap`. */
export const SNAPSHOT_FILE_SUFFIX = ".snap";
/** Data being written or received, not yet stored: removed at the next open. */
export const TEMP_FILE_SUFFIX = ".tmp";
const SNAPSHOT_FILE_PREFIX = "snapshot-";

/** The snapshots folder of the store in `dataFolder`. */
export function snapshotsFolder(dataFolder: string): string {
  return join(dataFolder, SNAPSHOTS_FOLDER);
}

/**
 * The final name of a snapshot's data file. Unique per store: a newer snapshot always has a
 * higher index (saves and installs refuse one that is not newer).
 */
export function snapshotFileName(meta: SnapshotMeta): string {
  return `${SNAPSHOT_FILE_PREFIX}${meta.index}-${meta.term}${SNAPSHOT_FILE_SUFFIX}`;
}

/** A temp file name for the `sequence`-th snapshot this process writes for `meta`. */
export function tempFileName(meta: SnapshotMeta, sequence: number): string {
  return `${SNAPSHOT_FILE_PREFIX}${meta.index}-${meta.term}.${sequence}${TEMP_FILE_SUFFIX}`;
}

/**
 * Deletes every temp file and every snapshot file but `keep` (the recorded one) from `folder`:
 * leftovers of a crash between writing a file and recording it, or of a replaced snapshot a
 * reader still held. Other names are left alone. Call only while holding the store's lock.
 * @returns the names deleted
 */
export async function sweepSnapshotFolder(
  fs: SnapshotFileSystem,
  folder: string,
  keep: string | undefined,
): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.list(folder)) {
    if (name === keep || !name.startsWith(SNAPSHOT_FILE_PREFIX)) continue;
    if (!name.endsWith(TEMP_FILE_SUFFIX) && !name.endsWith(SNAPSHOT_FILE_SUFFIX)) continue;
    await fs.remove(join(folder, name));
    removed.push(name);
  }
  return removed;
}

/**
 * Writes one snapshot's data into a temp file, computing its length and CRC-32C as the bytes
 * arrive (nothing is held in memory), then stores it atomically: fsync the file, rename it to
 * its final name, fsync the folder. A crash before the rename leaves a temp file; after it, a
 * file that no record names yet. Both are swept at the next open.
 */
export class SnapshotFileWriter {
  private byteCount = 0;
  private crc = 0;
  private closed = false;

  private constructor(
    private readonly fs: SnapshotFileSystem,
    private readonly folder: string,
    /** Name of the temp file inside the folder. */
    readonly tempName: string,
    private readonly file: SnapshotFile,
  ) {}

  /** Creates the temp file `tempName` in `folder`. Rejects with the file system's error. */
  static async create(fs: SnapshotFileSystem, folder: string, tempName: string): Promise<SnapshotFileWriter> {
    return new SnapshotFileWriter(fs, folder, tempName, await fs.create(join(folder, tempName)));
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.byteCount;
  }

  /** CRC-32C of the bytes written so far. */
  get checksum(): number {
    return this.crc;
  }

  /**
   * Appends `chunk` to the file; the caller may reuse the buffer once this resolved (and must not
   * change it before). `bytes` and `checksum` count the chunk once it is written.
   */
  async append(chunk: Uint8Array): Promise<void> {
    if (this.closed) throw new Error(`snapshot temp file ${this.tempName} is already closed`);
    await this.file.append(chunk);
    this.crc = crc32cUpdate(this.crc, chunk);
    this.byteCount += chunk.byteLength;
  }

  /**
   * Stores the file under `finalName`: fsync, close, rename, fsync the folder (the syncs are
   * skipped when `sync` is false, for throwaway tests only). On failure the temp file is left
   * for `abort()` or the next open's sweep.
   */
  async commit(finalName: string, sync: boolean): Promise<void> {
    if (sync) await this.file.sync();
    await this.closeFile();
    await this.fs.rename(join(this.folder, this.tempName), join(this.folder, finalName));
    if (sync) await this.fs.syncDirectory(this.folder);
  }

  /** Closes and deletes the temp file, best-effort: an error here is swallowed (the sweep catches it). */
  async abort(): Promise<void> {
    await this.closeFile().catch(() => undefined);
    await this.fs.remove(join(this.folder, this.tempName)).catch(() => undefined);
  }

  private async closeFile(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }
}
