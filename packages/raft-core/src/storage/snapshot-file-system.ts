import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";

/** An open snapshot file: appended to while written, read at positions once stored. */
export interface SnapshotFile {
  /** Appends every byte of `bytes` at the end of the file. */
  append(bytes: Uint8Array): Promise<void>;
  /** Reads into `into` from `position`; resolves with the bytes read (0 at the end of the file). */
  readAt(into: Uint8Array, position: number): Promise<number>;
  /** Makes the file's content durable (fsync). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file operations LevelStorage needs for snapshot files. The default is
 * {@link nodeSnapshotFileSystem}; tests wrap it to see every fsync and to inject failures.
 * Paths are absolute or relative to the process's working folder.
 */
export interface SnapshotFileSystem {
  /** Creates the folder (and its parents) if missing; resolves true when it created one. */
  makeDirectory(path: string): Promise<boolean>;
  /** Names of the entries of a folder. */
  list(path: string): Promise<string[]>;
  /** Creates a new, empty file for writing; fails if it exists. */
  create(path: string): Promise<SnapshotFile>;
  /** Opens an existing file for reading. */
  openForReading(path: string): Promise<SnapshotFile>;
  /** Size of a file in bytes, or undefined when there is no such file. */
  size(path: string): Promise<number | undefined>;
  /** Atomically renames a file, replacing any file at `to`. */
  rename(from: string, to: string): Promise<void>;
  /** Makes the folder's entries (creations, renames) durable: fsync of the folder. */
  syncDirectory(path: string): Promise<void>;
  /** Deletes a file; deleting a missing file succeeds. */
  remove(path: string): Promise<void>;
}

class NodeSnapshotFile implements SnapshotFile {
  private end = 0;
  constructor(private readonly handle: FileHandle) {}

  async append(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.byteLength) {
      const result = await this.handle.write(bytes, written, bytes.byteLength - written, this.end);
      written += result.bytesWritten;
      this.end += result.bytesWritten;
    }
  }

  async readAt(into: Uint8Array, position: number): Promise<number> {
    const result = await this.handle.read(into, 0, into.byteLength, position);
    return result.bytesRead;
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function isMissing(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ENOENT";
}

/** Snapshot files on the local disk through `node:fs/promises`. */
export const nodeSnapshotFileSystem: SnapshotFileSystem = {
  makeDirectory: async (path) => (await mkdir(path, { recursive: true })) !== undefined,
  list: (path) => readdir(path),
  create: async (path) => new NodeSnapshotFile(await open(path, "wx")),
  openForReading: async (path) => new NodeSnapshotFile(await open(path, "r")),
  async size(path) {
    try {
      return (await stat(path)).size;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  },
  rename: (from, to) => rename(from, to),
  async syncDirectory(path) {
    const handle = await open(path, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  async remove(path) {
    try {
      await unlink(path);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  },
};
