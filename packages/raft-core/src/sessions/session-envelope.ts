import { ByteReader, ByteWriter, SessionFormatError } from "./byte-codec.js";

/**
 * The bytes a session client proposes (thesis §6.3). Every envelope starts with a magic byte, a
 * format version and a kind; integers are unsigned LEB128 varints (up to 2^53 - 1):
 *
 *   RegisterClient:  0xC5 | version | 0x01 | timestampMs
 *   SessionCommand:  0xC5 | version | 0x02 | clientId | sequence | lowestUnacked | timestampMs | payload...
 *   KeepAlive:       0xC5 | version | 0x03 | clientId | lowestUnacked | timestampMs
 *
 * A command's payload is everything after its header (no length field), handed to the wrapped
 * state machine as the entry's data. `timestampMs` is the accepting node's clock; the state
 * machine never trusts it to move backwards (it keeps the maximum it has seen as log time).
 */

/** First byte of every envelope: tells session traffic apart from other bytes at a glance. */
export const SESSION_ENVELOPE_MAGIC = 0xc5;
/** Format version this code writes and reads. */
export const SESSION_ENVELOPE_VERSION = 1;

const KIND_REGISTER = 0x01;
const KIND_COMMAND = 0x02;
const KIND_KEEP_ALIVE = 0x03;
const STRUCTURE = "session envelope";

/** Opens a session; the new client id is the log index of this entry. */
export interface RegisterClientEnvelope {
  readonly kind: "register";
  readonly timestampMs: number;
}

/** One client command, numbered so that a retry (same sequence) is recognised as a duplicate. */
export interface SessionCommandEnvelope {
  readonly kind: "command";
  readonly clientId: number;
  /** The client's number for this command, from 1; a retry carries the same number. */
  readonly sequence: number;
  /**
   * The lowest sequence whose result the client still awaits (at most `sequence`): results of
   * lower sequences were received and may be dropped from the cache (thesis §6.3).
   */
  readonly lowestUnacked: number;
  readonly timestampMs: number;
  /** The application command, given to the wrapped state machine. */
  readonly payload: Uint8Array;
}

/** Keeps an idle session from expiring, and acknowledges results like a command does. */
export interface KeepAliveEnvelope {
  readonly kind: "keepAlive";
  readonly clientId: number;
  readonly lowestUnacked: number;
  readonly timestampMs: number;
}

export type SessionEnvelope = RegisterClientEnvelope | SessionCommandEnvelope | KeepAliveEnvelope;

/** A decoded envelope, or why the bytes are not one. Decoding never throws. */
export type SessionEnvelopeDecoding =
  | { readonly ok: true; readonly envelope: SessionEnvelope }
  | { readonly ok: false; readonly problem: string };

/**
 * Encodes any envelope.
 * @throws RangeError when a number is not a non-negative safe integer, or when a command breaks
 * `1 <= sequence`, `lowestUnacked <= sequence` or `clientId >= 1`.
 *
 * @example
 * const bytes = encodeSessionEnvelope({ kind: "register", timestampMs: 1_000 });
 * decodeSessionEnvelope(bytes); // { ok: true, envelope: { kind: "register", timestampMs: 1000 } }
 */
export function encodeSessionEnvelope(envelope: SessionEnvelope): Uint8Array {
  const problem = envelopeProblem(envelope);
  if (problem !== undefined) throw new RangeError(`cannot encode ${envelope.kind} envelope: ${problem}`);
  const writer = new ByteWriter();
  writer.byte(SESSION_ENVELOPE_MAGIC);
  writer.byte(SESSION_ENVELOPE_VERSION);
  switch (envelope.kind) {
    case "register":
      writer.byte(KIND_REGISTER);
      writer.varint(envelope.timestampMs);
      break;
    case "command":
      writer.byte(KIND_COMMAND);
      writer.varint(envelope.clientId);
      writer.varint(envelope.sequence);
      writer.varint(envelope.lowestUnacked);
      writer.varint(envelope.timestampMs);
      writer.bytes(envelope.payload);
      break;
    case "keepAlive":
      writer.byte(KIND_KEEP_ALIVE);
      writer.varint(envelope.clientId);
      writer.varint(envelope.lowestUnacked);
      writer.varint(envelope.timestampMs);
      break;
  }
  return writer.finish();
}

/**
 * Decodes an envelope. Malformed bytes (empty, wrong magic or version, unknown kind, truncated or
 * over-long varints, out-of-range numbers, trailing bytes) give `{ ok: false, problem }`; this
 * function never throws, so a bad entry cannot stop a node. A command's `payload` is a view into
 * `bytes`, not a copy.
 *
 * @example
 * const decoded = decodeSessionEnvelope(entry.data);
 * if (!decoded.ok) console.warn(decoded.problem); // e.g. "session envelope: first byte is 0x7b, not 0xc5"
 */
export function decodeSessionEnvelope(bytes: Uint8Array): SessionEnvelopeDecoding {
  if (!(bytes instanceof Uint8Array)) return { ok: false, problem: "session envelope must be a Uint8Array" };
  try {
    const envelope = readEnvelope(new ByteReader(bytes, STRUCTURE));
    const problem = envelopeProblem(envelope);
    if (problem !== undefined) return { ok: false, problem: `${STRUCTURE}: ${problem}` };
    return { ok: true, envelope };
  } catch (error) {
    if (error instanceof SessionFormatError) return { ok: false, problem: error.message };
    return { ok: false, problem: `${STRUCTURE}: ${String(error)}` };
  }
}

function readEnvelope(reader: ByteReader): SessionEnvelope {
  const magic = reader.byte("magic byte");
  if (magic !== SESSION_ENVELOPE_MAGIC) {
    throw new SessionFormatError(`${STRUCTURE}: first byte is 0x${hex(magic)}, not 0x${hex(SESSION_ENVELOPE_MAGIC)}`);
  }
  const version = reader.byte("format version");
  if (version !== SESSION_ENVELOPE_VERSION) {
    throw new SessionFormatError(`${STRUCTURE}: unknown format version ${version} (want ${SESSION_ENVELOPE_VERSION})`);
  }
  const kind = reader.byte("kind");
  switch (kind) {
    case KIND_REGISTER: {
      const timestampMs = reader.varint("timestamp");
      reader.expectEnd();
      return { kind: "register", timestampMs };
    }
    case KIND_COMMAND: {
      const clientId = reader.varint("client id");
      const sequence = reader.varint("sequence");
      const lowestUnacked = reader.varint("lowest unacknowledged sequence");
      const timestampMs = reader.varint("timestamp");
      return { kind: "command", clientId, sequence, lowestUnacked, timestampMs, payload: reader.rest() };
    }
    case KIND_KEEP_ALIVE: {
      const clientId = reader.varint("client id");
      const lowestUnacked = reader.varint("lowest unacknowledged sequence");
      const timestampMs = reader.varint("timestamp");
      reader.expectEnd();
      return { kind: "keepAlive", clientId, lowestUnacked, timestampMs };
    }
    default:
      throw new SessionFormatError(`${STRUCTURE}: unknown kind 0x${hex(kind)}`);
  }
}

/** What makes a structurally decoded (or caller-built) envelope invalid, or undefined. */
function envelopeProblem(envelope: SessionEnvelope): string | undefined {
  if (!isCount(envelope.timestampMs))
    return `timestampMs must be a non-negative safe integer, got ${envelope.timestampMs}`;
  if (envelope.kind === "register") return undefined;
  if (!isCount(envelope.clientId) || envelope.clientId < 1) {
    return `clientId must be a positive safe integer, got ${envelope.clientId}`;
  }
  if (!isCount(envelope.lowestUnacked)) {
    return `lowestUnacked must be a non-negative safe integer, got ${envelope.lowestUnacked}`;
  }
  if (envelope.kind === "keepAlive") return undefined;
  if (!isCount(envelope.sequence) || envelope.sequence < 1) {
    return `sequence must be a positive safe integer, got ${envelope.sequence}`;
  }
  if (envelope.lowestUnacked > envelope.sequence) {
    return `lowestUnacked ${envelope.lowestUnacked} is above sequence ${envelope.sequence}: a client awaits the command it sends`;
  }
  if (!(envelope.payload instanceof Uint8Array)) return "payload must be a Uint8Array";
  return undefined;
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function hex(value: number): string {
  return value.toString(16).padStart(2, "0");
}
