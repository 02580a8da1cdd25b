import { createHash, randomUUID } from "node:crypto";
import { createReadStream, type ReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { sha256Pattern } from "../domain/identifiers.js";
import { defaultMaxFileBytes } from "../domain/limits.js";

/** A file store error the caller can act on; `code` is stable across module copies. */
export class FileStoreError extends Error {
  constructor(
    readonly code:
      | "FILE_TOO_LARGE"
      | "FILE_HASH_MISMATCH"
      | "FILE_SIZE_MISMATCH"
      | "INVALID_FILE_HASH"
      | "FILE_NOT_FOUND",
    message: string,
  ) {
    super(message);
    this.name = "FileStoreError";
  }
}

export interface FileStoreOptions {
  /** Largest file accepted (default {@link defaultMaxFileBytes}, 25 MiB). */
  readonly maxFileBytes?: number;
}

/** Directory holding temporary files while they are written (same file system as the store). */
const tempDirName = "tmp";
/** Directory holding stored files, fanned out by the hash's first two hex digits. */
const objectsDirName = "sha256";

/**
 * Content-addressed file storage under one directory (`FILE_STORAGE_DIR`). A file's path is made
 * only from its SHA-256 hex (`sha256/ab/ab12...`), checked against /^[0-9a-f]{64}$/, so no name a
 * client supplies ever reaches the file system. Storing writes a temporary file, fsyncs it,
 * verifies size and hash, renames it into place and fsyncs the directory: once `store` resolves
 * the file survives a crash, and the state machine moves its applied index past a commit-file
 * entry only after that.
 *
 * @example
 * const files = await FileStore.open("/data/n1/files");
 * await files.store(hash, size, chunks); // throws FileStoreError FILE_HASH_MISMATCH on bad data
 * const stream = await files.openRead(hash);
 */
export class FileStore {
  readonly maxFileBytes: number;

  private constructor(
    readonly directory: string,
    options: FileStoreOptions,
  ) {
    this.maxFileBytes = options.maxFileBytes ?? defaultMaxFileBytes;
    if (!Number.isSafeInteger(this.maxFileBytes) || this.maxFileBytes < 0) {
      throw new RangeError(`maxFileBytes must be a non-negative integer, got ${this.maxFileBytes}`);
    }
  }

  /** Opens the store at `directory` (created if missing) and removes temporary files a crash left. */
  static async open(directory: string, options: FileStoreOptions = {}): Promise<FileStore> {
    const store = new FileStore(directory, options);
    await mkdir(join(directory, objectsDirName), { recursive: true });
    await rm(join(directory, tempDirName), { recursive: true, force: true });
    await mkdir(join(directory, tempDirName), { recursive: true });
    await fsyncDirectory(directory);
    return store;
  }

  /** True when the file with this hash is stored. */
  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha256));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /**
   * Writes `chunks` as the file `sha256`, durably. Already stored: the chunks are still checked
   * (nothing trusts a claimed hash) and the existing file is kept.
   * @param expectedBytes the declared size, or undefined when unknown (a fetch from a peer).
   * @throws FileStoreError FILE_TOO_LARGE past `maxFileBytes` (stops reading at once),
   * FILE_SIZE_MISMATCH or FILE_HASH_MISMATCH when the data is not what was declared,
   * INVALID_FILE_HASH when `sha256` is not 64 lower-case hex digits. Nothing is stored then.
   */
  async store(sha256: string, expectedBytes: number | undefined, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const finalPath = this.pathOf(sha256);
    if (expectedBytes !== undefined && expectedBytes > this.maxFileBytes) throw this.tooLarge(expectedBytes);
    const tempPath = join(this.directory, tempDirName, `${sha256}.${randomUUID()}.part`);
    const handle = await open(tempPath, "wx");
    let renamed = false;
    try {
      const hash = createHash("sha256");
      let bytes = 0;
      for await (const chunk of chunks) {
        bytes += chunk.byteLength;
        if (bytes > this.maxFileBytes) throw this.tooLarge(bytes);
        hash.update(chunk);
        await handle.write(chunk);
      }
      if (expectedBytes !== undefined && bytes !== expectedBytes) {
        throw new FileStoreError(
          "FILE_SIZE_MISMATCH",
          `the file has ${bytes} bytes, but ${expectedBytes} were declared`,
        );
      }
      const actual = hash.digest("hex");
      if (actual !== sha256) {
        throw new FileStoreError("FILE_HASH_MISMATCH", `the file's SHA-256 is ${actual}, but ${sha256} was declared`);
      }
      await handle.sync();
      await handle.close();
      if (await this.has(sha256)) return;
      const fanout = join(this.directory, objectsDirName, sha256.slice(0, 2));
      await mkdir(fanout, { recursive: true });
      await rename(tempPath, finalPath);
      renamed = true;
      await fsyncDirectory(fanout);
      await fsyncDirectory(join(this.directory, objectsDirName));
    } finally {
      await handle.close().catch(() => {});
      if (!renamed) await rm(tempPath, { force: true });
    }
  }

  /** A stream of the stored file. @throws FileStoreError FILE_NOT_FOUND or INVALID_FILE_HASH. */
  async openRead(sha256: string): Promise<ReadStream> {
    const path = this.pathOf(sha256);
    if (!(await this.has(sha256))) throw new FileStoreError("FILE_NOT_FOUND", `no stored file ${sha256}`);
    return createReadStream(path);
  }

  /** Every stored hash (for tests and repair). */
  async list(): Promise<string[]> {
    const hashes: string[] = [];
    for (const fanout of await readdir(join(this.directory, objectsDirName))) {
      for (const name of await readdir(join(this.directory, objectsDirName, fanout))) {
        if (sha256Pattern.test(name)) hashes.push(name);
      }
    }
    return hashes.sort();
  }

  /** The path of a stored file; the hash is checked first, so only hex digits reach the path. */
  pathOf(sha256: string): string {
    if (!sha256Pattern.test(sha256)) {
      throw new FileStoreError("INVALID_FILE_HASH", "a file is named by its SHA-256: 64 lower-case hex digits");
    }
    return join(this.directory, objectsDirName, sha256.slice(0, 2), sha256);
  }

  private tooLarge(bytes: number): FileStoreError {
    return new FileStoreError(
      "FILE_TOO_LARGE",
      `the file is larger than the ${this.maxFileBytes}-byte limit (got at least ${bytes} bytes): upload a smaller file`,
    );
  }
}

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ENOENT";
}
