/**
 * The binary snapshot format of {@link KvStateMachine}: the applied index and every (key, value)
 * pair in code-unit order, cut into chunks of at most `chunkBytes`.
 *
 * Layout (varints are unsigned LEB128, at most 8 bytes, up to 2^53 - 1):
 * - format version byte 0x01;
 * - varint applied index (the snapshot's index, checked against the meta at restore);
 * - varint pair count;
 * - per pair, keys strictly increasing: varint key byte length, key UTF-8, varint value byte
 *   length, value UTF-8.
 * A record may straddle chunk boundaries; the chunking carries no meaning.
 */

/** Chunk size of {@link encodeKvSnapshot} unless told otherwise. */
export const DEFAULT_KV_SNAPSHOT_CHUNK_BYTES = 64 * 1024;

const formatVersion = 0x01;
/** ceil(53 / 7): enough for any safe integer. */
const maxVarintBytes = 8;

// Stateless between calls (see kv-command.ts): `ignoreBOM` keeps a leading U+FEFF.
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A snapshot that cannot be decoded: truncated, reordered, bad UTF-8, trailing bytes, unknown version. */
export class KvSnapshotFormatError extends Error {
  readonly code = "KV_SNAPSHOT_FORMAT";
  constructor(message: string) {
    super(message);
    this.name = "KvSnapshotFormatError";
  }
}

/** What a KV snapshot holds. */
export interface KvSnapshotContent {
  readonly appliedIndex: number;
  /** Pairs sorted by key in code-unit order, keys unique. */
  readonly pairs: readonly (readonly [string, string])[];
}

/**
 * Encodes `content` into chunks of at most `chunkBytes` (the last may be shorter).
 *
 * @example
 * const chunks = encodeKvSnapshot({ appliedIndex: 7, pairs: [["x", "1"]] });
 * decodeKvSnapshot(chunks); // { appliedIndex: 7, pairs: [["x", "1"]] }
 */
export function encodeKvSnapshot(
  content: KvSnapshotContent,
  chunkBytes: number = DEFAULT_KV_SNAPSHOT_CHUNK_BYTES,
): Uint8Array[] {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  const writer = new ChunkWriter(chunkBytes);
  writer.byte(formatVersion);
  writer.varint(content.appliedIndex);
  writer.varint(content.pairs.length);
  for (const [key, value] of content.pairs) {
    writer.sized(utf8Encoder.encode(key));
    writer.sized(utf8Encoder.encode(value));
  }
  return writer.finish();
}

/**
 * Decodes chunks made by {@link encodeKvSnapshot} (cut anywhere).
 * @throws KvSnapshotFormatError naming the problem and the byte offset.
 */
export function decodeKvSnapshot(chunks: readonly Uint8Array[]): KvSnapshotContent {
  const reader = new ChunkReader(chunks);
  const version = reader.byte("format version");
  if (version !== formatVersion) {
    throw new KvSnapshotFormatError(`unknown kv snapshot format version ${version} (want ${formatVersion})`);
  }
  const appliedIndex = reader.varint("applied index");
  const count = reader.varint("pair count");
  const pairs: (readonly [string, string])[] = [];
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const at = reader.offset;
    const key = reader.string("key");
    if (previous !== undefined && !(previous < key)) {
      throw new KvSnapshotFormatError(
        `key at byte ${at} is not after the previous key (keys must be sorted and unique)`,
      );
    }
    pairs.push([key, reader.string("value")]);
    previous = key;
  }
  reader.expectEnd();
  return { appliedIndex, pairs };
}

/** Appends bytes into fixed-size chunks. */
class ChunkWriter {
  private readonly chunks: Uint8Array[] = [];
  private current: Uint8Array;
  private used = 0;

  constructor(private readonly chunkBytes: number) {
    this.current = new Uint8Array(chunkBytes);
  }

  byte(value: number): void {
    if (this.used === this.chunkBytes) this.next();
    this.current[this.used++] = value;
  }

  /** Unsigned LEB128 with division, so values above 2^32 stay exact. */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot encode ${value} as a varint`);
    let rest = value;
    while (rest >= 0x80) {
      this.byte((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.byte(rest);
  }

  sized(bytes: Uint8Array): void {
    this.varint(bytes.length);
    let from = 0;
    while (from < bytes.length) {
      if (this.used === this.chunkBytes) this.next();
      const take = Math.min(bytes.length - from, this.chunkBytes - this.used);
      this.current.set(bytes.subarray(from, from + take), this.used);
      this.used += take;
      from += take;
    }
  }

  finish(): Uint8Array[] {
    if (this.used > 0) this.chunks.push(this.current.subarray(0, this.used));
    return this.chunks;
  }

  private next(): void {
    this.chunks.push(this.current);
    this.current = new Uint8Array(this.chunkBytes);
    this.used = 0;
  }
}

/** Reads bytes across chunk boundaries. */
class ChunkReader {
  private chunk = 0;
  private inChunk = 0;
  /** Bytes consumed so far, for error messages. */
  offset = 0;

  constructor(private readonly chunks: readonly Uint8Array[]) {}

  byte(what: string): number {
    this.skipExhausted();
    const current = this.chunks[this.chunk];
    if (current === undefined)
      throw new KvSnapshotFormatError(`kv snapshot truncated: no ${what} at byte ${this.offset}`);
    this.offset++;
    return current[this.inChunk++] as number;
  }

  varint(what: string): number {
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < maxVarintBytes; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new KvSnapshotFormatError(`padded varint ${what} at byte ${start}`);
        if (!Number.isSafeInteger(value)) throw new KvSnapshotFormatError(`${what} at byte ${start} is too large`);
        return value;
      }
      scale *= 0x80;
    }
    throw new KvSnapshotFormatError(`varint ${what} at byte ${start} is longer than ${maxVarintBytes} bytes`);
  }

  string(what: string): string {
    const start = this.offset;
    const length = this.varint(`${what} length`);
    const bytes = this.bytes(length, what);
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      throw new KvSnapshotFormatError(`${what} at byte ${start} is not valid UTF-8`);
    }
  }

  expectEnd(): void {
    this.skipExhausted();
    if (this.chunk < this.chunks.length) {
      throw new KvSnapshotFormatError(`kv snapshot has trailing bytes from byte ${this.offset}`);
    }
  }

  /** `length` bytes: a view when they lie in one chunk, a copy when they straddle chunks. */
  private bytes(length: number, what: string): Uint8Array {
    this.skipExhausted();
    const current = this.chunks[this.chunk];
    if (current !== undefined && current.length - this.inChunk >= length) {
      const view = current.subarray(this.inChunk, this.inChunk + length);
      this.inChunk += length;
      this.offset += length;
      return view;
    }
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      this.skipExhausted();
      const source = this.chunks[this.chunk];
      if (source === undefined) {
        throw new KvSnapshotFormatError(`kv snapshot truncated inside a ${what} at byte ${this.offset}`);
      }
      const take = Math.min(length - filled, source.length - this.inChunk);
      out.set(source.subarray(this.inChunk, this.inChunk + take), filled);
      this.inChunk += take;
      this.offset += take;
      filled += take;
    }
    return out;
  }

  private skipExhausted(): void {
    while (this.chunk < this.chunks.length && this.inChunk >= (this.chunks[this.chunk] as Uint8Array).length) {
      this.chunk++;
      this.inChunk = 0;
    }
  }
}
