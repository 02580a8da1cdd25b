import type { ConfigState, Entry, Message, Proposal, SnapshotMeta } from "@lectern/raft-core";
import fc from "fast-check";

/** Ids as the wire allows them: non-empty, valid Unicode (lone surrogates cannot survive UTF-8). */
const nodeId = fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" });
const safeNat = fc.maxSafeNat();
/** Records the decoder can reproduce: plain objects (fast-check also makes null-prototype ones). */
const plain = { noNullPrototype: true } as const;
const payload = fc.uint8Array({ maxLength: 48 });

const entry: fc.Arbitrary<Entry> = fc.record(
  {
    index: safeNat,
    term: safeNat,
    type: fc.constantFrom("normal", "noop", "config"),
    data: payload,
    origin: nodeId,
    requestId: safeNat,
  },
  { requiredKeys: ["index", "term", "type", "data"], noNullPrototype: true },
);

const proposal: fc.Arbitrary<Proposal> = fc.record(
  { data: payload, type: fc.constantFrom("normal", "config"), origin: nodeId, requestId: safeNat },
  { requiredKeys: ["data", "origin", "requestId"], noNullPrototype: true },
);

const addresses = fc
  .uniqueArray(fc.tuple(nodeId, fc.string({ maxLength: 24 })), { selector: ([id]) => id, maxLength: 5 })
  .map((pairs) => Object.fromEntries(pairs));

const config: fc.Arbitrary<ConfigState> = fc.record(
  {
    voters: fc.array(nodeId, { maxLength: 5 }),
    outgoing: fc.array(nodeId, { maxLength: 5 }),
    learners: fc.array(nodeId, { maxLength: 3 }),
    addresses,
  },
  { requiredKeys: ["voters", "outgoing", "learners"], noNullPrototype: true },
);

const meta: fc.Arbitrary<SnapshotMeta> = fc.record({ index: safeNat, term: safeNat, config }, plain);
const requestIds = fc.array(safeNat, { maxLength: 6 });
/** The whole unsigned 32-bit range (fc.nat stops at 2^31 - 1). */
const uint32 = fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([high, low]) => high * 0x1_0000 + low);

/**
 * Any message of any type in raft-core's union, with every field drawn from its whole wire range
 * (shape only: the codec does not judge Raft semantics).
 */
export const anyMessage: fc.Arbitrary<Message> = fc
  .record({ from: nodeId, to: nodeId, clusterId: fc.string({ maxLength: 16, unit: "grapheme" }), term: safeNat })
  .chain((envelope) =>
    fc.oneof(
      fc
        .record({ preVote: fc.boolean(), lastLogIndex: safeNat, lastLogTerm: safeNat, transfer: fc.boolean() })
        .map((m): Message => ({ ...envelope, type: "vote", ...m })),
      fc
        .record({ preVote: fc.boolean(), granted: fc.boolean() })
        .map((m): Message => ({ ...envelope, type: "voteResp", ...m })),
      fc
        .record({
          prevLogIndex: safeNat,
          prevLogTerm: safeNat,
          entries: fc.array(entry, { maxLength: 4 }),
          leaderCommit: safeNat,
        })
        .map((m): Message => ({ ...envelope, type: "app", ...m })),
      fc
        .record({ success: fc.boolean(), index: safeNat, hintIndex: safeNat, hintTerm: safeNat })
        .map((m): Message => ({ ...envelope, type: "appResp", ...m })),
      fc.record({ commit: safeNat, round: safeNat }).map((m): Message => ({ ...envelope, type: "heartbeat", ...m })),
      fc.record({ round: safeNat }).map((m): Message => ({ ...envelope, type: "heartbeatResp", ...m })),
      fc.array(proposal, { maxLength: 4 }).map((proposals): Message => ({ ...envelope, type: "prop", proposals })),
      fc
        .record({ requestIds, leaderHint: fc.string({ maxLength: 12, unit: "grapheme" }) })
        .map((m): Message => ({ ...envelope, type: "propReject", ...m })),
      requestIds.map((ids): Message => ({ ...envelope, type: "readIndex", requestIds: ids })),
      fc.record({ requestIds, index: safeNat }).map((m): Message => ({ ...envelope, type: "readIndexResp", ...m })),
      meta.map((m): Message => ({ ...envelope, type: "snap", meta: m })),
      fc
        .record({ meta, offset: safeNat, data: payload, last: fc.boolean(), checksum: uint32 })
        .map((m): Message => ({ ...envelope, type: "snapChunk", ...m })),
      fc
        .record({ meta, checksum: uint32, offset: safeNat })
        .map((m): Message => ({ ...envelope, type: "snapChunkResp", ...m })),
      fc.constant<Message>({ ...envelope, type: "timeoutNow" }),
    ),
  );
