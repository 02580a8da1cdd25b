import { status } from "@grpc/grpc-js";
import type { Role as RaftRole, ServerStatus } from "@lectern/raft-core";
import {
  type ClusterServiceServer,
  type GetClusterStatusResponse,
  type GetHealthResponse,
  type MemberStatus,
  MembershipKind,
  NodeRole,
  ReplicationState,
} from "../gen/lms.js";
import { parsePeers } from "../peers.js";
import { invalidArgument, LmsCallError } from "./call-error.js";
import { authenticate, type Caller, checkIdempotencyKey, unary } from "./call-helpers.js";
import type { LmsServiceContext } from "./service-context.js";

/** How long a membership change or leadership transfer may take before the client is told to retry. */
export const membershipTimeoutMs = 10_000;

const nodeRoles: Readonly<Record<RaftRole, NodeRole>> = {
  follower: NodeRole.NODE_ROLE_FOLLOWER,
  "pre-candidate": NodeRole.NODE_ROLE_PRE_CANDIDATE,
  candidate: NodeRole.NODE_ROLE_CANDIDATE,
  leader: NodeRole.NODE_ROLE_LEADER,
};

const replicationStates = {
  probe: ReplicationState.REPLICATION_STATE_PROBE,
  replicate: ReplicationState.REPLICATION_STATE_REPLICATE,
  snapshot: ReplicationState.REPLICATION_STATE_SNAPSHOT,
} as const;

function requireAdmin(caller: Caller): void {
  if (caller.role !== "admin") throw new LmsCallError(status.PERMISSION_DENIED, "only an admin may manage the cluster");
}

function raftStatus(context: LmsServiceContext): ServerStatus {
  try {
    return context.raft.status();
  } catch {
    throw new LmsCallError(status.UNAVAILABLE, "the node is still starting; retry shortly", "STOPPED");
  }
}

function checkedNodeId(raw: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(raw)) {
    throw invalidArgument(
      "node_id",
      "must be letters, digits, '_', '.' and '-', starting alphanumeric, at most 64 characters",
    );
  }
  return raw;
}

/** Checks `host:port` (or `[v6]:port`) with the same rules as PEERS. */
function checkedAddress(raw: string): string {
  try {
    parsePeers(`x=${raw}`);
  } catch {
    throw invalidArgument("address", "must be host:port (or [ipv6]:port)");
  }
  return raw;
}

/** This node's health as anyone may see it: no addresses but the leader's client address. */
export function healthOf(context: LmsServiceContext): GetHealthResponse {
  let raft: ServerStatus;
  try {
    raft = context.raft.status();
  } catch {
    return {
      nodeId: context.nodeId,
      lifecycle: "starting",
      role: NodeRole.NODE_ROLE_UNSPECIFIED,
      term: 0,
      leaderId: "",
      leaderAddress: "",
    };
  }
  return {
    nodeId: context.nodeId,
    lifecycle: raft.lifecycle === "new" ? "starting" : raft.lifecycle,
    role: nodeRoles[raft.role],
    term: raft.term,
    leaderId: raft.leader,
    leaderAddress: raft.leader === "" ? "" : (context.addressOf(raft.leader) ?? ""),
  };
}

/** Every member of the configuration as this node sees it, with replication progress on a leader. */
export function clusterStatusOf(context: LmsServiceContext): GetClusterStatusResponse {
  const raft = raftStatus(context);
  const transport = context.transportStatus();
  const links = new Map(transport.peers.map((peer) => [peer.id, peer]));
  const now = context.wallClockMs();
  const kinds = new Map<string, MembershipKind>();
  for (const id of raft.outgoingVoters) kinds.set(id, MembershipKind.MEMBERSHIP_KIND_OUTGOING_VOTER);
  for (const id of raft.voters) kinds.set(id, MembershipKind.MEMBERSHIP_KIND_VOTER);
  for (const id of raft.learners) kinds.set(id, MembershipKind.MEMBERSHIP_KIND_LEARNER);
  const isLeader = raft.role === "leader";
  const members: MemberStatus[] = [...kinds.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, kind]) => {
      const isSelf = id === context.nodeId;
      const link = links.get(id);
      const progress = isLeader && !isSelf ? raft.progress[id] : undefined;
      return {
        id,
        address: context.addressOf(id) ?? "",
        kind,
        isSelf,
        isLeader: id === raft.leader,
        connected: isSelf || link?.connected === true,
        matchIndex: progress?.match ?? 0,
        nextIndex: progress?.next ?? 0,
        replication:
          progress === undefined ? ReplicationState.REPLICATION_STATE_UNSPECIFIED : replicationStates[progress.state],
        recentlyActive: progress?.recentActive ?? false,
        lastContactMsAgo:
          link === undefined || link.lastReceivedAtMs === 0 ? 0 : Math.max(1, now - link.lastReceivedAtMs),
      };
    });
  const counters = transport.counters;
  return {
    clusterId: context.clusterId,
    nodeId: context.nodeId,
    role: nodeRoles[raft.role],
    term: raft.term,
    leaderId: raft.leader,
    commitIndex: raft.commit,
    appliedIndex: raft.stateMachineApplied,
    lastLogIndex: raft.lastIndex,
    snapshotIndex: raft.latestSnapshotIndex,
    members,
    pendingProposals: raft.pendingProposals,
    pendingReads: raft.pendingReads,
    droppedPeerFrames:
      counters.droppedQueueFull + counters.malformedFrames + counters.misaddressedFrames + counters.refusedHellos,
  };
}

/** ClusterService: health (anyone), status and membership (admins). */
export function clusterService(context: LmsServiceContext): ClusterServiceServer {
  const membership = async (
    metadata: Parameters<typeof authenticate>[1],
    idempotencyKey: string,
    change: () => Promise<void>,
  ) => {
    const caller = await authenticate(context, metadata);
    requireAdmin(caller);
    checkIdempotencyKey(idempotencyKey);
    await change();
    return { status: clusterStatusOf(context) };
  };
  return {
    getHealth: unary(context, async () => healthOf(context)),

    getClusterStatus: unary(context, async (_request, call) => {
      requireAdmin(await authenticate(context, call.metadata));
      return clusterStatusOf(context);
    }),

    addMember: unary(context, async (request, call) =>
      membership(call.metadata, request.idempotencyKey, () => {
        const id = checkedNodeId(request.nodeId);
        const address = checkedAddress(request.address);
        const options = { timeoutMs: membershipTimeoutMs };
        return request.asLearner
          ? context.raft.addLearner(id, address, options)
          : context.raft.addVoter(id, address, options);
      }),
    ),

    removeMember: unary(context, async (request, call) =>
      membership(call.metadata, request.idempotencyKey, () =>
        context.raft.removeMember(checkedNodeId(request.nodeId), { timeoutMs: membershipTimeoutMs }),
      ),
    ),

    promoteMember: unary(context, async (request, call) =>
      membership(call.metadata, request.idempotencyKey, () =>
        context.raft.promoteLearner(checkedNodeId(request.nodeId), { timeoutMs: membershipTimeoutMs }),
      ),
    ),

    transferLeadership: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      requireAdmin(caller);
      checkIdempotencyKey(request.idempotencyKey);
      const target = checkedNodeId(request.targetNodeId);
      await context.raft.transferLeadership(target, { timeoutMs: membershipTimeoutMs });
      return { leaderId: raftStatus(context).leader };
    }),
  };
}
