import type { CoreStatus } from "../core/raft-core.js";
import type { Entry, NodeId } from "../core/types.js";

/** The part of a node's status the checker reads (`RaftServer.brief()` and `CoreStatus` both fit). */
export type NodeStatus = Pick<CoreStatus, "role" | "term" | "commit" | "lastIndex" | "lastTerm" | "snapshotIndex">;

/** What the checker may look at on one node, at any moment. */
export interface NodeView {
  readonly id: NodeId;
  status(): NodeStatus;
  entryAt(index: number): Entry | undefined;
}

/** One broken Raft property, with enough detail to start debugging from the trace. */
export interface SafetyViolation {
  readonly property:
    | "election-safety"
    | "leader-append-only"
    | "log-matching"
    | "leader-completeness"
    | "state-machine-safety";
  readonly atMs: number;
  readonly node: NodeId;
  readonly detail: string;
}

interface LeaderWatch {
  term: number;
  lastIndex: number;
  lastTerm: number;
}

/**
 * Checks Raft's safety properties (§3.6.3, Figure 3.2 of the thesis) incrementally, after every
 * simulator step, against a global oracle of committed entries:
 *
 * - Election Safety: at most one leader per term.
 * - Leader Append-Only: a leader never overwrites or deletes its own entries.
 * - Log Matching: committed prefixes agree (by index and term) on every node.
 * - Leader Completeness: a new leader holds every entry committed before its term.
 * - State Machine Safety: every node applies the same entry at each index.
 *
 * Per step the work is proportional to what changed (new commits, new applies), never to the log.
 */
export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** index → the committed entry's term and a fingerprint of its payload. */
  private readonly committed = new Map<number, { term: number; fingerprint: number }>();
  private topCommitted = 0;
  private readonly commitSeen = new Map<NodeId, number>();
  private readonly leaders = new Map<NodeId, LeaderWatch>();
  private readonly violationList: SafetyViolation[] = [];
  private readonly maxViolations = 20;

  violations(): readonly SafetyViolation[] {
    return this.violationList;
  }

  ok(): boolean {
    return this.violationList.length === 0;
  }

  /** Highest index known committed anywhere. */
  committedIndex(): number {
    return this.topCommitted;
  }

  /** Term of the committed entry at `index` (oracle), or undefined. */
  committedTerm(index: number): number | undefined {
    return this.committed.get(index)?.term;
  }

  /** Inspects one node after it took a step. */
  observe(node: NodeView, atMs: number): void {
    const s = node.status();
    if (s.role === "leader") this.checkLeader(node, s, atMs);
    else this.leaders.delete(node.id);
    this.checkCommits(node, s, atMs);
  }

  /** Forgets a node's volatile view (it crashed): its next leadership is a new one. */
  forget(id: NodeId): void {
    this.leaders.delete(id);
    this.commitSeen.delete(id);
  }

  /** Every entry a node's state machine applies must be the oracle's entry (State Machine Safety). */
  observeApplied(id: NodeId, entries: readonly Entry[], atMs: number): void {
    for (const e of entries) {
      const known = this.committed.get(e.index);
      if (known === undefined) {
        // Applied before any commit observation reached the oracle (possible within one step): record it.
        this.record(e.index, e.term, fingerprint(e), id, atMs, "state-machine-safety");
      } else if (known.term !== e.term || known.fingerprint !== fingerprint(e)) {
        this.fail(
          "state-machine-safety",
          atMs,
          id,
          `applied (${e.index}, term ${e.term}) but (${e.index}, term ${known.term}) was committed`,
        );
      }
    }
  }

  private checkLeader(node: NodeView, s: NodeStatus, atMs: number): void {
    const holder = this.leaderOfTerm.get(s.term);
    if (holder === undefined) this.leaderOfTerm.set(s.term, node.id);
    else if (holder !== node.id) {
      this.fail("election-safety", atMs, node.id, `${holder} and ${node.id} are both leaders of term ${s.term}`);
    }
    const watch = this.leaders.get(node.id);
    if (watch === undefined || watch.term !== s.term) {
      this.checkCompleteness(node, s, atMs);
    } else {
      const termThen = node.entryAt(watch.lastIndex)?.term;
      // An entry compacted into a snapshot since is gone from memory, not overwritten.
      const compacted = termThen === undefined && watch.lastIndex <= s.snapshotIndex;
      if (s.lastIndex < watch.lastIndex || (watch.lastIndex > 0 && termThen !== watch.lastTerm && !compacted)) {
        this.fail(
          "leader-append-only",
          atMs,
          node.id,
          `leader of term ${s.term} had (${watch.lastIndex}, term ${watch.lastTerm}), now last index ${s.lastIndex} with term ${termThen} there`,
        );
      }
    }
    this.leaders.set(node.id, { term: s.term, lastIndex: s.lastIndex, lastTerm: s.lastTerm });
  }

  /** Leader Completeness: by Log Matching, holding the last committed entry implies holding all before it. */
  private checkCompleteness(node: NodeView, s: NodeStatus, atMs: number): void {
    const top = this.committedIndex();
    if (top === 0) return;
    const known = this.committed.get(top);
    if (known === undefined) return;
    const mine = node.entryAt(top)?.term;
    if (s.lastIndex < top || (mine !== undefined && mine !== known.term)) {
      this.fail(
        "leader-completeness",
        atMs,
        node.id,
        `new leader of term ${s.term} lacks committed entry (${top}, term ${known.term}); its last index is ${s.lastIndex}`,
      );
    }
  }

  /** Log Matching / State Machine Safety on the committed prefix: every node's commits agree with the oracle. */
  private checkCommits(node: NodeView, s: NodeStatus, atMs: number): void {
    const seen = this.commitSeen.get(node.id) ?? 0;
    if (s.commit <= seen) return;
    for (let i = seen + 1; i <= s.commit; i++) {
      const e = node.entryAt(i);
      if (e === undefined) continue; // compacted away on this node; its snapshot was checked when taken
      this.record(i, e.term, fingerprint(e), node.id, atMs, "log-matching");
    }
    this.commitSeen.set(node.id, s.commit);
  }

  private record(
    index: number,
    term: number,
    print: number,
    node: NodeId,
    atMs: number,
    property: SafetyViolation["property"],
  ): void {
    const known = this.committed.get(index);
    if (known === undefined) {
      this.committed.set(index, { term, fingerprint: print });
      if (index > this.topCommitted) this.topCommitted = index;
      return;
    }
    if (known.term !== term || known.fingerprint !== print) {
      this.fail(
        property,
        atMs,
        node,
        `committed (${index}, term ${term}) differs from (${index}, term ${known.term}) committed elsewhere`,
      );
    }
  }

  private fail(property: SafetyViolation["property"], atMs: number, node: NodeId, detail: string): void {
    if (this.violationList.length < this.maxViolations) this.violationList.push({ property, atMs, node, detail });
  }
}

/** A cheap 32-bit FNV-1a over the payload plus identity fields, to tell apart same-term entries. */
export function fingerprint(e: Entry): number {
  let h = 0x811c9dc5;
  const d = e.data;
  for (let i = 0; i < d.length; i++) {
    h ^= d[i];
    h = Math.imul(h, 0x01000193);
  }
  h ^= e.requestId ?? 0;
  h = Math.imul(h, 0x01000193);
  h ^= e.type === "normal" ? 1 : e.type === "noop" ? 2 : 3;
  return h >>> 0;
}
