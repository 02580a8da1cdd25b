import { crc32c } from "../storage/crc32c.js";
import { ByteReader, ByteWriter, SessionFormatError } from "./byte-codec.js";

/**
 * The session table as it opens a `SessionStateMachine` snapshot. The snapshot stream is this
 * header followed by the wrapped state machine's own stream, unchanged:
 *
 *   bytes 0..3   magic "LSES"
 *   byte  4      format version ({@link SESSION_TABLE_VERSION})
 *   bytes 5..8   table length in bytes, u32 big-endian (at most {@link MAX_SESSION_TABLE_BYTES})
 *   bytes 9..12  CRC-32C of the table bytes, u32 big-endian
 *   table        varints: applied index | log time ms | session count | per session, least
 *                recently active first: client id | last activity ms | floor | result count |
 *                per result, sequences increasing: sequence | result length | result bytes
 *   ...          the wrapped state machine's snapshot stream
 *
 * The length prefix lets a restore read exactly the table and hand the rest on as a stream.
 */

export const SESSION_TABLE_MAGIC: Uint8Array = Uint8Array.of(0x4c, 0x53, 0x45, 0x53); // "LSES"
export const SESSION_TABLE_VERSION = 1;
/** Bytes before the table: magic, version, length, checksum. */
export const SESSION_TABLE_PREFIX_BYTES = 13;
/** Largest table a restore accepts (a damaged length must not make it allocate gigabytes). */
export const MAX_SESSION_TABLE_BYTES = 256 * 1024 * 1024;

const STRUCTURE = "session table";

/** One session as the snapshot stores it. */
export interface StoredSession {
  readonly clientId: number;
  readonly lastActivityMs: number;
  readonly floor: number;
  /** Cached results, sequences strictly increasing, each >= floor. */
  readonly results: readonly (readonly [sequence: number, result: Uint8Array])[];
}

/** Everything the session table holds. */
export interface StoredSessionTable {
  /** The log index the table (and the wrapped state machine) had applied. */
  readonly appliedIndex: number;
  readonly logTimeMs: number;
  /** Least recently active first. */
  readonly sessions: readonly StoredSession[];
}

/** Limits a decoded table must respect (the restoring replica's options). */
export interface SessionTableLimits {
  readonly maxSessions: number;
  readonly maxCachedResultsPerClient: number;
}

/** Encodes the prefix and the table as one buffer. */
export function encodeSessionTable(table: StoredSessionTable): Uint8Array {
  const body = new ByteWriter();
  body.varint(table.appliedIndex);
  body.varint(table.logTimeMs);
  body.varint(table.sessions.length);
  for (const session of table.sessions) {
    body.varint(session.clientId);
    body.varint(session.lastActivityMs);
    body.varint(session.floor);
    body.varint(session.results.length);
    for (const [sequence, result] of session.results) {
      body.varint(sequence);
      body.sized(result);
    }
  }
  const tableBytes = body.finish();
  if (tableBytes.byteLength > MAX_SESSION_TABLE_BYTES) {
    throw new RangeError(
      `the session table is ${tableBytes.byteLength} bytes, above MAX_SESSION_TABLE_BYTES (${MAX_SESSION_TABLE_BYTES}); lower maxSessions or maxCachedResultsPerClient`,
    );
  }
  const whole = new Uint8Array(SESSION_TABLE_PREFIX_BYTES + tableBytes.byteLength);
  const view = new DataView(whole.buffer);
  whole.set(SESSION_TABLE_MAGIC, 0);
  whole[4] = SESSION_TABLE_VERSION;
  view.setUint32(5, tableBytes.byteLength);
  view.setUint32(9, crc32c(tableBytes));
  whole.set(tableBytes, SESSION_TABLE_PREFIX_BYTES);
  return whole;
}

/** The table's length and checksum, read from its 13-byte prefix. */
export interface SessionTablePrefix {
  readonly tableBytes: number;
  readonly checksum: number;
}

/**
 * Checks the magic and version and reads the table's length and checksum.
 * @throws SessionFormatError on a prefix that is not a session table's.
 */
export function decodeSessionTablePrefix(prefix: Uint8Array): SessionTablePrefix {
  if (prefix.byteLength !== SESSION_TABLE_PREFIX_BYTES) {
    throw new SessionFormatError(`${STRUCTURE}: the prefix must be ${SESSION_TABLE_PREFIX_BYTES} bytes`);
  }
  for (let i = 0; i < SESSION_TABLE_MAGIC.byteLength; i++) {
    if (prefix[i] !== SESSION_TABLE_MAGIC[i]) {
      throw new SessionFormatError(
        "snapshot does not start with a session table (magic LSES): it was not taken by a SessionStateMachine",
      );
    }
  }
  if (prefix[4] !== SESSION_TABLE_VERSION) {
    throw new SessionFormatError(`${STRUCTURE}: unknown format version ${prefix[4]} (want ${SESSION_TABLE_VERSION})`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const tableBytes = view.getUint32(5);
  if (tableBytes > MAX_SESSION_TABLE_BYTES) {
    throw new SessionFormatError(
      `${STRUCTURE}: length ${tableBytes} is above MAX_SESSION_TABLE_BYTES (${MAX_SESSION_TABLE_BYTES})`,
    );
  }
  return { tableBytes, checksum: view.getUint32(9) };
}

/**
 * Verifies the checksum and decodes and validates the table: ids distinct and positive, at most
 * the applied index (an id is the index of a RegisterClient entry); activity times non-decreasing
 * and at most the log time; sequences increasing and at or above the floor; counts within `limits`.
 * @throws SessionFormatError naming the problem.
 */
export function decodeSessionTable(
  tableBytes: Uint8Array,
  prefix: SessionTablePrefix,
  limits: SessionTableLimits,
): StoredSessionTable {
  const actual = crc32c(tableBytes);
  if (actual !== prefix.checksum) {
    throw new SessionFormatError(
      `${STRUCTURE}: checksum mismatch (stored 0x${prefix.checksum.toString(16)}, computed 0x${actual.toString(16)}): the snapshot is damaged`,
    );
  }
  const reader = new ByteReader(tableBytes, STRUCTURE);
  const appliedIndex = reader.varint("applied index");
  const logTimeMs = reader.varint("log time");
  const count = reader.varint("session count");
  if (count > limits.maxSessions) {
    throw new SessionFormatError(
      `${STRUCTURE}: holds ${count} sessions, above this replica's maxSessions (${limits.maxSessions}); every replica must use the same session options`,
    );
  }
  const sessions: StoredSession[] = [];
  const seen = new Set<number>();
  let previousActivityMs = 0;
  for (let i = 0; i < count; i++) {
    const session = readSession(reader, limits);
    if (session.clientId < 1 || session.clientId > appliedIndex) {
      throw new SessionFormatError(`${STRUCTURE}: client id ${session.clientId} is outside 1..${appliedIndex}`);
    }
    if (seen.has(session.clientId)) throw new SessionFormatError(`${STRUCTURE}: client id ${session.clientId} repeats`);
    seen.add(session.clientId);
    if (session.lastActivityMs < previousActivityMs || session.lastActivityMs > logTimeMs) {
      throw new SessionFormatError(
        `${STRUCTURE}: session ${session.clientId} is out of activity order or later than the log time`,
      );
    }
    previousActivityMs = session.lastActivityMs;
    sessions.push(session);
  }
  reader.expectEnd();
  return { appliedIndex, logTimeMs, sessions };
}

function readSession(reader: ByteReader, limits: SessionTableLimits): StoredSession {
  const clientId = reader.varint("client id");
  const lastActivityMs = reader.varint("last activity");
  const floor = reader.varint("floor");
  const resultCount = reader.varint("result count");
  if (floor < 1) throw new SessionFormatError(`${STRUCTURE}: session ${clientId} has floor 0 (floors start at 1)`);
  if (resultCount > limits.maxCachedResultsPerClient) {
    throw new SessionFormatError(
      `${STRUCTURE}: session ${clientId} caches ${resultCount} results, above this replica's maxCachedResultsPerClient (${limits.maxCachedResultsPerClient}); every replica must use the same session options`,
    );
  }
  const results: (readonly [number, Uint8Array])[] = [];
  let previous = floor - 1;
  for (let i = 0; i < resultCount; i++) {
    const sequence = reader.varint("sequence");
    if (sequence <= previous) {
      throw new SessionFormatError(
        `${STRUCTURE}: session ${clientId} has sequence ${sequence} out of order or below its floor ${floor}`,
      );
    }
    previous = sequence;
    results.push([sequence, reader.sized("result")]);
  }
  return { clientId, lastActivityMs, floor, results };
}
