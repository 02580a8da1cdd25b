import type { NodeId } from "./types.js";

/** Forwarded request ids remembered per origin; older ones are forgotten first. */
export const RECENT_REQUESTS_PER_ORIGIN = 8192;
/** Origins remembered at once; a cluster has far fewer members than this. */
export const RECENT_REQUEST_ORIGINS = 256;

interface Window {
  readonly ids: Set<number>;
  readonly order: number[];
  head: number;
}

/**
 * Remembers which forwarded proposals this node has already appended, so a message the network
 * duplicated is not appended (and applied) twice. Bounded: a window per origin and a cap on the
 * number of origins. Exactly-once across leader changes needs client sessions (thesis §6.3).
 */
export class RecentRequests {
  private readonly windows = new Map<NodeId, Window>();

  has(origin: NodeId, requestId: number): boolean {
    return this.windows.get(origin)?.ids.has(requestId) === true;
  }

  /** Records (origin, requestId); returns false when it was already recorded. */
  remember(origin: NodeId, requestId: number): boolean {
    let w = this.windows.get(origin);
    if (w === undefined) {
      if (this.windows.size >= RECENT_REQUEST_ORIGINS) {
        const oldest = this.windows.keys().next().value as NodeId;
        this.windows.delete(oldest);
      }
      w = { ids: new Set(), order: [], head: 0 };
      this.windows.set(origin, w);
    }
    if (w.ids.has(requestId)) return false;
    w.ids.add(requestId);
    if (w.order.length < RECENT_REQUESTS_PER_ORIGIN) w.order.push(requestId);
    else {
      w.ids.delete(w.order[w.head]);
      w.order[w.head] = requestId;
      w.head = (w.head + 1) % RECENT_REQUESTS_PER_ORIGIN;
    }
    return true;
  }
}
