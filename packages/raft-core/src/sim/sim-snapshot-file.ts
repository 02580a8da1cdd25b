import type { SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "../storage/crc32c.js";
import { snapshotMetaProblem } from "../storage/snapshot.js";
import { snapshotReadProblem } from "../storage/snapshot-rules.js";
import type { SnapshotReader, SnapshotStaging } from "../storage/storage.js";
import { StorageClosedError, StorageCorruptionError, StorageInvalidWriteError } from "../storage/storage-errors.js";

/** Default size of the checksummed blocks a simulated snapshot file is cut into. */
export const DEFAULT_SIM_SNAPSHOT_BLOCK_BYTES = 512;

/** Every stored record and block starts with its CRC-32C, big-endian. */
const CHECKSUM_BYTES = 4;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** What the meta record of a snapshot file says, once verified. */
export interface SnapshotFileHeader {
  readonly meta: SnapshotMeta;
  /** Bytes of the data. */
  readonly bytes: number;
  /** CRC-32C of the whole data. */
  readonly checksum: number;
  readonly blockBytes: number;
}

/** The storage's error for a damaged snapshot file; `index` is the snapshot's, when known. */
export function snapshotCorruption(
  storePath: string,
  index: number | undefined,
  detail: string,
): StorageCorruptionError {
  return new StorageCorruptionError(storePath, "snapshot", index, `snapshot file: ${detail}`);
}

/**
 * A snapshot file on a simulated disk, laid out the way a real one is stored: a meta record
 * (CRC-32C, then the meta, length and whole-data checksum as JSON) and the data cut into blocks
 * of `blockBytes`, each stored as CRC-32C (over the block number and the payload) + payload. Any
 * single flipped bit anywhere in the file fails one of these checksums, so a damaged file is
 * always detected when read: the meta record when the file is opened, a block when it is read.
 *
 * The records are the bytes on the disk: `flipBit` damages them in place, and readers pinned to
 * this file see the damage (it is the same file).
 */
export class SnapshotFile {
  private constructor(
    /** The meta as written: what the storage believes it holds (not re-read from the bytes). */
    readonly meta: SnapshotMeta,
    readonly bytes: number,
    readonly checksum: number,
    readonly blockBytes: number,
    readonly metaRecord: Uint8Array,
    readonly blocks: readonly Uint8Array[],
  ) {}

  /** Lays out `chunks` (copied) as a file; chunk boundaries do not matter. */
  static write(meta: SnapshotMeta, chunks: readonly Uint8Array[], blockBytes: number): SnapshotFile {
    if (!Number.isSafeInteger(blockBytes) || blockBytes < 1) {
      throw new RangeError(`blockBytes must be a positive integer, got ${blockBytes}`);
    }
    let bytes = 0;
    let checksum = 0;
    for (const chunk of chunks) {
      bytes += chunk.byteLength;
      checksum = crc32cUpdate(checksum, chunk);
    }
    const blocks: Uint8Array[] = [];
    let block = new Uint8Array(CHECKSUM_BYTES + Math.min(blockBytes, bytes));
    let used = 0;
    let written = 0;
    for (const chunk of chunks) {
      let from = 0;
      while (from < chunk.byteLength) {
        const take = Math.min(chunk.byteLength - from, blockBytes - used);
        block.set(chunk.subarray(from, from + take), CHECKSUM_BYTES + used);
        used += take;
        from += take;
        written += take;
        if (used === blockBytes) {
          blocks.push(sealBlock(blocks.length, block));
          block = new Uint8Array(CHECKSUM_BYTES + Math.min(blockBytes, bytes - written));
          used = 0;
        }
      }
    }
    if (used > 0) blocks.push(sealBlock(blocks.length, block));
    const header: SnapshotFileHeader = { meta: copyMeta(meta), bytes, checksum, blockBytes };
    return new SnapshotFile(header.meta, bytes, checksum, blockBytes, encodeMetaRecord(header), blocks);
  }

  /** Total bytes of the file: meta record plus blocks (what a torn temp file is a prefix of). */
  fileBytes(): number {
    let total = this.metaRecord.byteLength;
    for (const block of this.blocks) total += block.byteLength;
    return total;
  }

  /** Decodes and verifies the meta record. @throws StorageCorruptionError when it is damaged. */
  readHeader(storePath: string): SnapshotFileHeader {
    const record = this.metaRecord;
    const problem = checksumProblem(record, crc32cUpdate(0, record, CHECKSUM_BYTES));
    if (problem !== undefined) throw snapshotCorruption(storePath, this.meta.index, `the meta record: ${problem}`);
    let header: SnapshotFileHeader;
    try {
      header = JSON.parse(utf8Decoder.decode(record.subarray(CHECKSUM_BYTES))) as SnapshotFileHeader;
    } catch {
      throw snapshotCorruption(storePath, this.meta.index, "the meta record does not decode");
    }
    const metaProblem = snapshotMetaProblem(header.meta);
    if (metaProblem !== undefined)
      throw snapshotCorruption(storePath, this.meta.index, `the meta record: ${metaProblem}`);
    return header;
  }

  /**
   * Up to `maxBytes` of the data from `offset` (a copy), verifying every block it touches.
   * @throws StorageCorruptionError naming the damaged block.
   */
  read(storePath: string, header: SnapshotFileHeader, offset: number, maxBytes: number): Uint8Array {
    const end = Math.min(header.bytes, offset + maxBytes);
    if (offset >= end) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    const size = header.blockBytes;
    for (let b = Math.floor(offset / size); b * size < end; b++) {
      const payload = this.verifiedBlock(storePath, header, b);
      const blockStart = b * size;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + payload.byteLength) - blockStart;
      out.set(payload.subarray(from, to), blockStart + from - offset);
    }
    return out;
  }

  /**
   * Verifies the whole file: the meta record, every block and the whole-data checksum.
   * @throws StorageCorruptionError at the first damage found.
   */
  verify(storePath: string): SnapshotFileHeader {
    const header = this.readHeader(storePath);
    const expectedBlocks = Math.ceil(header.bytes / header.blockBytes);
    if (this.blocks.length !== expectedBlocks) {
      throw snapshotCorruption(
        storePath,
        header.meta.index,
        `${this.blocks.length} blocks, the meta says ${expectedBlocks}`,
      );
    }
    let checksum = 0;
    for (let b = 0; b < this.blocks.length; b++) {
      checksum = crc32cUpdate(checksum, this.verifiedBlock(storePath, header, b));
    }
    if (checksum !== header.checksum) {
      throw snapshotCorruption(
        storePath,
        header.meta.index,
        `the data's checksum is ${hex(checksum)}, the meta says ${hex(header.checksum)}`,
      );
    }
    return header;
  }

  private verifiedBlock(storePath: string, header: SnapshotFileHeader, b: number): Uint8Array {
    const block = this.blocks[b];
    const where = `snapshot ${header.meta.index}/${header.meta.term} block ${b}`;
    if (block === undefined) throw snapshotCorruption(storePath, header.meta.index, `${where} is missing`);
    const problem = checksumProblem(block, blockChecksum(b, block));
    if (problem !== undefined) throw snapshotCorruption(storePath, header.meta.index, `${where}: ${problem}`);
    const payload = block.subarray(CHECKSUM_BYTES);
    const full = Math.min(header.blockBytes, header.bytes - b * header.blockBytes);
    if (payload.byteLength !== full) {
      throw snapshotCorruption(
        storePath,
        header.meta.index,
        `${where} holds ${payload.byteLength} bytes, expected ${full}`,
      );
    }
    return payload;
  }
}

/** CRC-32C over the block number (4 bytes) and the payload, so a block in the wrong place fails too. */
function blockChecksum(blockNumber: number, block: Uint8Array): number {
  const number = new Uint8Array(4);
  new DataView(number.buffer).setUint32(0, blockNumber);
  return crc32cUpdate(crc32cUpdate(0, number), block, CHECKSUM_BYTES);
}

function sealBlock(blockNumber: number, block: Uint8Array): Uint8Array {
  new DataView(block.buffer, block.byteOffset).setUint32(0, blockChecksum(blockNumber, block));
  return block;
}

function encodeMetaRecord(header: SnapshotFileHeader): Uint8Array {
  const body = utf8Encoder.encode(JSON.stringify(header));
  const record = new Uint8Array(CHECKSUM_BYTES + body.byteLength);
  record.set(body, CHECKSUM_BYTES);
  new DataView(record.buffer).setUint32(0, crc32cUpdate(0, record, CHECKSUM_BYTES));
  return record;
}

/** Why the CRC stored at the start of `record` differs from `computed`, or undefined. */
function checksumProblem(record: Uint8Array, computed: number): string | undefined {
  if (record.byteLength < CHECKSUM_BYTES) return `${record.byteLength} bytes, too short for its checksum`;
  const stored = new DataView(record.buffer, record.byteOffset, record.byteLength).getUint32(0);
  return stored === computed ? undefined : `checksum mismatch (stored ${hex(stored)}, computed ${hex(computed)})`;
}

function hex(value: number): string {
  return value.toString(16).padStart(8, "0");
}

function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  const { voters, outgoing, learners, addresses } = meta.config;
  const config = { voters: [...voters], outgoing: [...outgoing], learners: [...learners] };
  return {
    index: meta.index,
    term: meta.term,
    config: addresses === undefined ? config : { ...config, addresses: { ...addresses } },
  };
}

/**
 * A reader of one snapshot file. It holds the file itself, so it stays readable after a newer
 * snapshot replaced it (an open file survives its unlink), and it sees damage done to it.
 */
export class SimSnapshotReader implements SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly bytes: number;
  readonly checksum: number;
  private closed = false;

  constructor(
    private readonly file: SnapshotFile,
    private readonly header: SnapshotFileHeader,
    private readonly storePath: string,
  ) {
    this.meta = header.meta;
    this.bytes = header.bytes;
    this.checksum = header.checksum;
  }

  read(offset: number, maxBytes: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new StorageClosedError(this.storePath, "the snapshot reader is closed"));
    const problem = snapshotReadProblem(offset, maxBytes);
    if (problem !== undefined) return Promise.reject(new RangeError(`snapshot read: ${problem}`));
    try {
      return Promise.resolve(this.file.read(this.storePath, this.header, offset, maxBytes));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** Where a staging stands; only an open one accepts bytes and can be installed. */
type StagingState = "open" | "discarded" | "installed";

/**
 * A snapshot received from a leader, assembled in a temp file of a SimStorage. Appends land at
 * once (in the page cache); nothing of it is durable until `installSnapshot` syncs it. A crash
 * deletes it: `epoch` tells the storage which life of the disk it belongs to.
 */
export class SimSnapshotStaging implements SnapshotStaging {
  bytes = 0;
  checksum = 0;
  private state: StagingState = "open";
  private chunks: Uint8Array[] = [];

  constructor(
    readonly owner: object,
    readonly epoch: number,
    readonly meta: SnapshotMeta,
    private readonly storePath: string,
  ) {}

  append(chunk: Uint8Array): Promise<void> {
    if (this.state !== "open") {
      return Promise.reject(new StorageInvalidWriteError(this.storePath, `append to a staging that was ${this.state}`));
    }
    if (!(chunk instanceof Uint8Array)) {
      return Promise.reject(
        new StorageInvalidWriteError(this.storePath, "a staged snapshot chunk must be a Uint8Array"),
      );
    }
    this.chunks.push(chunk.slice());
    this.bytes += chunk.byteLength;
    this.checksum = crc32cUpdate(this.checksum, chunk);
    return Promise.resolve();
  }

  discard(): Promise<void> {
    if (this.state === "open") this.state = "discarded";
    this.chunks = [];
    return Promise.resolve();
  }

  /** Why this staging cannot be installed, or undefined. */
  installProblem(): string | undefined {
    return this.state === "open" ? undefined : `the staging was ${this.state}`;
  }

  /** Hands the staged bytes over for an install; the staging cannot be used again. */
  takeChunks(): readonly Uint8Array[] {
    const chunks = this.chunks;
    this.chunks = [];
    this.state = "installed";
    return chunks;
  }
}
