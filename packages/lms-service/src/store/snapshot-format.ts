import { type CollectionName, isCollectionName } from "../domain/records.js";

/**
 * The LMS snapshot format, shared by every store so a snapshot taken on an embedded node restores
 * on a MongoDB node and back. It is UTF-8 newline-delimited JSON (JSON text never holds a raw
 * newline):
 *
 *   {"appliedIndex":N,"format":"lectern-lms-snapshot","version":1}
 *   {"c":"<collection>","k":"<key>","v":<record as canonical JSON>}      (any number, key order)
 *   {"end":true,"records":<count>}
 *
 * The trailer's count catches a stream cut at a line boundary; Raft's snapshot CRC catches the rest.
 */
export const snapshotFormatName = "lectern-lms-snapshot";
export const snapshotFormatVersion = 1;
/** Size the encoder gathers lines into before yielding a chunk. */
export const snapshotChunkBytes = 256 * 1024;
/** Longest line a decoder accepts (one record; an upload chunk record is the largest). */
export const maxSnapshotLineBytes = 4 * 1024 * 1024;

const keyPattern = /^[\x21-\x7e]{1,1024}$/;
const newline = 0x0a;

/** A snapshot stream that cannot be restored; the message says where it went wrong. */
export class SnapshotFormatError extends Error {
  readonly code = "LMS_SNAPSHOT_FORMAT";

  constructor(message: string) {
    super(`LMS snapshot: ${message}`);
    this.name = "SnapshotFormatError";
  }
}

/** One record as a store hands it to the encoder: the value already canonical JSON text. */
export interface SnapshotRecordText {
  readonly collection: CollectionName;
  readonly key: string;
  readonly valueJson: string;
}

/** One record as the decoder hands it to a store. */
export interface SnapshotRecord {
  readonly collection: CollectionName;
  readonly key: string;
  readonly value: object;
}

const encoder = new TextEncoder();

/** Encodes a store's records (in the order given) as snapshot chunks of about `chunkBytes`. */
export async function* encodeSnapshot(
  appliedIndex: number,
  records: AsyncIterable<SnapshotRecordText>,
  chunkBytes: number = snapshotChunkBytes,
): AsyncGenerator<Uint8Array> {
  let lines: string[] = [JSON.stringify({ appliedIndex, format: snapshotFormatName, version: snapshotFormatVersion })];
  let pendingChars = lines[0].length;
  let count = 0;
  for await (const record of records) {
    const line = `{"c":${JSON.stringify(record.collection)},"k":${JSON.stringify(record.key)},"v":${record.valueJson}}`;
    lines.push(line);
    pendingChars += line.length + 1;
    count++;
    if (pendingChars >= chunkBytes) {
      yield encoder.encode(`${lines.join("\n")}\n`);
      lines = [];
      pendingChars = 0;
    }
  }
  lines.push(JSON.stringify({ end: true, records: count }));
  yield encoder.encode(`${lines.join("\n")}\n`);
}

/**
 * Decodes a snapshot stream: first `{ appliedIndex }` is resolved through `onHeader`, then every
 * record is yielded; the trailer is checked at the end.
 * @throws SnapshotFormatError on any malformed line, an unknown collection, a missing header or
 * trailer, a count mismatch, or bytes after the trailer.
 */
export async function* decodeSnapshot(
  data: AsyncIterable<Uint8Array>,
  onHeader: (appliedIndex: number) => void | Promise<void>,
): AsyncGenerator<SnapshotRecord> {
  let lineNumber = 0;
  let count = 0;
  let ended = false;
  for await (const line of splitLines(data)) {
    lineNumber++;
    if (ended) throw new SnapshotFormatError(`line ${lineNumber} follows the end line`);
    const parsed = parseLine(line, lineNumber);
    if (lineNumber === 1) {
      await onHeader(readHeader(parsed));
      continue;
    }
    if (parsed.end === true) {
      if (parsed.records !== count) {
        throw new SnapshotFormatError(
          `the end line counts ${String(parsed.records)} records, the stream held ${count}`,
        );
      }
      ended = true;
      continue;
    }
    count++;
    yield readRecord(parsed, lineNumber);
  }
  if (lineNumber === 0) throw new SnapshotFormatError("the stream is empty");
  if (!ended) throw new SnapshotFormatError(`the stream ends after ${lineNumber} lines without its end line`);
}

function readHeader(parsed: Record<string, unknown>): number {
  if (parsed.format !== snapshotFormatName || parsed.version !== snapshotFormatVersion) {
    throw new SnapshotFormatError(`not a ${snapshotFormatName} version ${snapshotFormatVersion} stream`);
  }
  const appliedIndex = parsed.appliedIndex;
  if (!Number.isSafeInteger(appliedIndex) || (appliedIndex as number) < 0) {
    throw new SnapshotFormatError("the header's appliedIndex is not a non-negative integer");
  }
  return appliedIndex as number;
}

function readRecord(parsed: Record<string, unknown>, lineNumber: number): SnapshotRecord {
  const { c, k, v } = parsed;
  if (!isCollectionName(c)) throw new SnapshotFormatError(`line ${lineNumber} names no collection`);
  if (typeof k !== "string" || !keyPattern.test(k)) throw new SnapshotFormatError(`line ${lineNumber} has a bad key`);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new SnapshotFormatError(`line ${lineNumber} has a value that is not an object`);
  }
  return { collection: c, key: k, value: v };
}

function parseLine(line: string, lineNumber: number): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new SnapshotFormatError(`line ${lineNumber} is not JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SnapshotFormatError(`line ${lineNumber} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** The stream's lines (without the newline), each decoded as strict UTF-8 and at most `maxSnapshotLineBytes`. */
async function* splitLines(data: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pieces: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) throw new SnapshotFormatError("a chunk is not a Uint8Array");
    let start = 0;
    for (let at = chunk.indexOf(newline); at !== -1; at = chunk.indexOf(newline, start)) {
      pieces.push(chunk.subarray(start, at));
      pendingBytes += at - start;
      checkLineBytes(pendingBytes);
      yield decodeLine(decoder, pieces, pendingBytes);
      pieces = [];
      pendingBytes = 0;
      start = at + 1;
    }
    if (start < chunk.byteLength) {
      pieces.push(chunk.subarray(start));
      pendingBytes += chunk.byteLength - start;
      checkLineBytes(pendingBytes);
    }
  }
  if (pendingBytes > 0) throw new SnapshotFormatError("the stream ends inside a line");
}

function checkLineBytes(bytes: number): void {
  if (bytes > maxSnapshotLineBytes) {
    throw new SnapshotFormatError(`a line is longer than ${maxSnapshotLineBytes} bytes`);
  }
}

function decodeLine(
  decoder: { decode(input: Uint8Array): string },
  pieces: readonly Uint8Array[],
  bytes: number,
): string {
  const whole = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, bytes);
  try {
    return decoder.decode(whole);
  } catch {
    throw new SnapshotFormatError("a line is not UTF-8");
  }
}
