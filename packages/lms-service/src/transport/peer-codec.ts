import type {
  ConfigState,
  Entry,
  EntryType,
  Message,
  MessageType,
  NodeId,
  Proposal,
  SnapshotMeta,
} from "@lectern/raft-core";
import {
  PeerFrame,
  type Entry as WireEntry,
  EntryType as WireEntryType,
  type Hello as WireHello,
  type Proposal as WireProposal,
  ProposalType as WireProposalType,
  type SnapshotMeta as WireSnapshotMeta,
} from "../gen/raft.js";
import { helloCredentialBytes, helloNonceBytes, nodeIdMaxChars } from "./limits.js";

/**
 * Codec between raft-core's `Message` union and the `PeerFrame` of proto/raft.proto.
 *
 * Encoding maps every field 1:1. Decoding is total and strict: it never throws, whatever the bytes,
 * and returns a {@link MalformedPeerFrame} for anything a correct peer cannot have sent: bytes that
 * are not protobuf, a 64-bit integer above 2^53 - 1 (never rounded), a missing oneof body or
 * sub-message, an enum value this version does not know, an empty or overlong node id, a hello
 * field of the wrong length. It checks shape, not Raft semantics: whether a term or an entry
 * sequence makes sense is the receiving core's call (`validateMessage`), as the Transport contract says.
 */

/** Why a frame was refused. */
export type MalformedPeerFrameKind =
  /** Not decodable as a PeerFrame: truncated, bad wire type, bad varint. */
  | "bad-encoding"
  /** A 64-bit integer above Number.MAX_SAFE_INTEGER. */
  | "unsafe-integer"
  /** A required oneof body, sub-message or id is absent. */
  | "missing-field"
  /** An enum value outside the known set (or UNSPECIFIED where a value is required). */
  | "unknown-enum"
  /** A field present but impossible: wrong length, duplicate key, an id that disagrees with the envelope. */
  | "bad-value";

/** A frame that did not decode; returned, never thrown. */
export interface MalformedPeerFrame {
  readonly code: "MALFORMED_PEER_FRAME";
  readonly kind: MalformedPeerFrameKind;
  /** Names the field and what was wrong with it. */
  readonly message: string;
}

/**
 * The first frame in each direction of a peer stream: who is speaking, to whom, proven with the
 * cluster secret (see peer-credential.ts). Field meanings are documented on `Hello` in raft.proto.
 */
export interface PeerHello {
  readonly protocolVersion: number;
  readonly clusterId: string;
  readonly senderId: NodeId;
  readonly receiverId: NodeId;
  readonly timestampMs: number;
  readonly nonce: Uint8Array;
  /** Empty in the dialer's hello; the dialer's nonce in the acceptor's answer. */
  readonly echoNonce: Uint8Array;
  readonly credential: Uint8Array;
}

export type DecodedPeerFrame =
  | { readonly kind: "hello"; readonly hello: PeerHello }
  | { readonly kind: "message"; readonly message: Message };

export type PeerFrameDecodeResult =
  | { readonly ok: true; readonly frame: DecodedPeerFrame }
  | { readonly ok: false; readonly error: MalformedPeerFrame };

/**
 * Encodes one Raft message as a PeerFrame. Throws only for a message no correct core produces
 * (a non-integer or unsafe index, an unknown type); the transport counts such a message as
 * unencodable and drops it.
 *
 * @example
 * ```ts
 * const bytes = encodeMessageFrame({ type: "timeoutNow", from: "n1", to: "n2", term: 3, clusterId: "c" });
 * ```
 */
export function encodeMessageFrame(message: Message): Uint8Array {
  return PeerFrame.encode({
    from: message.from,
    to: message.to,
    clusterId: message.clusterId,
    body: messageBody(message),
  }).finish();
}

/** Encodes a hello frame (the first frame of each direction). */
export function encodeHelloFrame(hello: PeerHello): Uint8Array {
  return PeerFrame.encode({
    from: "",
    to: "",
    clusterId: "",
    body: { $case: "hello", value: { ...hello } },
  }).finish();
}

/**
 * Decodes one frame. Never throws: malformed input gives `{ ok: false, error }`.
 *
 * @example
 * ```ts
 * const result = decodePeerFrame(bytes);
 * if (result.ok && result.frame.kind === "message") handler.onMessage(result.frame.message);
 * ```
 */
export function decodePeerFrame(bytes: Uint8Array): PeerFrameDecodeResult {
  let frame: PeerFrame;
  try {
    frame = PeerFrame.decode(bytes);
  } catch (error) {
    return { ok: false, error: wireError(error) };
  }
  try {
    return { ok: true, frame: fromWire(frame) };
  } catch (error) {
    if (error instanceof FrameRejection) return { ok: false, error: error.toMalformed() };
    // Unreachable by construction; kept so decode stays total even if a bug slips in.
    return { ok: false, error: malformed("bad-value", `frame could not be read: ${describe(error)}`) };
  }
}

function messageBody(message: Message): PeerFrame["body"] {
  const term = message.term;
  switch (message.type) {
    case "vote":
      return {
        $case: "requestVote",
        value: {
          term,
          candidateId: message.from,
          lastLogIndex: message.lastLogIndex,
          lastLogTerm: message.lastLogTerm,
          preVote: message.preVote,
          leadershipTransfer: message.transfer,
        },
      };
    case "voteResp":
      return {
        $case: "requestVoteResponse",
        value: { term, voteGranted: message.granted, preVote: message.preVote },
      };
    case "app":
      return {
        $case: "appendEntries",
        value: {
          term,
          leaderId: message.from,
          prevLogIndex: message.prevLogIndex,
          prevLogTerm: message.prevLogTerm,
          entries: message.entries.map(entryToWire),
          leaderCommit: message.leaderCommit,
        },
      };
    case "appResp":
      return {
        $case: "appendEntriesResponse",
        value: {
          term,
          success: message.success,
          index: message.index,
          rejectHintIndex: message.hintIndex,
          rejectHintTerm: message.hintTerm,
        },
      };
    case "heartbeat":
      return { $case: "heartbeat", value: { term, leaderCommit: message.commit, round: message.round } };
    case "heartbeatResp":
      return { $case: "heartbeatResponse", value: { term, round: message.round } };
    case "prop":
      return { $case: "forwardProposals", value: { term, proposals: message.proposals.map(proposalToWire) } };
    case "propReject":
      return {
        $case: "rejectProposals",
        value: { term, requestIds: [...message.requestIds], leaderHint: message.leaderHint },
      };
    case "readIndex":
      return { $case: "readIndex", value: { term, requestIds: [...message.requestIds] } };
    case "readIndexResp":
      return {
        $case: "readIndexResponse",
        value: { term, requestIds: [...message.requestIds], index: message.index },
      };
    case "snap":
      return { $case: "installSnapshot", value: { term, meta: metaToWire(message.meta) } };
    case "snapChunk":
      return {
        $case: "snapshotChunk",
        value: {
          term,
          meta: metaToWire(message.meta),
          offset: message.offset,
          data: message.data,
          last: message.last,
          checksum: message.checksum,
        },
      };
    case "snapChunkResp":
      return {
        $case: "snapshotChunkResponse",
        value: { term, meta: metaToWire(message.meta), checksum: message.checksum, offset: message.offset },
      };
    case "timeoutNow":
      return { $case: "timeoutNow", value: { term } };
    default:
      throw new Error(`cannot encode a message of type ${String((message as { type: unknown }).type)}`);
  }
}

const entryTypeToWire: Readonly<Record<EntryType, WireEntryType>> = {
  normal: WireEntryType.ENTRY_TYPE_NORMAL,
  noop: WireEntryType.ENTRY_TYPE_NOOP,
  config: WireEntryType.ENTRY_TYPE_CONFIG,
};

const entryTypeFromWire: ReadonlyMap<number, EntryType> = new Map([
  [WireEntryType.ENTRY_TYPE_NORMAL, "normal"],
  [WireEntryType.ENTRY_TYPE_NOOP, "noop"],
  [WireEntryType.ENTRY_TYPE_CONFIG, "config"],
]);

function entryToWire(entry: Entry): WireEntry {
  const wire: WireEntry = {
    index: entry.index,
    term: entry.term,
    type: entryTypeToWire[entry.type],
    data: entry.data,
  };
  if (entry.origin !== undefined) wire.origin = entry.origin;
  if (entry.requestId !== undefined) wire.requestId = entry.requestId;
  return wire;
}

function proposalToWire(proposal: Proposal): WireProposal {
  const type =
    proposal.type === undefined
      ? WireProposalType.PROPOSAL_TYPE_UNSPECIFIED
      : proposal.type === "config"
        ? WireProposalType.PROPOSAL_TYPE_CONFIG
        : WireProposalType.PROPOSAL_TYPE_NORMAL;
  return { data: proposal.data, type, origin: proposal.origin, requestId: proposal.requestId };
}

function metaToWire(meta: SnapshotMeta): WireSnapshotMeta {
  const { config } = meta;
  return {
    lastIncludedIndex: meta.index,
    lastIncludedTerm: meta.term,
    configuration: {
      voters: [...config.voters],
      outgoingVoters: [...config.outgoing],
      learners: [...config.learners],
      addresses:
        config.addresses === undefined
          ? undefined
          : { members: Object.entries(config.addresses).map(([id, address]) => ({ id, address })) },
    },
  };
}

/** Thrown inside the decoder only, turned into a returned {@link MalformedPeerFrame} at its edge. */
class FrameRejection {
  constructor(
    readonly kind: MalformedPeerFrameKind,
    readonly message: string,
  ) {}

  toMalformed(): MalformedPeerFrame {
    return malformed(this.kind, this.message);
  }
}

function malformed(kind: MalformedPeerFrameKind, message: string): MalformedPeerFrame {
  return { code: "MALFORMED_PEER_FRAME", kind, message };
}

function wireError(error: unknown): MalformedPeerFrame {
  const text = describe(error);
  // ts-proto (forceLong=number) refuses to turn an unsafe 64-bit value into a number.
  if (/MAX_SAFE_INTEGER/.test(text)) {
    return malformed("unsafe-integer", "a 64-bit integer is above 2^53 - 1 (indexes, terms and offsets must be safe)");
  }
  return malformed("bad-encoding", `not a PeerFrame: ${text}`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fromWire(frame: PeerFrame): DecodedPeerFrame {
  const body = frame.body;
  if (body === undefined)
    throw new FrameRejection("missing-field", "frame has no body (neither a hello nor a message)");
  if (body.$case === "hello") return { kind: "hello", hello: helloFromWire(body.value) };
  const from = nodeId(frame.from, "from");
  const to = nodeId(frame.to, "to");
  const envelope = { from, to, clusterId: frame.clusterId };
  return { kind: "message", message: messageFromWire(body, envelope) };
}

type MessageBody = Exclude<NonNullable<PeerFrame["body"]>, { $case: "hello" }>;

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly clusterId: string;
}

function messageFromWire(body: MessageBody, envelope: Envelope): Message {
  const { from } = envelope;
  switch (body.$case) {
    case "requestVote": {
      const v = body.value;
      if (v.candidateId !== from) throw mismatch("request_vote.candidate_id", v.candidateId, from);
      return {
        type: "vote",
        ...envelope,
        term: v.term,
        preVote: v.preVote,
        lastLogIndex: v.lastLogIndex,
        lastLogTerm: v.lastLogTerm,
        transfer: v.leadershipTransfer,
      };
    }
    case "requestVoteResponse": {
      const v = body.value;
      return { type: "voteResp", ...envelope, term: v.term, preVote: v.preVote, granted: v.voteGranted };
    }
    case "appendEntries": {
      const v = body.value;
      if (v.leaderId !== from) throw mismatch("append_entries.leader_id", v.leaderId, from);
      return {
        type: "app",
        ...envelope,
        term: v.term,
        prevLogIndex: v.prevLogIndex,
        prevLogTerm: v.prevLogTerm,
        entries: v.entries.map(entryFromWire),
        leaderCommit: v.leaderCommit,
      };
    }
    case "appendEntriesResponse": {
      const v = body.value;
      return {
        type: "appResp",
        ...envelope,
        term: v.term,
        success: v.success,
        index: v.index,
        hintIndex: v.rejectHintIndex,
        hintTerm: v.rejectHintTerm,
      };
    }
    case "heartbeat":
      return {
        type: "heartbeat",
        ...envelope,
        term: body.value.term,
        commit: body.value.leaderCommit,
        round: body.value.round,
      };
    case "heartbeatResponse":
      return { type: "heartbeatResp", ...envelope, term: body.value.term, round: body.value.round };
    case "forwardProposals":
      return {
        type: "prop",
        ...envelope,
        term: body.value.term,
        proposals: body.value.proposals.map(proposalFromWire),
      };
    case "rejectProposals":
      return {
        type: "propReject",
        ...envelope,
        term: body.value.term,
        requestIds: body.value.requestIds,
        leaderHint: body.value.leaderHint,
      };
    case "readIndex":
      return { type: "readIndex", ...envelope, term: body.value.term, requestIds: body.value.requestIds };
    case "readIndexResponse":
      return {
        type: "readIndexResp",
        ...envelope,
        term: body.value.term,
        requestIds: body.value.requestIds,
        index: body.value.index,
      };
    case "installSnapshot":
      return { type: "snap", ...envelope, term: body.value.term, meta: metaFromWire(body.value.meta) };
    case "snapshotChunk": {
      const v = body.value;
      return {
        type: "snapChunk",
        ...envelope,
        term: v.term,
        meta: metaFromWire(v.meta),
        offset: v.offset,
        data: plainBytes(v.data),
        last: v.last,
        checksum: v.checksum,
      };
    }
    case "snapshotChunkResponse": {
      const v = body.value;
      return {
        type: "snapChunkResp",
        ...envelope,
        term: v.term,
        meta: metaFromWire(v.meta),
        checksum: v.checksum,
        offset: v.offset,
      };
    }
    case "timeoutNow":
      return { type: "timeoutNow", ...envelope, term: body.value.term };
    default:
      throw new FrameRejection("bad-value", `unknown body ${String((body as { $case: unknown }).$case)}`);
  }
}

function entryFromWire(wire: WireEntry, position: number): Entry {
  const type = entryTypeFromWire.get(wire.type);
  if (type === undefined) {
    throw new FrameRejection("unknown-enum", `entries[${position}].type ${wire.type} is not a known EntryType`);
  }
  const entry: { -readonly [K in keyof Entry]: Entry[K] } = {
    index: wire.index,
    term: wire.term,
    type,
    data: plainBytes(wire.data),
  };
  if (wire.origin !== undefined) entry.origin = nodeId(wire.origin, `entries[${position}].origin`);
  if (wire.requestId !== undefined) entry.requestId = wire.requestId;
  return entry;
}

function proposalFromWire(wire: WireProposal, position: number): Proposal {
  const base = {
    data: plainBytes(wire.data),
    origin: nodeId(wire.origin, `proposals[${position}].origin`),
    requestId: wire.requestId,
  };
  switch (wire.type) {
    case WireProposalType.PROPOSAL_TYPE_UNSPECIFIED:
      return base;
    case WireProposalType.PROPOSAL_TYPE_NORMAL:
      return { ...base, type: "normal" };
    case WireProposalType.PROPOSAL_TYPE_CONFIG:
      return { ...base, type: "config" };
    default:
      throw new FrameRejection("unknown-enum", `proposals[${position}].type ${wire.type} is not a known ProposalType`);
  }
}

function metaFromWire(wire: WireSnapshotMeta | undefined): SnapshotMeta {
  if (wire === undefined) throw new FrameRejection("missing-field", "snapshot meta is missing");
  const configuration = wire.configuration;
  if (configuration === undefined) throw new FrameRejection("missing-field", "snapshot meta.configuration is missing");
  const config: { -readonly [K in keyof ConfigState]: ConfigState[K] } = {
    voters: configuration.voters.map((id, i) => nodeId(id, `configuration.voters[${i}]`)),
    outgoing: configuration.outgoingVoters.map((id, i) => nodeId(id, `configuration.outgoing_voters[${i}]`)),
    learners: configuration.learners.map((id, i) => nodeId(id, `configuration.learners[${i}]`)),
  };
  if (configuration.addresses !== undefined) {
    const pairs: [NodeId, string][] = [];
    const seen = new Set<NodeId>();
    configuration.addresses.members.forEach((member, i) => {
      const id = nodeId(member.id, `configuration.addresses[${i}].id`);
      if (seen.has(id)) throw new FrameRejection("bad-value", `configuration.addresses lists ${id} twice`);
      seen.add(id);
      pairs.push([id, member.address]);
    });
    // fromEntries defines own properties, so an id such as "__proto__" cannot reach a prototype.
    config.addresses = Object.fromEntries(pairs);
  }
  return { index: wire.lastIncludedIndex, term: wire.lastIncludedTerm, config };
}

function helloFromWire(wire: WireHello): PeerHello {
  if (wire.protocolVersion === 0) throw new FrameRejection("missing-field", "hello.protocol_version is missing");
  if (wire.protocolVersion < 0) throw new FrameRejection("unknown-enum", "hello.protocol_version is negative");
  if (wire.nonce.byteLength !== helloNonceBytes) {
    throw new FrameRejection("bad-value", `hello.nonce must be ${helloNonceBytes} bytes, got ${wire.nonce.byteLength}`);
  }
  if (wire.echoNonce.byteLength !== 0 && wire.echoNonce.byteLength !== helloNonceBytes) {
    throw new FrameRejection("bad-value", `hello.echo_nonce must be empty or ${helloNonceBytes} bytes`);
  }
  if (wire.credential.byteLength !== helloCredentialBytes) {
    throw new FrameRejection("bad-value", `hello.credential must be ${helloCredentialBytes} bytes`);
  }
  return {
    protocolVersion: wire.protocolVersion,
    clusterId: wire.clusterId,
    senderId: nodeId(wire.senderId, "hello.sender_id"),
    receiverId: nodeId(wire.receiverId, "hello.receiver_id"),
    timestampMs: wire.timestampMs,
    nonce: plainBytes(wire.nonce),
    echoNonce: plainBytes(wire.echoNonce),
    credential: plainBytes(wire.credential),
  };
}

function nodeId(value: string, field: string): NodeId {
  if (value === "") throw new FrameRejection("missing-field", `${field} is empty`);
  if (value.length > nodeIdMaxChars) {
    throw new FrameRejection("bad-value", `${field} is longer than ${nodeIdMaxChars} characters`);
  }
  return value;
}

function mismatch(field: string, value: string, from: NodeId): FrameRejection {
  return new FrameRejection("bad-value", `${field} "${value}" is not the frame's sender "${from}"`);
}

/**
 * A plain Uint8Array view of decoded bytes (the decoder hands out Buffer slices of the received
 * frame). No copy: the frame buffer is fresh per message and never reused.
 */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Every member of raft-core's `Message` union; a type added there fails to compile here until handled. */
const carriedMessageTypes: Readonly<Record<MessageType, true>> = {
  vote: true,
  voteResp: true,
  app: true,
  appResp: true,
  heartbeat: true,
  heartbeatResp: true,
  prop: true,
  propReject: true,
  readIndex: true,
  readIndexResp: true,
  snap: true,
  snapChunk: true,
  snapChunkResp: true,
  timeoutNow: true,
};

/** The message types this codec carries: every member of raft-core's `Message` union. */
export const peerMessageTypes = Object.keys(carriedMessageTypes) as readonly MessageType[];
