import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../src/core/types.js";
import { crc32c, crc32cUpdate } from "../../src/storage/crc32c.js";
import { verifyLog } from "../../src/storage/log-verifier.js";
import {
  decodeEntry,
  decodeHardState,
  decodeMetadata,
  encodeEntry,
  encodeHardState,
  encodeMetadata,
  entryKey,
  indexOfEntryKey,
} from "../../src/storage/record-codec.js";

const ascii = (text: string) => new TextEncoder().encode(text);

describe("crc32c", () => {
  // Known answers: the standard check value, and vectors from RFC 3720 (iSCSI) appendix B.4.
  it.each([
    ["123456789", ascii("123456789"), 0xe3069283],
    ["empty", new Uint8Array(), 0],
    ["32 zero bytes", new Uint8Array(32), 0x8a9136aa],
    ["32 0xff bytes", new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ["0..31 ascending", Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ["31..0 descending", Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ])("%s", (_name, bytes, expected) => {
    expect(crc32c(bytes)).toBe(expected);
  });

  /** The textbook bitwise CRC-32C, one bit per step: the reference the table-driven code must match. */
  function bitwiseCrc32c(bytes: Uint8Array): number {
    let crc = 0xffffffff;
    for (const byte of bytes) {
      crc ^= byte;
      for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
    return ~crc >>> 0;
  }

  test.prop([fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 7 })])(
    "the eight-bytes-per-step (slicing-by-8) code equals the bitwise definition, at any alignment and length",
    (bytes, offset) => {
      const start = Math.min(offset, bytes.length);
      expect(crc32cUpdate(0, bytes, start)).toBe(bitwiseCrc32c(bytes.subarray(start)));
    },
  );

  test.prop([fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 300 })])(
    "continuing over a split equals the checksum of the whole",
    (bytes, cut) => {
      const at = Math.min(cut, bytes.length);
      expect(crc32cUpdate(crc32c(bytes.subarray(0, at)), bytes, at)).toBe(crc32c(bytes));
    },
  );
});

const entryArbitrary = fc.record(
  {
    index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    term: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    type: fc.constantFrom("normal" as const, "noop" as const, "config" as const),
    data: fc.uint8Array({ maxLength: 200 }),
    origin: fc.string({ maxLength: 20 }),
    requestId: fc.oneof(fc.integer(), fc.double({ noNaN: true })),
  },
  { requiredKeys: ["index", "term", "type", "data"] },
);

describe("record codec", () => {
  test.prop([entryArbitrary])("an entry round-trips through its record", (entry) => {
    const key = entryKey(entry.index);
    expect(indexOfEntryKey(key)).toBe(entry.index);
    const decoded = decodeEntry(entry.index, key, encodeEntry(key, entry as Entry));
    expect(decoded.ok).toBe(true);
    if (decoded.ok)
      expect({ ...decoded.value, data: Array.from(decoded.value.data) }).toEqual({
        ...entry,
        data: Array.from(entry.data),
      });
  });

  test.prop([entryArbitrary, fc.nat(), fc.integer({ min: 0, max: 7 })])(
    "flipping any single bit of an entry record is detected",
    (entry, at, bit) => {
      const key = entryKey(entry.index);
      const value = encodeEntry(key, entry as Entry);
      const damaged = Uint8Array.from(value);
      const offset = at % damaged.length;
      damaged[offset] = (damaged[offset] as number) ^ (1 << bit);
      expect(decodeEntry(entry.index, key, damaged).ok).toBe(false);
    },
  );

  it("sorts entry keys by index (fixed-width big-endian)", () => {
    const indexes = [1, 2, 255, 256, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER];
    const keys = indexes.map((index) => Buffer.from(entryKey(index)));
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted.map((key) => indexOfEntryKey(key))).toEqual(indexes);
  });

  it("rejects a record under another key, a wrong version, and a short record", () => {
    const value = encodeEntry(entryKey(2), { index: 2, term: 1, type: "normal", data: ascii("x") });
    expect(decodeEntry(3, entryKey(3), value)).toMatchObject({ ok: false, problem: /checksum mismatch/ });
    const versioned = Uint8Array.from(value);
    versioned[0] = 9;
    expect(decodeEntry(2, entryKey(2), versioned)).toMatchObject({ ok: false, problem: /record version 9/ });
    expect(decodeEntry(2, entryKey(2), value.subarray(0, 6))).toMatchObject({ ok: false, problem: /too short/ });
  });

  it("round-trips the hard state and the metadata", () => {
    const hardState = { term: 2 ** 45, vote: "nœud-2", commit: 77 };
    expect(decodeHardState(encodeHardState(hardState))).toEqual({ ok: true, value: hardState });
    const metadata = { formatVersion: 1, clusterId: "lms-prod", nodeId: "n3" };
    expect(decodeMetadata(encodeMetadata(metadata))).toEqual({ ok: true, value: metadata });
  });
});

describe("verifyLog", () => {
  const record = (index: number, term: number) => {
    const key = entryKey(index);
    return { key, value: encodeEntry(key, { index, term, type: "normal", data: ascii(`${index}`) }) };
  };
  const torn = (index: number, term: number) => {
    const { key, value } = record(index, term);
    return { key, value: value.subarray(0, value.length - 1) };
  };
  const options = { storePath: "/data/n1" };

  it("refuses a damaged last entry as corruption, also when it is the only one", () => {
    const hardState = encodeHardState({ term: 1, vote: "", commit: 0 });
    expect(() => verifyLog(hardState, [record(1, 1), torn(2, 1)], options)).toThrow(/log entry 2/);
    expect(() => verifyLog(hardState, [torn(1, 1)], options)).toThrow(/log entry 1/);
  });

  it("refuses a log that does not start at index 1, and entries without a hard state", () => {
    const hardState = encodeHardState({ term: 1, vote: "", commit: 0 });
    expect(() => verifyLog(hardState, [record(2, 1)], options)).toThrow(/entry 1 is missing/);
    expect(() => verifyLog(undefined, [record(1, 1)], options)).toThrow(/above the hard state's term 0/);
  });

  it("accepts an empty store", () => {
    expect(verifyLog(undefined, [], options)).toEqual({
      hardState: { term: 0, vote: "", commit: 0 },
      entries: [],
    });
  });
});
