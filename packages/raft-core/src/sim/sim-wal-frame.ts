import type { Entry, HardState } from "../core/types.js";
import { crc32cUpdate } from "../storage/crc32c.js";
import { decodeEntry, decodeHardState, encodeEntry, encodeHardState, entryKey } from "../storage/record-codec.js";
import type { StorageWrite } from "../storage/storage.js";
import { StorageCorruptionError } from "../storage/storage-errors.js";

/**
 * The frames a simulated disk appends to its write-ahead log, as a real log file holds them:
 *
 *   bytes 0..3   payload length, big-endian
 *   bytes 4..7   CRC-32C of bytes 0..3 (so a damaged length is never mistaken for a short file)
 *   bytes 8..11  CRC-32C of the payload
 *   payload      type byte, then the body
 *
 * An "entry" frame holds one log entry (index as 8 bytes, then the entry record of
 * record-codec.ts); a "batch" frame holds one atomic write (an optional hard-state record and
 * any number of entries). A crash can cut the log anywhere: the frames before the cut are whole,
 * the last one is short. {@link parseWalTail} tells the two apart: a frame that ends early is a
 * torn tail (never synced, so never acknowledged) and is discarded; a whole frame whose checksum
 * fails is corruption.
 */
const HEADER_BYTES = 12;
const ENTRY_FRAME = 1;
const BATCH_FRAME = 2;
const TWO_TO_32 = 0x1_0000_0000;

/** One entry frame per entry, back to back: an append that may be torn between (or inside) entries. */
export function entryFrames(entries: readonly Entry[]): Uint8Array {
  return concat(
    entries.map((entry) => frame(ENTRY_FRAME, [uint64(entry.index), encodeEntry(entryKey(entry.index), entry)])),
  );
}

/** One batch frame: the write lands whole or not at all. */
export function batchFrame(write: StorageWrite): Uint8Array {
  const parts: Uint8Array[] = [];
  if (write.hardState === undefined) parts.push(Uint8Array.of(0));
  else {
    const record = encodeHardState(write.hardState);
    parts.push(Uint8Array.of(1), uint32(record.byteLength), record);
  }
  parts.push(uint32(write.entries.length));
  for (const entry of write.entries) {
    const record = encodeEntry(entryKey(entry.index), entry);
    parts.push(uint64(entry.index), uint32(record.byteLength), record);
  }
  return frame(BATCH_FRAME, parts);
}

/** What the log tail held: the writes of its whole frames, and how many bytes a torn last frame had. */
export interface WalTail {
  readonly writes: readonly StorageWrite[];
  /** Bytes of a last frame that ended early (0 when the tail ended on a frame boundary). */
  readonly tornBytes: number;
}

/**
 * Reads the frames of a log tail.
 * @throws StorageCorruptionError when a whole frame is damaged.
 */
export function parseWalTail(bytes: Uint8Array, storePath: string): WalTail {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const writes: StorageWrite[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    const left = bytes.byteLength - offset;
    if (left < HEADER_BYTES) return { writes, tornBytes: left };
    const length = view.getUint32(offset);
    if (crc32cUpdate(0, bytes, offset, offset + 4) !== view.getUint32(offset + 4)) {
      throw corrupt(storePath, `the log frame at byte ${offset} has a damaged length`);
    }
    if (left < HEADER_BYTES + length) return { writes, tornBytes: left };
    const payload = bytes.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
    if (crc32cUpdate(0, payload) !== view.getUint32(offset + 8)) {
      throw corrupt(storePath, `the log frame at byte ${offset} fails its checksum`);
    }
    writes.push(decodePayload(payload, storePath));
    offset += HEADER_BYTES + length;
  }
  return { writes, tornBytes: 0 };
}

function decodePayload(payload: Uint8Array, storePath: string): StorageWrite {
  const reader = new Reader(payload, storePath);
  const type = reader.byte();
  if (type === ENTRY_FRAME) return { entries: [reader.entry(payload.byteLength - 9)] };
  if (type !== BATCH_FRAME) throw corrupt(storePath, `unknown log frame type ${type}`);
  let hardState: HardState | undefined;
  if (reader.byte() === 1) {
    const decoded = decodeHardState(reader.bytes(reader.uint32()));
    if (!decoded.ok) throw corrupt(storePath, `a logged hard state: ${decoded.problem}`);
    hardState = decoded.value;
  }
  const count = reader.uint32();
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const index = reader.uint64();
    entries.push(reader.entryAt(index, reader.uint32()));
  }
  return hardState === undefined ? { entries } : { hardState, entries };
}

class Reader {
  private offset = 0;
  private readonly view: DataView;
  constructor(
    private readonly payload: Uint8Array,
    private readonly storePath: string,
  ) {
    this.view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  }

  byte(): number {
    this.need(1);
    return this.payload[this.offset++] as number;
  }

  uint32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  uint64(): number {
    this.need(8);
    const value = this.view.getUint32(this.offset) * TWO_TO_32 + this.view.getUint32(this.offset + 4);
    this.offset += 8;
    return value;
  }

  bytes(length: number): Uint8Array {
    this.need(length);
    const bytes = this.payload.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }

  /** An entry frame's body: its index, then its record up to the end. */
  entry(recordBytes: number): Entry {
    return this.entryAt(this.uint64(), recordBytes);
  }

  entryAt(index: number, recordBytes: number): Entry {
    const decoded = decodeEntry(index, entryKey(index), this.bytes(recordBytes));
    if (!decoded.ok) throw corrupt(this.storePath, `logged entry ${index}: ${decoded.problem}`);
    return { ...decoded.value, data: decoded.value.data.slice() };
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.payload.byteLength) throw corrupt(this.storePath, "a log frame's fields overrun it");
  }
}

function frame(type: number, parts: readonly Uint8Array[]): Uint8Array {
  const payload = concat([Uint8Array.of(type), ...parts]);
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.byteLength);
  view.setUint32(4, crc32cUpdate(0, out, 0, 4));
  view.setUint32(8, crc32cUpdate(0, payload));
  out.set(payload, HEADER_BYTES);
  return out;
}

function uint32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function uint64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(value / TWO_TO_32));
  view.setUint32(4, value >>> 0);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function corrupt(storePath: string, detail: string): StorageCorruptionError {
  return new StorageCorruptionError(storePath, "entry", undefined, detail);
}
