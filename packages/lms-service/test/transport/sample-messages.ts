import type { Message, NodeId, SnapshotMeta } from "@lectern/raft-core";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** A snapshot position with a joint configuration and addresses, so every ConfigState field is exercised. */
export const sampleMeta: SnapshotMeta = {
  index: 120,
  term: 4,
  config: {
    voters: ["n1", "n2", "n3"],
    outgoing: ["n1", "n2", "n4"],
    learners: ["n5"],
    addresses: { n1: "127.0.0.1:7001", n2: "127.0.0.1:7002", n5: "[::1]:7005" },
  },
};

/**
 * One message of every type in raft-core's union, with non-default values in every field, from
 * `from` to `to`. Used to check that each type crosses the wire intact.
 */
export function sampleMessages(from: NodeId, to: NodeId, clusterId: string): Message[] {
  const envelope = { from, to, clusterId };
  return [
    { ...envelope, type: "vote", term: 7, preVote: true, lastLogIndex: 41, lastLogTerm: 6, transfer: true },
    { ...envelope, type: "voteResp", term: 7, preVote: true, granted: true },
    {
      ...envelope,
      type: "app",
      term: 7,
      prevLogIndex: 40,
      prevLogTerm: 6,
      leaderCommit: 39,
      entries: [
        { index: 41, term: 6, type: "normal", data: bytes(1, 2, 3), origin: "n2", requestId: 99 },
        { index: 42, term: 7, type: "noop", data: bytes() },
        { index: 43, term: 7, type: "config", data: bytes(9) },
      ],
    },
    { ...envelope, type: "appResp", term: 7, success: false, index: 40, hintIndex: 30, hintTerm: 5 },
    { ...envelope, type: "heartbeat", term: 7, commit: 43, round: 12 },
    { ...envelope, type: "heartbeatResp", term: 7, round: 12 },
    {
      ...envelope,
      type: "prop",
      term: 7,
      proposals: [
        { data: bytes(4, 5), origin: from, requestId: 1 },
        { data: bytes(6), type: "normal", origin: from, requestId: 2 },
      ],
    },
    { ...envelope, type: "propReject", term: 7, requestIds: [1, 2], leaderHint: "n3" },
    { ...envelope, type: "readIndex", term: 7, requestIds: [5, 6, 7] },
    { ...envelope, type: "readIndexResp", term: 7, requestIds: [5, 6, 7], index: 43 },
    { ...envelope, type: "snap", term: 7, meta: sampleMeta },
    {
      ...envelope,
      type: "snapChunk",
      term: 7,
      meta: sampleMeta,
      offset: 1_048_576,
      data: bytes(7, 7, 7),
      last: true,
      checksum: 0xdeadbeef,
    },
    { ...envelope, type: "snapChunkResp", term: 7, meta: sampleMeta, checksum: 0xdeadbeef, offset: 2_097_152 },
    { ...envelope, type: "timeoutNow", term: 8 },
  ];
}
