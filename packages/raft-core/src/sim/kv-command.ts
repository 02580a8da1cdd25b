/**
 * The simulator's workload: commands on a replicated string → string key-value store, their
 * compact binary encoding (the bytes that travel in log entries), and the sequential
 * specification of one key that both the state machine and the linearizability checker follow.
 *
 * Wire format (all lengths are minimal unsigned LEB128 varints of UTF-8 byte counts, so every
 * command has exactly one encoding):
 * - put: `0x01 len(key) key len(value) value`
 * - get: `0x02 len(key) key`
 * - cas: `0x03 hasExpected(0x00|0x01) len(key) key [len(expected) expected] len(next) next`
 */

/** Writes `value` under `key`. */
export interface PutCommand {
  readonly kind: "put";
  readonly key: string;
  readonly value: string;
}

/** Reads `key`. Routed through the log it is a linearizable read by construction. */
export interface GetCommand {
  readonly kind: "get";
  readonly key: string;
}

/** Compare-and-set: writes `next` only if `key` currently holds `expected` (`null` = absent). */
export interface CasCommand {
  readonly kind: "cas";
  readonly key: string;
  readonly expected: string | null;
  readonly next: string;
}

export type KvCommand = PutCommand | GetCommand | CasCommand;
export type KvCommandKind = KvCommand["kind"];

/** A put always succeeds. */
export interface PutResult {
  readonly ok: true;
}

/** The value the key held when the get was applied; `null` when absent. */
export interface GetResult {
  readonly value: string | null;
}

/**
 * `ok` says whether the swap happened; `value` is the value the key held when the cas was
 * evaluated, before any change (so it equals `expected` when `ok`, and shows the conflicting
 * value when not).
 */
export interface CasResult {
  readonly ok: boolean;
  readonly value: string | null;
}

export type KvResult = PutResult | GetResult | CasResult;

/** Bad bytes handed to {@link decodeKvCommand}, or a string that UTF-8 cannot carry unchanged. */
export class KvCommandFormatError extends Error {
  readonly code = "KV_COMMAND_FORMAT";
  constructor(message: string) {
    super(message);
    this.name = "KvCommandFormatError";
  }
}

const putTag = 0x01;
const getTag = 0x02;
const casTag = 0x03;
const expectedAbsentFlag = 0x00;
const expectedPresentFlag = 0x01;
/** A varint length longer than this many bytes cannot describe a string that fits in one entry. */
const maxVarintBytes = 5;
const maxStringBytes = 0x7fff_ffff;

// Neither object carries state between calls that could change a result: encode() is stateless and
// a non-streaming decode() starts fresh each time. `ignoreBOM` keeps a leading U+FEFF in the string
// (by default it would be silently stripped and a value would not round-trip).
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Builds a put command.
 * @example encodeKvCommand(putCommand("x", "1"))
 */
export function putCommand(key: string, value: string): PutCommand {
  return { kind: "put", key, value };
}

/**
 * Builds a get command.
 * @example encodeKvCommand(getCommand("x"))
 */
export function getCommand(key: string): GetCommand {
  return { kind: "get", key };
}

/**
 * Builds a compare-and-set command; `expected` = `null` means "only if the key is absent".
 * @example encodeKvCommand(casCommand("x", null, "first"))
 */
export function casCommand(key: string, expected: string | null, next: string): CasCommand {
  return { kind: "cas", key, expected, next };
}

/**
 * Encodes a command into the bytes carried by a log entry.
 * Throws {@link KvCommandFormatError} for strings with unpaired surrogates (UTF-8 would change them).
 * @example const bytes = encodeKvCommand(casCommand("x", "1", "2"));
 */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  const key = utf8Bytes(command.key, "key");
  switch (command.kind) {
    case "put": {
      const value = utf8Bytes(command.value, "value");
      const out = new Uint8Array(1 + sizedLength(key) + sizedLength(value));
      out[0] = putTag;
      writeSized(out, writeSized(out, 1, key), value);
      return out;
    }
    case "get": {
      const out = new Uint8Array(1 + sizedLength(key));
      out[0] = getTag;
      writeSized(out, 1, key);
      return out;
    }
    case "cas": {
      const expected = command.expected === null ? null : utf8Bytes(command.expected, "expected");
      const next = utf8Bytes(command.next, "next");
      const expectedSize = expected === null ? 0 : sizedLength(expected);
      const out = new Uint8Array(2 + sizedLength(key) + expectedSize + sizedLength(next));
      out[0] = casTag;
      out[1] = expected === null ? expectedAbsentFlag : expectedPresentFlag;
      let offset = writeSized(out, 2, key);
      if (expected !== null) offset = writeSized(out, offset, expected);
      writeSized(out, offset, next);
      return out;
    }
    default:
      throw new KvCommandFormatError(`unknown command kind ${JSON.stringify((command as { kind: unknown }).kind)}`);
  }
}

/**
 * Decodes the bytes of a log entry back into a command.
 * Throws {@link KvCommandFormatError} naming the problem and the byte offset on any malformed input:
 * empty, unknown tag, truncated, bad flag, padded varint, invalid UTF-8 or trailing bytes.
 * @example decodeKvCommand(encodeKvCommand(getCommand("x"))) // { kind: "get", key: "x" }
 */
export function decodeKvCommand(bytes: Uint8Array): KvCommand {
  if (bytes.length === 0) throw new KvCommandFormatError("cannot decode a kv command from 0 bytes");
  const reader = new ByteReader(bytes);
  const tag = reader.byte("command tag");
  let command: KvCommand;
  if (tag === putTag) {
    const key = reader.string("key");
    command = { kind: "put", key, value: reader.string("value") };
  } else if (tag === getTag) {
    command = { kind: "get", key: reader.string("key") };
  } else if (tag === casTag) {
    const flag = reader.byte("expected flag");
    if (flag !== expectedAbsentFlag && flag !== expectedPresentFlag) {
      throw new KvCommandFormatError(`bad cas expected flag 0x${hex(flag)} at byte 1 (want 0x00 or 0x01)`);
    }
    const key = reader.string("key");
    const expected = flag === expectedPresentFlag ? reader.string("expected") : null;
    command = { kind: "cas", key, expected, next: reader.string("next") };
  } else {
    throw new KvCommandFormatError(
      `unknown kv command tag 0x${hex(tag)} at byte 0 (want 0x01 put, 0x02 get, 0x03 cas)`,
    );
  }
  reader.expectEnd();
  return command;
}

/**
 * The sequential specification of one key: what `command` returns and leaves behind when the key
 * holds `current` (`null` = absent). The state machine and the tests' reference models use it.
 * @example applyKvCommandToValue("1", casCommand("x", "1", "2")) // { next: "2", result: { ok: true, value: "1" } }
 */
export function applyKvCommandToValue(
  current: string | null,
  command: KvCommand,
): { readonly next: string | null; readonly result: KvResult } {
  switch (command.kind) {
    case "put":
      return { next: command.value, result: { ok: true } };
    case "get":
      return { next: current, result: { value: current } };
    case "cas": {
      const swapped = current === command.expected;
      return { next: swapped ? command.next : current, result: { ok: swapped, value: current } };
    }
  }
}

/** True when `result` has the shape that `kind` returns (used to validate recorded histories). */
export function isResultOfKind(kind: KvCommandKind, result: unknown): result is KvResult {
  if (typeof result !== "object" || result === null) return false;
  const fields = result as Record<string, unknown>;
  const keys = Object.keys(fields);
  const isValue = (v: unknown) => v === null || typeof v === "string";
  switch (kind) {
    case "put":
      return keys.length === 1 && fields.ok === true;
    case "get":
      return keys.length === 1 && "value" in fields && isValue(fields.value);
    case "cas":
      return keys.length === 2 && typeof fields.ok === "boolean" && "value" in fields && isValue(fields.value);
  }
}

function utf8Bytes(text: string, field: string): Uint8Array {
  if (typeof text !== "string") throw new KvCommandFormatError(`${field} must be a string, got ${typeof text}`);
  assertWellFormed(text, field);
  return utf8Encoder.encode(text);
}

/** UTF-8 cannot carry an unpaired surrogate: TextEncoder would replace it with U+FFFD. */
function assertWellFormed(text: string, field: string): void {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    throw new KvCommandFormatError(`${field} has an unpaired UTF-16 surrogate at position ${i}; it cannot be encoded`);
  }
}

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

function sizedLength(bytes: Uint8Array): number {
  return varintLength(bytes.length) + bytes.length;
}

/** Writes varint(length) then the bytes; returns the offset after them. */
function writeSized(out: Uint8Array, offset: number, bytes: Uint8Array): number {
  let length = bytes.length;
  while (length >= 0x80) {
    out[offset++] = (length & 0x7f) | 0x80;
    length = Math.floor(length / 0x80);
  }
  out[offset++] = length;
  out.set(bytes, offset);
  return offset + bytes.length;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/** A bounds-checked cursor; every failure names the field and the offset. */
class ByteReader {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  byte(field: string): number {
    if (this.offset >= this.bytes.length) {
      throw new KvCommandFormatError(`truncated kv command: missing ${field} at byte ${this.offset}`);
    }
    return this.bytes[this.offset++];
  }

  string(field: string): string {
    const start = this.offset;
    let length = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i === maxVarintBytes)
        throw new KvCommandFormatError(`length of ${field} at byte ${start} is too long a varint`);
      const b = this.byte(`length of ${field}`);
      length += (b & 0x7f) * scale;
      scale *= 0x80;
      if ((b & 0x80) === 0) {
        // One encoding per command: a zero final byte after the first would be a padded (non-minimal) varint.
        if (b === 0 && i > 0) throw new KvCommandFormatError(`length of ${field} at byte ${start} is a padded varint`);
        break;
      }
    }
    if (length > maxStringBytes || length > this.bytes.length - this.offset) {
      throw new KvCommandFormatError(
        `truncated kv command: ${field} at byte ${start} claims ${length} bytes but ${this.bytes.length - this.offset} remain`,
      );
    }
    const end = this.offset + length;
    try {
      return utf8Decoder.decode(this.bytes.subarray(this.offset, end));
    } catch {
      throw new KvCommandFormatError(`${field} at byte ${this.offset} is not valid UTF-8`);
    } finally {
      this.offset = end;
    }
  }

  expectEnd(): void {
    if (this.offset !== this.bytes.length) {
      throw new KvCommandFormatError(
        `kv command has ${this.bytes.length - this.offset} trailing byte(s) after byte ${this.offset}`,
      );
    }
  }
}
