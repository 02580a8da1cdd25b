import type { ConfigState, Entry, EntryType, HardState, SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "./crc32c.js";
import { snapshotMetaProblem } from "./snapshot.js";
import type { StoreIdentity } from "./storage-errors.js";

/**
 * The binary layout of LevelStorage's records. Every value starts with a header:
 *
 *   byte 0      record version ({@link RECORD_VERSION})
 *   bytes 1..4  CRC-32C, big-endian, over the key followed by the value from byte 5 on
 *
 * so the checksum covers (key, index, term, bytes): the index is in the key, the term and the
 * payload in the body. Covering the key catches a record that landed under the wrong key.
 *
 * Keys sort in log order: "e" + the index as 8 big-endian bytes, "h" for the hard state, "m" for
 * the metadata, "s" for the snapshot record. Integers are up to 2^53 - 1, stored as 8 big-endian
 * bytes.
 *
 * Entry body:       term u64 | type u8 | flags u8 | [origin: u16 length + UTF-8] | [requestId f64] | data
 * Hard state body:  term u64 | commit u64 | vote UTF-8
 * Metadata body:    format version u32 | cluster id: u16 length + UTF-8 | node id UTF-8
 * Snapshot body:    index u64 | term u64 | data bytes u64 | data CRC-32C u32 |
 *                   file name: u16 length + UTF-8 | configuration as JSON UTF-8
 */
export const RECORD_VERSION = 1;

const HEADER_BYTES = 5;
const CHECKSUM_OFFSET = 1;
const UINT64_BYTES = 8;
const TWO_TO_32 = 0x1_0000_0000;
/** Longest origin or cluster id, in UTF-8 bytes (their length field is 16 bits). */
export const MAX_ID_BYTES = 0xffff;

const ENTRY_KEY_PREFIX = 0x65; // "e"
const ENTRY_KEY_BYTES = 1 + UINT64_BYTES;
export const HARD_STATE_KEY: Uint8Array = Uint8Array.of(0x68); // "h"
export const METADATA_KEY: Uint8Array = Uint8Array.of(0x6d); // "m"
export const SNAPSHOT_KEY: Uint8Array = Uint8Array.of(0x73); // "s"
/** Iterator bounds that select every entry key and nothing else. */
export const ENTRY_KEY_RANGE = { gte: Uint8Array.of(ENTRY_KEY_PREFIX), lt: Uint8Array.of(ENTRY_KEY_PREFIX + 1) };

const ENTRY_TYPE_CODES: readonly EntryType[] = ["normal", "noop", "config"];
const HAS_ORIGIN = 1;
const HAS_REQUEST_ID = 2;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** A decoded record, or why it cannot be trusted. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

function writeUint64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / TWO_TO_32));
  view.setUint32(offset + 4, value >>> 0);
}

function readUint64(view: DataView, offset: number): number {
  return view.getUint32(offset) * TWO_TO_32 + view.getUint32(offset + 4);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The key of the entry at `index`: "e" + 8 big-endian bytes, so keys sort by index. */
export function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(ENTRY_KEY_BYTES);
  key[0] = ENTRY_KEY_PREFIX;
  writeUint64(viewOf(key), 1, index);
  return key;
}

/** The index an entry key names, or undefined when `key` is not a well-formed entry key. */
export function indexOfEntryKey(key: Uint8Array): number | undefined {
  if (key.length !== ENTRY_KEY_BYTES || key[0] !== ENTRY_KEY_PREFIX) return undefined;
  const index = readUint64(viewOf(key), 1);
  return Number.isSafeInteger(index) ? index : undefined;
}

function checksumOf(key: Uint8Array, value: Uint8Array): number {
  return crc32cUpdate(crc32cUpdate(0, key), value, HEADER_BYTES);
}

/** Allocates a record with room for `bodyBytes` after the header. */
function newRecord(bodyBytes: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(HEADER_BYTES + bodyBytes);
  bytes[0] = RECORD_VERSION;
  return { bytes, view: viewOf(bytes) };
}

function seal(key: Uint8Array, record: { bytes: Uint8Array; view: DataView }): Uint8Array {
  record.view.setUint32(CHECKSUM_OFFSET, checksumOf(key, record.bytes));
  return record.bytes;
}

/** Checks the header of a stored value; undefined when the body can be decoded. */
function headerProblem(key: Uint8Array, value: Uint8Array, minBodyBytes: number): string | undefined {
  if (value.length < HEADER_BYTES + minBodyBytes) return `the record is ${value.length} bytes, too short to decode`;
  if (value[0] !== RECORD_VERSION) return `unknown record version ${value[0]}`;
  const stored = viewOf(value).getUint32(CHECKSUM_OFFSET);
  const computed = checksumOf(key, value);
  if (stored !== computed) {
    return `checksum mismatch (stored ${stored.toString(16)}, computed ${computed.toString(16)})`;
  }
  return undefined;
}

const ENTRY_FIXED_BODY_BYTES = UINT64_BYTES + 2;

/** Encodes `entry` under `key` (which must be `entryKey(entry.index)`). */
export function encodeEntry(key: Uint8Array, entry: Entry): Uint8Array {
  const origin = entry.origin === undefined ? undefined : utf8Encoder.encode(entry.origin);
  if (origin !== undefined && origin.length > MAX_ID_BYTES) {
    throw new RangeError(`entry ${entry.index}: origin is ${origin.length} bytes, the limit is ${MAX_ID_BYTES}`);
  }
  const hasRequestId = entry.requestId !== undefined;
  const optionalBytes = (origin === undefined ? 0 : 2 + origin.length) + (hasRequestId ? UINT64_BYTES : 0);
  const record = newRecord(ENTRY_FIXED_BODY_BYTES + optionalBytes + entry.data.length);
  const { bytes, view } = record;
  let offset = HEADER_BYTES;
  writeUint64(view, offset, entry.term);
  offset += UINT64_BYTES;
  bytes[offset++] = ENTRY_TYPE_CODES.indexOf(entry.type);
  bytes[offset++] = (origin === undefined ? 0 : HAS_ORIGIN) | (hasRequestId ? HAS_REQUEST_ID : 0);
  if (origin !== undefined) {
    view.setUint16(offset, origin.length);
    bytes.set(origin, offset + 2);
    offset += 2 + origin.length;
  }
  if (hasRequestId) {
    view.setFloat64(offset, entry.requestId as number);
    offset += UINT64_BYTES;
  }
  bytes.set(entry.data, offset);
  return seal(key, record);
}

/**
 * Decodes the entry at `index` stored under `key`. The returned entry's data is a view into
 * `value`, not a copy.
 */
export function decodeEntry(index: number, key: Uint8Array, value: Uint8Array): Decoded<Entry> {
  const problem = headerProblem(key, value, ENTRY_FIXED_BODY_BYTES);
  if (problem !== undefined) return { ok: false, problem };
  const view = viewOf(value);
  let offset = HEADER_BYTES;
  const term = readUint64(view, offset);
  offset += UINT64_BYTES;
  const type = ENTRY_TYPE_CODES[value[offset++] as number];
  const flags = value[offset++] as number;
  if (type === undefined) return { ok: false, problem: `unknown entry type code ${value[offset - 2]}` };
  let origin: string | undefined;
  let requestId: number | undefined;
  try {
    if (flags & HAS_ORIGIN) {
      const length = view.getUint16(offset);
      origin = utf8Decoder.decode(value.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    if (flags & HAS_REQUEST_ID) {
      requestId = view.getFloat64(offset);
      offset += UINT64_BYTES;
    }
  } catch {
    // A record whose checksum matches but whose fields overrun was written by a broken encoder.
    return { ok: false, problem: "the record's fields overrun its length" };
  }
  if (offset > value.length) return { ok: false, problem: "the record's fields overrun its length" };
  const data = value.subarray(offset);
  const entry: Entry =
    origin === undefined && requestId === undefined
      ? { index, term, type, data }
      : requestId === undefined
        ? { index, term, type, data, origin }
        : origin === undefined
          ? { index, term, type, data, requestId }
          : { index, term, type, data, origin, requestId };
  return { ok: true, value: entry };
}

const HARD_STATE_FIXED_BODY_BYTES = 2 * UINT64_BYTES;

export function encodeHardState(hardState: HardState): Uint8Array {
  const vote = utf8Encoder.encode(hardState.vote);
  const record = newRecord(HARD_STATE_FIXED_BODY_BYTES + vote.length);
  writeUint64(record.view, HEADER_BYTES, hardState.term);
  writeUint64(record.view, HEADER_BYTES + UINT64_BYTES, hardState.commit);
  record.bytes.set(vote, HEADER_BYTES + HARD_STATE_FIXED_BODY_BYTES);
  return seal(HARD_STATE_KEY, record);
}

export function decodeHardState(value: Uint8Array): Decoded<HardState> {
  const problem = headerProblem(HARD_STATE_KEY, value, HARD_STATE_FIXED_BODY_BYTES);
  if (problem !== undefined) return { ok: false, problem };
  const view = viewOf(value);
  try {
    const vote = utf8Decoder.decode(value.subarray(HEADER_BYTES + HARD_STATE_FIXED_BODY_BYTES));
    return {
      ok: true,
      value: { term: readUint64(view, HEADER_BYTES), vote, commit: readUint64(view, HEADER_BYTES + UINT64_BYTES) },
    };
  } catch {
    return { ok: false, problem: "the vote is not valid UTF-8" };
  }
}

/** What the metadata record holds: the on-disk format and whom the folder belongs to. */
export interface StoreMetadata extends StoreIdentity {
  readonly formatVersion: number;
}

const METADATA_FIXED_BODY_BYTES = 4 + 2;

export function encodeMetadata(metadata: StoreMetadata): Uint8Array {
  const clusterId = utf8Encoder.encode(metadata.clusterId);
  const nodeId = utf8Encoder.encode(metadata.nodeId);
  if (clusterId.length > MAX_ID_BYTES) {
    throw new RangeError(`the cluster id is ${clusterId.length} bytes, the limit is ${MAX_ID_BYTES}`);
  }
  const record = newRecord(METADATA_FIXED_BODY_BYTES + clusterId.length + nodeId.length);
  let offset = HEADER_BYTES;
  record.view.setUint32(offset, metadata.formatVersion);
  record.view.setUint16(offset + 4, clusterId.length);
  offset += METADATA_FIXED_BODY_BYTES;
  record.bytes.set(clusterId, offset);
  record.bytes.set(nodeId, offset + clusterId.length);
  return seal(METADATA_KEY, record);
}

export function decodeMetadata(value: Uint8Array): Decoded<StoreMetadata> {
  const problem = headerProblem(METADATA_KEY, value, METADATA_FIXED_BODY_BYTES);
  if (problem !== undefined) return { ok: false, problem };
  const view = viewOf(value);
  const formatVersion = view.getUint32(HEADER_BYTES);
  const clusterIdBytes = view.getUint16(HEADER_BYTES + 4);
  const clusterIdStart = HEADER_BYTES + METADATA_FIXED_BODY_BYTES;
  if (clusterIdStart + clusterIdBytes > value.length) {
    return { ok: false, problem: "the record's fields overrun its length" };
  }
  try {
    const clusterId = utf8Decoder.decode(value.subarray(clusterIdStart, clusterIdStart + clusterIdBytes));
    const nodeId = utf8Decoder.decode(value.subarray(clusterIdStart + clusterIdBytes));
    return { ok: true, value: { formatVersion, clusterId, nodeId } };
  } catch {
    return { ok: false, problem: "an id is not valid UTF-8" };
  }
}

/**
 * The snapshot record: which snapshot is the stored one and how to check its data file. Written
 * in the same batch that compacts the log, so the record and the log always agree.
 */
export interface SnapshotRecord {
  readonly meta: SnapshotMeta;
  /** Length of the data file. */
  readonly bytes: number;
  /** CRC-32C of the whole data file. */
  readonly checksum: number;
  /** Name of the data file inside the snapshots folder (a plain name, no folder). */
  readonly fileName: string;
}

const SNAPSHOT_FIXED_BODY_BYTES = 3 * UINT64_BYTES + 4 + 2;

/** True for a plain file name: no folder separators, not "." or "..". */
export function isPlainFileName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

export function encodeSnapshotRecord(record: SnapshotRecord): Uint8Array {
  const fileName = utf8Encoder.encode(record.fileName);
  if (fileName.length > MAX_ID_BYTES || !isPlainFileName(record.fileName)) {
    throw new RangeError(
      `snapshot file name ${JSON.stringify(record.fileName)} is not a plain name of at most ${MAX_ID_BYTES} bytes`,
    );
  }
  const config = utf8Encoder.encode(JSON.stringify(configFields(record.meta.config)));
  const encoded = newRecord(SNAPSHOT_FIXED_BODY_BYTES + fileName.length + config.length);
  const { bytes, view } = encoded;
  let offset = HEADER_BYTES;
  writeUint64(view, offset, record.meta.index);
  writeUint64(view, offset + UINT64_BYTES, record.meta.term);
  writeUint64(view, offset + 2 * UINT64_BYTES, record.bytes);
  offset += 3 * UINT64_BYTES;
  view.setUint32(offset, record.checksum >>> 0);
  view.setUint16(offset + 4, fileName.length);
  offset += 6;
  bytes.set(fileName, offset);
  bytes.set(config, offset + fileName.length);
  return seal(SNAPSHOT_KEY, encoded);
}

export function decodeSnapshotRecord(value: Uint8Array): Decoded<SnapshotRecord> {
  const problem = headerProblem(SNAPSHOT_KEY, value, SNAPSHOT_FIXED_BODY_BYTES);
  if (problem !== undefined) return { ok: false, problem };
  const view = viewOf(value);
  let offset = HEADER_BYTES;
  const index = readUint64(view, offset);
  const term = readUint64(view, offset + UINT64_BYTES);
  const bytes = readUint64(view, offset + 2 * UINT64_BYTES);
  offset += 3 * UINT64_BYTES;
  const checksum = view.getUint32(offset);
  const fileNameBytes = view.getUint16(offset + 4);
  offset += 6;
  if (offset + fileNameBytes > value.length) return { ok: false, problem: "the record's fields overrun its length" };
  let fileName: string;
  let config: unknown;
  try {
    fileName = utf8Decoder.decode(value.subarray(offset, offset + fileNameBytes));
    config = JSON.parse(utf8Decoder.decode(value.subarray(offset + fileNameBytes)));
  } catch {
    return { ok: false, problem: "the file name or the configuration does not decode" };
  }
  if (!isPlainFileName(fileName))
    return { ok: false, problem: `the file name ${JSON.stringify(fileName)} is not a plain name` };
  if (!Number.isSafeInteger(bytes)) return { ok: false, problem: `the data length ${bytes} is not a safe integer` };
  const meta = { index, term, config } as SnapshotMeta;
  const metaProblem = snapshotMetaProblem(meta);
  if (metaProblem !== undefined) return { ok: false, problem: metaProblem };
  return { ok: true, value: { meta, bytes, checksum, fileName } };
}

/** The configuration's fields in a fixed order (addresses only when present). */
function configFields(config: ConfigState): ConfigState {
  const fields = { voters: [...config.voters], outgoing: [...config.outgoing], learners: [...config.learners] };
  return config.addresses === undefined ? fields : { ...fields, addresses: { ...config.addresses } };
}
