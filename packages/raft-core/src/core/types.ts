/**
 * Protocol vocabulary shared by the core, the runtime and the simulator.
 *
 * Indexes and terms are 1-based safe integers; index 0 / term 0 mean "nothing".
 * Node ids are opaque non-empty strings.
 */

/** A member's id. Opaque to the core; compared with `===` and ordered with `<`. */
export type NodeId = string;

/** What a log entry carries. */
export type EntryType = "normal" | "noop" | "config";

/** One log entry. `data` is opaque to the core and never copied by it. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
  /** Node that accepted the proposal; with `requestId` it matches a forwarded proposal to its caller. */
  readonly origin?: NodeId;
  readonly requestId?: number;
}

/** What must be durable before a vote or append acknowledgement leaves the node (thesis §3.8). */
export interface HardState {
  readonly term: number;
  /** Candidate voted for in `term`, or "" for none. */
  readonly vote: NodeId;
  readonly commit: number;
}

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

/** Volatile state the caller may want to observe; changes are reported in Ready. */
export interface SoftState {
  readonly role: Role;
  /** Known leader of the current term, or "" when unknown. */
  readonly leader: NodeId;
}

/** The membership a snapshot carries (rule 9): voters, outgoing voters of a joint configuration, learners. */
export interface ConfigState {
  readonly voters: readonly NodeId[];
  readonly outgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Each member's address as the membership change gave it (opaque to the core). */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/** Where a snapshot stands in the log, and the configuration as of that point. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly config: ConfigState;
}

/** A proposal waiting to become an entry: the payload and the ids that match it to its caller. */
export interface Proposal {
  readonly data: Uint8Array;
  readonly type?: "normal" | "config";
  readonly origin: NodeId;
  readonly requestId: number;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** Cluster identity; a message whose cluster id differs from the receiver's is dropped (rule 10). */
  readonly clusterId: string;
}

/** RequestVote (§3.4) and PreVote (thesis §9.6). A PreVote carries term+1 and never changes the receiver's term. */
export interface VoteRequest extends MessageBase {
  readonly type: "vote";
  readonly preVote: boolean;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Campaign started by TimeoutNow during a leadership transfer: bypasses leader stickiness. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: "voteResp";
  readonly preVote: boolean;
  readonly granted: boolean;
}

/** AppendEntries (§3.5). */
export interface AppendRequest extends MessageBase {
  readonly type: "app";
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
}

export interface AppendResponse extends MessageBase {
  readonly type: "appResp";
  readonly success: boolean;
  /** On success: the last index this message made durable on the follower. On reject: the rejected prevLogIndex. */
  readonly index: number;
  /** On reject: the follower's best guess of a matching (index, term) at or below the rejected index. */
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** Leader heartbeat; `round` numbers the leadership-confirmation rounds that serve ReadIndex (rule 6). */
export interface HeartbeatRequest extends MessageBase {
  readonly type: "heartbeat";
  readonly commit: number;
  readonly round: number;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: "heartbeatResp";
  readonly round: number;
}

/** Proposals forwarded from a follower to its leader. */
export interface ProposeRequest extends MessageBase {
  readonly type: "prop";
  readonly proposals: readonly Proposal[];
}

/** The leader refusing forwarded proposals (it is no longer leader, or is transferring). */
export interface ProposeReject extends MessageBase {
  readonly type: "propReject";
  readonly requestIds: readonly number[];
  readonly leaderHint: NodeId;
}

/** A follower asking the leader for a read index on behalf of its clients. */
export interface ReadIndexRequest extends MessageBase {
  readonly type: "readIndex";
  readonly requestIds: readonly number[];
}

/** The leader's answer: `index` > 0 is the read index; 0 means refused (retry elsewhere). */
export interface ReadIndexResponse extends MessageBase {
  readonly type: "readIndexResp";
  readonly requestIds: readonly number[];
  readonly index: number;
}

/**
 * InstallSnapshot (thesis §5.3), as the core sees it: the runtime has already received and
 * verified the snapshot's data through its own chunk messages, and steps in only the metadata.
 */
export interface SnapshotRequest extends MessageBase {
  readonly type: "snap";
  readonly meta: SnapshotMeta;
}

/**
 * One piece of a snapshot's data on its way from the leader's runtime to a follower's runtime
 * (thesis §5.3, InstallSnapshot in chunks). Runtime-level: the receiving runtime assembles the
 * chunks, verifies `checksum` and only then steps a {@link SnapshotRequest} into its core. The core
 * itself never handles one (`step` drops it as malformed).
 */
export interface SnapshotChunk extends MessageBase {
  readonly type: "snapChunk";
  readonly meta: SnapshotMeta;
  /** Byte offset of `data` within the whole snapshot; 0 starts (or restarts) an assembly. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** This chunk ends the snapshot. */
  readonly last: boolean;
  /** CRC-32C of the whole snapshot data (every chunk carries it), checked once the last chunk arrived. */
  readonly checksum: number;
}

/**
 * A follower's answer to a chunk that did not extend its assembly (a gap after a lost chunk, or a
 * resent chunk it already holds): "I hold the first `offset` bytes of this snapshot", so the
 * leader resumes from there instead of starting over. A runtime message, like `snapChunk`.
 */
export interface SnapshotChunkResponse extends MessageBase {
  readonly type: "snapChunkResp";
  readonly meta: SnapshotMeta;
  /** The checksum of the snapshot being assembled, to tell two snapshots at one index apart. */
  readonly checksum: number;
  /** Bytes of the snapshot the follower holds (and verified so far, in order). */
  readonly offset: number;
}

/** Leadership transfer (thesis §3.10): the target campaigns at once. */
export interface TimeoutNow extends MessageBase {
  readonly type: "timeoutNow";
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | ProposeRequest
  | ProposeReject
  | ReadIndexRequest
  | ReadIndexResponse
  | SnapshotRequest
  | SnapshotChunk
  | SnapshotChunkResponse
  | TimeoutNow;

export type MessageType = Message["type"];

/**
 * A completed (or failed) linearizable read. `index` is the commit index the read must wait for;
 * the caller serves the read once it has applied at least `index`. `index` = 0 means the read failed
 * and must be retried (leadership was lost or never confirmed).
 */
export interface ReadState {
  readonly requestId: number;
  readonly index: number;
}

/** The leader needs `to` to receive the snapshot at `meta`; the runtime streams it, then calls `reportSnapshot`. */
export interface SnapshotToSend {
  readonly to: NodeId;
  readonly meta: SnapshotMeta;
}

/** Forwarded proposals that the leader refused; the origin fails them with a not-leader error. */
export interface RejectedProposals {
  readonly requestIds: readonly number[];
  readonly leaderHint: NodeId;
}

/**
 * Everything the core wants done, accumulated since the last `ready()`.
 *
 * Contract: persist `snapshot` (if any: install it into the state machine and discard the stored
 * log up to it), `hardState` and `entries` in ONE atomic write (entries replace any stored suffix
 * from `entries[0].index` on: truncation and append are one write, rule 4). `messages` may leave at
 * once. `messagesAfterPersist` leave only once that write is durable. `committedEntries` are
 * applied in order, and only after that write is durable. Then call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  /** A snapshot received from the leader, to install before anything else in this Ready. */
  readonly snapshot: SnapshotMeta | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly rejectedProposals: readonly RejectedProposals[];
  readonly snapshotsToSend: readonly SnapshotToSend[];
}

/** Why the core dropped an incoming message; counted in `DropCounters`. */
export type DropReason =
  /** The sender belongs to another cluster (rule 10). */
  | "wrong-cluster"
  | "not-addressed-to-me"
  /** Wrong shape, or internally impossible (entry terms above the message term, gaps, ...). */
  | "malformed"
  /** Carries a term older than ours and needs no answer. */
  | "stale-term"
  /** A response from a node the leader tracks no progress for. */
  | "unknown-sender"
  /** Well formed but meaningless in our role (e.g. a vote response to a follower). */
  | "unexpected"
  /** Would contradict committed state (an append conflicting below our commit index). */
  | "impossible"
  /** A vote request ignored because a leader was heard from within the election timeout (thesis §4.2.3). */
  | "in-lease";

export type DropCounters = Readonly<Record<DropReason, number>>;
