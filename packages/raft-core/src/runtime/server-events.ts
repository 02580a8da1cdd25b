import type { Entry, Message, NodeId, Ready } from "../core/types.js";
import type { PendingProposal } from "./pending-proposals.js";
import type { PendingRead } from "./pending-reads.js";

/**
 * Everything that can happen to a `RaftServer`, as it waits in the inbox. Each outside
 * completion (a peer message, a timer, a client call, a durable write, a finished apply) becomes
 * one event; the server handles them one at a time in arrival order (determinism contract).
 */
export type ServerEvent<Result> =
  | { readonly kind: "message"; readonly message: Message }
  | { readonly kind: "unreachable"; readonly peer: NodeId }
  | { readonly kind: "tick" }
  | { readonly kind: "campaign" }
  | { readonly kind: "propose"; readonly proposal: PendingProposal<Result> }
  | { readonly kind: "read"; readonly read: PendingRead }
  | { readonly kind: "durable"; readonly ready: Ready }
  | { readonly kind: "writeFailed"; readonly error: unknown }
  | { readonly kind: "applied"; readonly entries: readonly Entry[]; readonly results: readonly Result[] }
  | { readonly kind: "applyFailed"; readonly error: unknown };

/** Shared immutable events that carry no data, so a tick allocates nothing. */
export const TICK_EVENT = Object.freeze({ kind: "tick" }) satisfies ServerEvent<never>;
export const CAMPAIGN_EVENT = Object.freeze({ kind: "campaign" }) satisfies ServerEvent<never>;
