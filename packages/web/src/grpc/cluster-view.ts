import { lmsProto } from "@lectern/lms-service";
import type { ClusterNodeStatus, ClusterStatus } from "../lms-api.js";
import { membershipKindFromProto, nodeRoleFromProto } from "./proto-mapping.js";

/** What one node said when asked for its status, or why it said nothing. */
export type NodeAnswer =
  | {
      readonly address: string;
      readonly nodeId?: string;
      readonly ok: true;
      readonly status: lmsProto.GetClusterStatusResponse;
    }
  | { readonly address: string; readonly nodeId?: string; readonly ok: false; readonly error: string };

/** A member as some node's configuration lists it. */
interface KnownMember {
  readonly id: string;
  readonly address: string;
  readonly kind: lmsProto.MembershipKind;
}

/**
 * The answering node whose view of replication counts: the node claiming leadership in the highest
 * term (an old leader cut off from the others may still think it leads, in an older term).
 */
export function leaderView(answers: readonly NodeAnswer[]): lmsProto.GetClusterStatusResponse | undefined {
  let best: lmsProto.GetClusterStatusResponse | undefined;
  for (const answer of answers) {
    if (!answer.ok || answer.status.role !== lmsProto.NodeRole.NODE_ROLE_LEADER) continue;
    if (best === undefined || answer.status.term > best.term) best = answer.status;
  }
  return best;
}

/**
 * Every member address that some answering node lists and that `asked` does not contain yet, so
 * the caller can also ask members added after the web front started.
 */
export function unaskedMemberAddresses(answers: readonly NodeAnswer[], asked: ReadonlySet<string>): string[] {
  const found = new Set<string>();
  for (const answer of answers) {
    if (!answer.ok) continue;
    for (const member of answer.status.members) {
      if (member.address !== "" && !asked.has(member.address)) found.add(member.address);
    }
  }
  return [...found];
}

/**
 * Merges every node's own answer into one cluster view. A node that answered shows its own role,
 * term and indexes; the leader's answer adds replication progress and last contact for every
 * member; a member that did not answer (or was never asked) is marked unreachable with the reason.
 * The cluster's leader is the one most answering nodes name (ties go to the higher term).
 */
export function mergeClusterStatus(answers: readonly NodeAnswer[], observedAtMs: number): ClusterStatus {
  const reachable = answers.flatMap((answer) => (answer.ok ? [answer.status] : []));
  const leader = leaderView(answers);
  // The configuration as the most authoritative node sees it: the leader first, then newer terms.
  const byAuthority = [...reachable].sort((a, b) => {
    if (a === leader) return -1;
    if (b === leader) return 1;
    return b.term - a.term;
  });
  const members = new Map<string, KnownMember>();
  for (const status of byAuthority) {
    for (const member of status.members) {
      if (!members.has(member.id))
        members.set(member.id, { id: member.id, address: member.address, kind: member.kind });
    }
  }
  const ownAnswers = new Map(reachable.map((status) => [status.nodeId, status]));
  for (const status of reachable) {
    if (!members.has(status.nodeId)) {
      const address = answers.find((answer) => answer.ok && answer.status === status)?.address ?? "";
      members.set(status.nodeId, {
        id: status.nodeId,
        address,
        kind: lmsProto.MembershipKind.MEMBERSHIP_KIND_UNSPECIFIED,
      });
    }
  }
  // Nodes the web front was told about that no configuration names (never answered, or removed).
  const knownAddresses = new Set([...members.values()].map((member) => member.address));
  for (const answer of answers) {
    if (answer.ok || knownAddresses.has(answer.address)) continue;
    const id = answer.nodeId ?? answer.address;
    if (!members.has(id)) {
      members.set(id, { id, address: answer.address, kind: lmsProto.MembershipKind.MEMBERSHIP_KIND_UNSPECIFIED });
    }
  }

  const progress = new Map(leader?.members.map((member) => [member.id, member]) ?? []);
  const failures = new Map(answers.flatMap((answer) => (answer.ok ? [] : [[answer.address, answer.error] as const])));
  const nodes: ClusterNodeStatus[] = [...members.values()]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((member) => {
      const own = ownAnswers.get(member.id);
      const seenByLeader = progress.get(member.id);
      const isLeaderItself = leader !== undefined && member.id === leader.nodeId;
      const common = {
        nodeId: member.id,
        address: member.address,
        kind: membershipKindFromProto(member.kind),
        lastContactMsAgo: isLeaderItself ? 0 : (seenByLeader?.lastContactMsAgo ?? 0),
        matchIndex: isLeaderItself ? leader.lastLogIndex : (seenByLeader?.matchIndex ?? 0),
      };
      if (own === undefined) {
        return {
          ...common,
          reachable: false,
          error: failures.get(member.address) ?? "not asked: its address is not among the web front's LMS nodes",
          role: "unknown",
          term: 0,
          leaderId: "",
          commitIndex: 0,
          appliedIndex: 0,
          lastLogIndex: 0,
        };
      }
      return {
        ...common,
        reachable: true,
        role: nodeRoleFromProto(own.role),
        term: own.term,
        leaderId: own.leaderId,
        commitIndex: own.commitIndex,
        appliedIndex: own.appliedIndex,
        lastLogIndex: own.lastLogIndex,
      };
    });
  return {
    clusterId: reachable.find((status) => status.clusterId !== "")?.clusterId ?? "",
    leaderId: agreedLeader(reachable),
    nodes,
    observedAtMs,
  };
}

/** The leader id most answering nodes name; ties go to the one named in the higher term. */
function agreedLeader(statuses: readonly lmsProto.GetClusterStatusResponse[]): string {
  const votes = new Map<string, { count: number; term: number }>();
  for (const status of statuses) {
    if (status.leaderId === "") continue;
    const current = votes.get(status.leaderId) ?? { count: 0, term: 0 };
    votes.set(status.leaderId, { count: current.count + 1, term: Math.max(current.term, status.term) });
  }
  let best = "";
  let bestVotes = { count: 0, term: -1 };
  for (const [leaderId, tally] of votes) {
    if (tally.count > bestVotes.count || (tally.count === bestVotes.count && tally.term > bestVotes.term)) {
      best = leaderId;
      bestVotes = tally;
    }
  }
  return best;
}
