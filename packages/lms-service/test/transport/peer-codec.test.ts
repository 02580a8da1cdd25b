import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Message } from "@lectern/raft-core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { EntryType, PeerFrame, type ProposalType } from "../../src/gen/raft.js";
import {
  decodePeerFrame,
  encodeHelloFrame,
  encodeMessageFrame,
  type MalformedPeerFrameKind,
  type PeerHello,
  peerMessageTypes,
} from "../../src/transport/peer-codec.js";
import { anyMessage } from "./message-arbitrary.js";
import { sampleMessages } from "./sample-messages.js";

function roundTrip(message: Message): Message {
  const result = decodePeerFrame(encodeMessageFrame(message));
  if (!result.ok) throw new Error(`decode failed: ${result.error.message}`);
  if (result.frame.kind !== "message") throw new Error("decoded a hello");
  return result.frame.message;
}

function expectMalformed(bytes: Uint8Array, kind: MalformedPeerFrameKind, message?: RegExp): void {
  const result = decodePeerFrame(bytes);
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe("MALFORMED_PEER_FRAME");
  expect(result.error.kind).toBe(kind);
  if (message) expect(result.error.message).toMatch(message);
}

const envelope = { from: "n1", to: "n2", clusterId: "c1" };
const term = 3;

/** A PeerFrame written field by field, so tests can put on the wire what no encoder would. */
function frameWithBody(fieldNumber: number, writeBody: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(envelope.from);
  w.tag(2, WireType.LengthDelimited).string(envelope.to);
  w.tag(3, WireType.LengthDelimited).string(envelope.clusterId);
  w.tag(fieldNumber, WireType.LengthDelimited).fork();
  writeBody(w);
  w.join();
  return w.finish();
}

describe("peer codec: round trips", () => {
  test("the samples cover every message type of raft-core's union", () => {
    const types = sampleMessages("n1", "n2", "c").map((m) => m.type);
    expect(new Set(types)).toEqual(new Set(peerMessageTypes));
    expect(types).toHaveLength(peerMessageTypes.length);
  });

  test.each(sampleMessages("n1", "n2", "c1").map((m) => [m.type, m] as const))("%s survives encode/decode", (_, m) => {
    expect(roundTrip(m)).toStrictEqual(m);
  });

  test("property: every message of every type decodes to exactly what was encoded", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(anyMessage, (m) => {
        seen.add(m.type);
        expect(roundTrip(m)).toStrictEqual(m);
      }),
      { numRuns: 2000 },
    );
    // The generator really reached every type (a oneof that lost a branch would pass silently).
    expect([...seen].sort()).toEqual([...peerMessageTypes].sort());
  });

  test("optional fields stay absent rather than becoming zero values", () => {
    const app = sampleMessages("n1", "n2", "c1")[2];
    if (app.type !== "app") throw new Error("sample order changed");
    const decoded = roundTrip(app);
    if (decoded.type !== "app") throw new Error("type changed");
    expect("origin" in decoded.entries[1]).toBe(false);
    expect("requestId" in decoded.entries[1]).toBe(false);
    const snap = roundTrip({
      ...envelope,
      type: "snap",
      term,
      meta: { index: 1, term: 1, config: { voters: ["a"], outgoing: [], learners: [] } },
    });
    if (snap.type !== "snap") throw new Error("type changed");
    expect("addresses" in snap.meta.config).toBe(false);
    const emptyAddresses = roundTrip({
      ...envelope,
      type: "snap",
      term,
      meta: { index: 1, term: 1, config: { voters: ["a"], outgoing: [], learners: [], addresses: {} } },
    });
    if (emptyAddresses.type !== "snap") throw new Error("type changed");
    expect(emptyAddresses.meta.config.addresses).toStrictEqual({});
  });

  test("2^53 - 1 is the largest index that crosses the wire", () => {
    const max = Number.MAX_SAFE_INTEGER;
    const m: Message = { ...envelope, type: "heartbeat", term: max, commit: max, round: max };
    expect(roundTrip(m)).toStrictEqual(m);
  });

  test("a node id named __proto__ in the address map stays an own property", () => {
    const m: Message = {
      ...envelope,
      type: "snap",
      term,
      meta: {
        index: 1,
        term: 1,
        config: {
          voters: ["__proto__"],
          outgoing: [],
          learners: [],
          addresses: Object.fromEntries([["__proto__", "h:1"]]),
        },
      },
    };
    const decoded = roundTrip(m);
    if (decoded.type !== "snap") throw new Error("type changed");
    expect(Object.getPrototypeOf(decoded.meta.config.addresses)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(decoded.meta.config.addresses, "__proto__")?.value).toBe("h:1");
  });

  test("a hello round-trips", () => {
    const hello: PeerHello = {
      protocolVersion: 1,
      clusterId: "c1",
      senderId: "n1",
      receiverId: "n2",
      timestampMs: 1_700_000_000_000,
      nonce: new Uint8Array(16).fill(1),
      echoNonce: new Uint8Array(16).fill(2),
      credential: new Uint8Array(32).fill(3),
    };
    const result = decodePeerFrame(encodeHelloFrame(hello));
    expect(result).toStrictEqual({ ok: true, frame: { kind: "hello", hello } });
  });
});

describe("peer codec: strict decoding (never throws, names what is wrong)", () => {
  test("property: arbitrary bytes never make decode throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const result = decodePeerFrame(bytes);
        if (!result.ok) expect(result.error.code).toBe("MALFORMED_PEER_FRAME");
      }),
      { numRuns: 3000 },
    );
  });

  test("property: truncated or bit-flipped frames never make decode throw", () => {
    fc.assert(
      fc.property(anyMessage, fc.nat(), fc.nat(255), (m, position, mask) => {
        const bytes = encodeMessageFrame(m);
        const cut = bytes.subarray(0, position % (bytes.length + 1));
        expect(() => decodePeerFrame(cut)).not.toThrow();
        const flipped = Uint8Array.from(bytes);
        if (flipped.length > 0) flipped[position % flipped.length] ^= mask;
        expect(() => decodePeerFrame(flipped)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });

  test("a truncated frame is bad-encoding", () => {
    const bytes = encodeMessageFrame(sampleMessages("n1", "n2", "c1")[2]);
    expectMalformed(bytes.subarray(0, bytes.length - 3), "bad-encoding");
  });

  test.each([
    ["term", 1],
    ["leader_commit", 2],
    ["round", 3],
  ])("heartbeat.%s of 2^53 is rejected as unsafe, never rounded", (_, field) => {
    const bytes = frameWithBody(15, (w) => w.tag(field, WireType.Varint).uint64(2n ** 53n));
    expectMalformed(bytes, "unsafe-integer", /2\^53/);
  });

  test("the largest uint64 in an entry index is rejected", () => {
    const bytes = frameWithBody(13, (w) => {
      w.tag(2, WireType.LengthDelimited).string("n1");
      w.tag(5, WireType.LengthDelimited).fork();
      w.tag(1, WireType.Varint).uint64(2n ** 64n - 1n);
      w.tag(3, WireType.Varint).int32(EntryType.ENTRY_TYPE_NORMAL);
      w.join();
    });
    expectMalformed(bytes, "unsafe-integer");
  });

  test("a request id of 2^53 + 1 in a list is rejected", () => {
    const bytes = frameWithBody(19, (w) => w.tag(2, WireType.Varint).uint64(2n ** 53n + 1n));
    expectMalformed(bytes, "unsafe-integer");
  });

  test("a frame without a body is missing-field", () => {
    expectMalformed(PeerFrame.encode({ ...envelope, body: undefined }).finish(), "missing-field", /no body/);
    expectMalformed(new Uint8Array(), "missing-field");
  });

  test("a message without from or to is missing-field", () => {
    const noFrom = PeerFrame.encode({ ...envelope, from: "", body: { $case: "timeoutNow", value: { term } } }).finish();
    expectMalformed(noFrom, "missing-field", /from/);
    const noTo = PeerFrame.encode({ ...envelope, to: "", body: { $case: "timeoutNow", value: { term } } }).finish();
    expectMalformed(noTo, "missing-field", /to/);
  });

  test("an overlong node id is bad-value", () => {
    const bytes = PeerFrame.encode({
      ...envelope,
      from: "x".repeat(257),
      body: { $case: "timeoutNow", value: { term } },
    }).finish();
    expectMalformed(bytes, "bad-value", /longer than 256/);
  });

  test.each(["installSnapshot", "snapshotChunk", "snapshotChunkResponse"] as const)(
    "%s without meta is missing-field",
    (kind) => {
      const body =
        kind === "installSnapshot"
          ? { $case: kind, value: { term, meta: undefined } }
          : kind === "snapshotChunk"
            ? {
                $case: kind,
                value: { term, meta: undefined, offset: 0, data: new Uint8Array(), last: false, checksum: 0 },
              }
            : { $case: kind, value: { term, meta: undefined, checksum: 0, offset: 0 } };
      expectMalformed(PeerFrame.encode({ ...envelope, body }).finish(), "missing-field", /meta/);
    },
  );

  test("a snapshot meta without its configuration is missing-field", () => {
    const bytes = PeerFrame.encode({
      ...envelope,
      body: {
        $case: "installSnapshot",
        value: { term, meta: { lastIncludedIndex: 1, lastIncludedTerm: 1, configuration: undefined } },
      },
    }).finish();
    expectMalformed(bytes, "missing-field", /configuration/);
  });

  test("an address map listing one id twice is bad-value", () => {
    const bytes = PeerFrame.encode({
      ...envelope,
      body: {
        $case: "installSnapshot",
        value: {
          term,
          meta: {
            lastIncludedIndex: 1,
            lastIncludedTerm: 1,
            configuration: {
              voters: ["a"],
              outgoingVoters: [],
              learners: [],
              addresses: {
                members: [
                  { id: "a", address: "h:1" },
                  { id: "a", address: "h:2" },
                ],
              },
            },
          },
        },
      },
    }).finish();
    expectMalformed(bytes, "bad-value", /twice/);
  });

  test.each([0, 4, 99, -1])("entry type %i is unknown-enum", (type) => {
    const bytes = PeerFrame.encode({
      ...envelope,
      body: {
        $case: "appendEntries",
        value: {
          term,
          leaderId: "n1",
          prevLogIndex: 0,
          prevLogTerm: 0,
          leaderCommit: 0,
          entries: [{ index: 1, term: 1, type: type as EntryType, data: new Uint8Array() }],
        },
      },
    }).finish();
    expectMalformed(bytes, "unknown-enum", /entries\[0\]\.type/);
  });

  test("proposal type 7 is unknown-enum", () => {
    const bytes = PeerFrame.encode({
      ...envelope,
      body: {
        $case: "forwardProposals",
        value: { term, proposals: [{ data: new Uint8Array(), type: 7 as ProposalType, origin: "n1", requestId: 1 }] },
      },
    }).finish();
    expectMalformed(bytes, "unknown-enum", /proposals\[0\]\.type/);
  });

  test("a candidate or leader id that is not the frame's sender is bad-value", () => {
    const vote = PeerFrame.encode({
      ...envelope,
      body: {
        $case: "requestVote",
        value: { term, candidateId: "n3", lastLogIndex: 0, lastLogTerm: 0, preVote: false, leadershipTransfer: false },
      },
    }).finish();
    expectMalformed(vote, "bad-value", /candidate_id/);
    const app = PeerFrame.encode({
      ...envelope,
      body: {
        $case: "appendEntries",
        value: { term, leaderId: "n3", prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 },
      },
    }).finish();
    expectMalformed(app, "bad-value", /leader_id/);
  });

  test("a hello with a short nonce, a short credential or no version is refused", () => {
    const hello = {
      protocolVersion: 1,
      clusterId: "c1",
      senderId: "n1",
      receiverId: "n2",
      timestampMs: 1,
      nonce: new Uint8Array(16),
      echoNonce: new Uint8Array(),
      credential: new Uint8Array(32),
    };
    expectMalformed(encodeHelloFrame({ ...hello, nonce: new Uint8Array(8) }), "bad-value", /nonce/);
    expectMalformed(encodeHelloFrame({ ...hello, echoNonce: new Uint8Array(3) }), "bad-value", /echo_nonce/);
    expectMalformed(encodeHelloFrame({ ...hello, credential: new Uint8Array(31) }), "bad-value", /credential/);
    expectMalformed(encodeHelloFrame({ ...hello, protocolVersion: 0 }), "missing-field", /protocol_version/);
    expectMalformed(encodeHelloFrame({ ...hello, senderId: "" }), "missing-field", /sender_id/);
  });

  test("encoding refuses a message no core produces instead of sending garbage", () => {
    const bad = { ...envelope, type: "heartbeat", term: 1.5, commit: 0, round: 0 } as Message;
    expect(() => encodeMessageFrame(bad)).toThrow();
    const unknown = { ...envelope, type: "gossip", term: 1 } as unknown as Message;
    expect(() => encodeMessageFrame(unknown)).toThrow(/gossip/);
  });
});
