/**
 * The small binary toolkit behind the session envelope and the session table: unsigned LEB128
 * varints (up to 2^53 - 1, at most 8 bytes, no padding) and length-prefixed byte strings, written
 * to a growable buffer and read back with every problem reported as a {@link SessionFormatError}.
 */

/** ceil(53 / 7): enough bytes for any safe integer. */
const MAX_VARINT_BYTES = 8;
const INITIAL_WRITER_BYTES = 64;

/** Bytes that are not a valid session envelope or session table. */
export class SessionFormatError extends Error {
  readonly code = "SESSION_FORMAT";
  constructor(message: string) {
    super(message);
    this.name = "SessionFormatError";
  }
}

/** Appends varints and bytes to a buffer that doubles when full. */
export class ByteWriter {
  private buffer = new Uint8Array(INITIAL_WRITER_BYTES);
  private used = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.used;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.used++] = value;
  }

  /** Unsigned LEB128; division instead of shifts keeps values above 2^32 exact. */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`cannot encode ${String(value)} as a varint: it must be a non-negative safe integer`);
    }
    let rest = value;
    while (rest >= 0x80) {
      this.byte((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.byte(rest);
  }

  /** Raw bytes, no length. */
  bytes(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.buffer.set(bytes, this.used);
    this.used += bytes.byteLength;
  }

  /** A varint length followed by the bytes. */
  sized(bytes: Uint8Array): void {
    this.varint(bytes.byteLength);
    this.bytes(bytes);
  }

  /** The bytes written, as an exact-length copy the writer no longer touches. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.used);
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buffer.byteLength) return;
    let capacity = this.buffer.byteLength * 2;
    while (capacity < this.used + bytes) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.used));
    this.buffer = grown;
  }
}

/** Reads what {@link ByteWriter} wrote; `what` names the field in error messages. */
export class ByteReader {
  private at = 0;

  constructor(
    private readonly source: Uint8Array,
    /** Names the structure in error messages ("session envelope", "session table"). */
    private readonly structure: string,
  ) {}

  /** Bytes consumed so far. */
  get offset(): number {
    return this.at;
  }

  /** Bytes not yet consumed. */
  get remaining(): number {
    return this.source.byteLength - this.at;
  }

  byte(what: string): number {
    if (this.at >= this.source.byteLength) {
      throw new SessionFormatError(`${this.structure} truncated: no ${what} at byte ${this.at}`);
    }
    return this.source[this.at++] as number;
  }

  varint(what: string): number {
    const start = this.at;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new SessionFormatError(`${this.structure}: padded varint ${what} at byte ${start}`);
        if (!Number.isSafeInteger(value)) {
          throw new SessionFormatError(`${this.structure}: ${what} at byte ${start} is above 2^53 - 1`);
        }
        return value;
      }
      scale *= 0x80;
    }
    throw new SessionFormatError(
      `${this.structure}: varint ${what} at byte ${start} is longer than ${MAX_VARINT_BYTES} bytes`,
    );
  }

  /** A varint length and that many bytes, as a view into the source (no copy). */
  sized(what: string): Uint8Array {
    const start = this.at;
    const length = this.varint(`${what} length`);
    if (length > this.remaining) {
      throw new SessionFormatError(
        `${this.structure} truncated: ${what} at byte ${start} needs ${length} bytes, ${this.remaining} remain`,
      );
    }
    const view = this.source.subarray(this.at, this.at + length);
    this.at += length;
    return view;
  }

  /** Everything not yet consumed, as a view into the source (no copy). */
  rest(): Uint8Array {
    const view = this.source.subarray(this.at);
    this.at = this.source.byteLength;
    return view;
  }

  expectEnd(): void {
    if (this.at !== this.source.byteLength) {
      throw new SessionFormatError(`${this.structure} has ${this.remaining} trailing bytes from byte ${this.at}`);
    }
  }
}
