import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  decodeSessionEnvelope,
  encodeSessionEnvelope,
  SESSION_ENVELOPE_MAGIC,
  SESSION_ENVELOPE_VERSION,
  type SessionEnvelope,
} from "../../src/sessions/session-envelope.js";

const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const positive = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

const envelopeArb: fc.Arbitrary<SessionEnvelope> = fc.oneof(
  fc.record({ kind: fc.constant("register" as const), timestampMs: count }),
  positive.chain((sequence) =>
    fc.record({
      kind: fc.constant("command" as const),
      clientId: positive,
      sequence: fc.constant(sequence),
      lowestUnacked: fc.integer({ min: 0, max: sequence }),
      timestampMs: count,
      payload: fc.uint8Array({ maxLength: 40 }),
    }),
  ),
  fc.record({ kind: fc.constant("keepAlive" as const), clientId: positive, lowestUnacked: count, timestampMs: count }),
);

function problemOf(bytes: Uint8Array): string {
  const decoded = decodeSessionEnvelope(bytes);
  if (decoded.ok) throw new Error(`expected a malformed envelope, got ${JSON.stringify(decoded.envelope)}`);
  return decoded.problem;
}

describe("session envelope codec (thesis §6.3 RegisterClient and numbered commands)", () => {
  it("has the documented compact layout", () => {
    const magic = SESSION_ENVELOPE_MAGIC;
    const version = SESSION_ENVELOPE_VERSION;
    expect([...encodeSessionEnvelope({ kind: "register", timestampMs: 300 })]).toEqual([magic, version, 1, 0xac, 0x02]);
    expect([
      ...encodeSessionEnvelope({
        kind: "command",
        clientId: 7,
        sequence: 3,
        lowestUnacked: 2,
        timestampMs: 5,
        payload: Uint8Array.of(9, 9),
      }),
    ]).toEqual([magic, version, 2, 7, 3, 2, 5, 9, 9]);
    expect([...encodeSessionEnvelope({ kind: "keepAlive", clientId: 7, lowestUnacked: 4, timestampMs: 1 })]).toEqual([
      magic,
      version,
      3,
      7,
      4,
      1,
    ]);
  });

  test.prop([envelopeArb])("decodes what it encodes", (envelope) => {
    const decoded = decodeSessionEnvelope(encodeSessionEnvelope(envelope));
    expect(decoded).toEqual({ ok: true, envelope });
  });

  it("gives a command's payload as a view, with an empty payload allowed", () => {
    const bytes = encodeSessionEnvelope({
      kind: "command",
      clientId: 1,
      sequence: 1,
      lowestUnacked: 1,
      timestampMs: 0,
      payload: new Uint8Array(0),
    });
    const decoded = decodeSessionEnvelope(bytes);
    expect(decoded.ok && decoded.envelope.kind === "command" && decoded.envelope.payload.byteLength).toBe(0);
  });

  it.each([
    ["empty bytes", [], /truncated: no magic byte/],
    ["another magic", [0x7b, 1, 1, 0], /first byte is 0x7b/],
    ["a future version", [SESSION_ENVELOPE_MAGIC, 2, 1, 0], /unknown format version 2/],
    ["an unknown kind", [SESSION_ENVELOPE_MAGIC, 1, 9, 0], /unknown kind 0x09/],
    ["a register without its timestamp", [SESSION_ENVELOPE_MAGIC, 1, 1], /truncated: no timestamp/],
    ["a register with trailing bytes", [SESSION_ENVELOPE_MAGIC, 1, 1, 0, 0], /1 trailing bytes/],
    ["a keep-alive with trailing bytes", [SESSION_ENVELOPE_MAGIC, 1, 3, 1, 1, 1, 7], /1 trailing bytes/],
    ["a varint cut short", [SESSION_ENVELOPE_MAGIC, 1, 1, 0x80], /truncated/],
    ["a padded varint", [SESSION_ENVELOPE_MAGIC, 1, 1, 0x81, 0x00], /padded varint/],
    [
      "a varint over 8 bytes",
      [SESSION_ENVELOPE_MAGIC, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
      /longer than 8 bytes/,
    ],
    [
      "a varint above 2^53 - 1",
      [SESSION_ENVELOPE_MAGIC, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
      /above 2\^53/,
    ],
    ["client id 0", [SESSION_ENVELOPE_MAGIC, 1, 2, 0, 1, 1, 0], /clientId must be a positive/],
    ["sequence 0", [SESSION_ENVELOPE_MAGIC, 1, 2, 1, 0, 0, 0], /sequence must be a positive/],
    [
      "an acknowledgement above the sequence",
      [SESSION_ENVELOPE_MAGIC, 1, 2, 1, 3, 4, 0],
      /lowestUnacked 4 is above sequence 3/,
    ],
  ])("refuses %s with a problem, never a throw", (_name, bytes, problem) => {
    expect(problemOf(Uint8Array.from(bytes))).toMatch(problem);
  });

  it("refuses something that is not bytes", () => {
    expect(problemOf("hello" as unknown as Uint8Array)).toMatch(/must be a Uint8Array/);
  });

  test.prop([fc.uint8Array({ maxLength: 24 })])("never throws on arbitrary bytes", (bytes) => {
    const decoded = decodeSessionEnvelope(bytes);
    if (decoded.ok) expect(encodeSessionEnvelope(decoded.envelope)).toEqual(bytes);
    else expect(decoded.problem.length).toBeGreaterThan(0);
  });

  test.prop([envelopeArb, fc.nat(), fc.integer({ min: 1, max: 255 })])(
    "never throws on a damaged envelope",
    (envelope, at, flip) => {
      const bytes = encodeSessionEnvelope(envelope);
      const damaged = bytes.slice();
      damaged[at % damaged.length] ^= flip;
      expect(() => decodeSessionEnvelope(damaged)).not.toThrow();
      expect(() => decodeSessionEnvelope(bytes.subarray(0, at % bytes.length))).not.toThrow();
    },
  );

  it("refuses to encode an invalid envelope", () => {
    expect(() => encodeSessionEnvelope({ kind: "register", timestampMs: -1 })).toThrow(RangeError);
    expect(() => encodeSessionEnvelope({ kind: "register", timestampMs: 1.5 })).toThrow(RangeError);
    expect(() =>
      encodeSessionEnvelope({
        kind: "command",
        clientId: 1,
        sequence: 2,
        lowestUnacked: 3,
        timestampMs: 0,
        payload: new Uint8Array(0),
      }),
    ).toThrow(/lowestUnacked 3 is above sequence 2/);
  });
});
