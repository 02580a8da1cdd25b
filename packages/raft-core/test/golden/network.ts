import type { Message, NodeId } from "../../src/core/types.js";
import { messageKind } from "./render.js";

/** Which in-flight messages a `deliver` or `drop` acts on; an absent field matches everything. */
export interface MessageFilter {
  readonly from?: ReadonlySet<NodeId>;
  readonly to?: ReadonlySet<NodeId>;
  /** Message kinds as rendered: the wire type, or `prevote` / `prevoteResp`. */
  readonly kinds?: ReadonlySet<string>;
  /** Only the first `limit` matches, in send order. */
  readonly limit?: number;
}

/** Group of every node a partition does not name: they stay connected to one another. */
const UNLISTED_GROUP = -1;

/**
 * The scripted network: one FIFO of messages in flight, delivered only when the script says so,
 * plus an optional partition that drops messages between groups at delivery time (so what was
 * in flight when the partition began is lost too, as on a real network).
 */
export class ScriptNetwork {
  private inFlight: Message[] = [];
  private groups: Map<NodeId, number> | undefined;

  send(message: Message): void {
    this.inFlight.push(message);
  }

  /** Removes and returns the in-flight messages the filter matches, oldest first. */
  take(filter: MessageFilter): Message[] {
    const taken: Message[] = [];
    const kept: Message[] = [];
    for (const m of this.inFlight) {
      if ((filter.limit === undefined || taken.length < filter.limit) && matches(filter, m)) taken.push(m);
      else kept.push(m);
    }
    this.inFlight = kept;
    return taken;
  }

  pending(): readonly Message[] {
    return this.inFlight;
  }

  /** Splits the nodes into `groups`; nodes in no group form one more group together. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    const map = new Map<NodeId, number>();
    groups.forEach((group, n) => {
      for (const id of group) map.set(id, n);
    });
    this.groups = map;
  }

  heal(): void {
    this.groups = undefined;
  }

  /** True when a partition separates the message's sender from its receiver. */
  cuts(m: Message): boolean {
    if (this.groups === undefined) return false;
    return this.groupOf(m.from) !== this.groupOf(m.to);
  }

  /** The current partition as `(a) (b,c)`, the unlisted nodes last as `(*)`; "" when none. */
  describePartition(): string {
    if (this.groups === undefined) return "";
    const byGroup = new Map<number, NodeId[]>();
    for (const [id, group] of this.groups) {
      const members = byGroup.get(group);
      if (members === undefined) byGroup.set(group, [id]);
      else members.push(id);
    }
    const parts = [...byGroup.keys()].sort((x, y) => x - y).map((g) => `(${(byGroup.get(g) ?? []).join(",")})`);
    return [...parts, "(*)"].join(" ");
  }

  private groupOf(id: NodeId): number {
    return this.groups?.get(id) ?? UNLISTED_GROUP;
  }
}

function matches(filter: MessageFilter, m: Message): boolean {
  if (filter.from !== undefined && !filter.from.has(m.from)) return false;
  if (filter.to !== undefined && !filter.to.has(m.to)) return false;
  if (filter.kinds !== undefined && !filter.kinds.has(messageKind(m))) return false;
  return true;
}
