import type { SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "./crc32c.js";
import { snapshotReadProblem } from "./snapshot-rules.js";
import type { SnapshotReader, SnapshotStaging } from "./storage.js";
import { StorageClosedError, StorageInvalidWriteError } from "./storage-errors.js";

/** What storages without a folder name in their errors. */
export const MEMORY_STORE_PATH = "memory";

/**
 * A snapshot held in memory. Never modified once built: replacing a snapshot builds a new one,
 * so readers of the old one keep reading it (pinned) for as long as they hold it.
 */
export interface MemorySnapshot {
  readonly meta: SnapshotMeta;
  /** The data in order; nobody modifies these bytes. */
  readonly data: readonly Uint8Array[];
  /** Total bytes of `data`. */
  readonly bytes: number;
  /** CRC-32C of `data` as one buffer. */
  readonly checksum: number;
}

/** A snapshot of `meta` over `data`, which the caller hands over (it must not modify it afterwards). */
export function memorySnapshot(meta: SnapshotMeta, data: readonly Uint8Array[]): MemorySnapshot {
  let bytes = 0;
  let checksum = 0;
  for (const chunk of data) {
    bytes += chunk.byteLength;
    checksum = crc32cUpdate(checksum, chunk);
  }
  return { meta, data, bytes, checksum };
}

/**
 * Random access over a {@link MemorySnapshot}. A read inside one chunk returns a view of it (no
 * copy); a read across chunks returns a new buffer.
 */
export class MemorySnapshotReader implements SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly bytes: number;
  readonly checksum: number;
  private readonly data: readonly Uint8Array[];
  /** starts[i] is the offset of data[i] within the snapshot; binary-searched by `read`. */
  private readonly starts: number[];
  private closed = false;

  constructor(
    snapshot: MemorySnapshot,
    private readonly storePath: string = MEMORY_STORE_PATH,
  ) {
    this.meta = snapshot.meta;
    this.bytes = snapshot.bytes;
    this.checksum = snapshot.checksum;
    // Empty chunks hold no bytes and would only confuse the search.
    this.data = snapshot.data.filter((chunk) => chunk.byteLength > 0);
    this.starts = [];
    let offset = 0;
    for (const chunk of this.data) {
      this.starts.push(offset);
      offset += chunk.byteLength;
    }
  }

  read(offset: number, maxBytes: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new StorageClosedError(this.storePath, "the snapshot reader is closed"));
    const problem = snapshotReadProblem(offset, maxBytes);
    if (problem !== undefined) return Promise.reject(new RangeError(problem));
    return Promise.resolve(this.readSync(offset, Math.min(maxBytes, Math.max(0, this.bytes - offset))));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private readSync(offset: number, length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    let chunkIndex = this.chunkAt(offset);
    const first = this.data[chunkIndex] as Uint8Array;
    const within = offset - (this.starts[chunkIndex] as number);
    if (within + length <= first.byteLength) return first.subarray(within, within + length);
    const out = new Uint8Array(length);
    let written = 0;
    let from = within;
    while (written < length) {
      const chunk = this.data[chunkIndex] as Uint8Array;
      const piece = chunk.subarray(from, Math.min(chunk.byteLength, from + length - written));
      out.set(piece, written);
      written += piece.byteLength;
      chunkIndex++;
      from = 0;
    }
    return out;
  }

  /** Index of the chunk holding byte `offset` (< bytes). */
  private chunkAt(offset: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if ((this.starts[middle] as number) <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}

/** Where a staging is in its life. */
type StagingState = "open" | "discarded" | "installed";

/**
 * A snapshot being received, assembled in memory (copies of the appended chunks). Belongs to the
 * storage that created it: `owner` tells a foreign staging apart.
 */
export class MemorySnapshotStaging implements SnapshotStaging {
  private chunks: Uint8Array[] = [];
  private byteCount = 0;
  private crc = 0;
  private state: StagingState = "open";

  constructor(
    readonly meta: SnapshotMeta,
    /** The storage that created this staging. */
    readonly owner: object,
    private readonly storePath: string = MEMORY_STORE_PATH,
  ) {}

  get bytes(): number {
    return this.byteCount;
  }

  get checksum(): number {
    return this.crc;
  }

  append(chunk: Uint8Array): Promise<void> {
    if (this.state !== "open") {
      return Promise.reject(new StorageInvalidWriteError(this.storePath, `the snapshot staging was ${this.state}`));
    }
    if (!(chunk instanceof Uint8Array)) {
      return Promise.reject(new StorageInvalidWriteError(this.storePath, "a snapshot chunk must be a Uint8Array"));
    }
    // A copy: the caller may reuse its buffer once the append resolved.
    this.chunks.push(chunk.slice());
    this.byteCount += chunk.byteLength;
    this.crc = crc32cUpdate(this.crc, chunk);
    return Promise.resolve();
  }

  discard(): Promise<void> {
    if (this.state === "open") {
      this.state = "discarded";
      this.chunks = [];
    }
    return Promise.resolve();
  }

  /** Why this staging cannot be installed into `storage`, or undefined when it can. */
  installProblem(storage: object): string | undefined {
    if (this.owner !== storage) return "the snapshot staging belongs to another storage";
    if (this.state !== "open") return `the snapshot staging was ${this.state}`;
    return undefined;
  }

  /** Hands the staged data over to the installing storage; the staging is spent afterwards. */
  takeData(): Uint8Array[] {
    const chunks = this.chunks;
    this.chunks = [];
    this.state = "installed";
    return chunks;
  }
}
