import type { Entry, Message, NodeId, Ready, SnapshotMeta } from "../core/types.js";
import type { SnapshotChunks, SnapshotReader } from "../storage/storage.js";
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
  | { readonly kind: "transfer"; readonly to: NodeId }
  | { readonly kind: "durable"; readonly ready: Ready }
  | { readonly kind: "writeFailed"; readonly error: unknown }
  | { readonly kind: "applied"; readonly entries: readonly Entry[]; readonly results: readonly Result[] }
  | { readonly kind: "applyFailed"; readonly error: unknown }
  /** `stateMachine.snapshot()` resolved with the data of a snapshot at `meta`. */
  | { readonly kind: "snapshotTaken"; readonly meta: SnapshotMeta; readonly data: SnapshotChunks }
  | { readonly kind: "snapshotTakeFailed"; readonly error: unknown }
  /** `storage.saveSnapshot` is durable: the core may compact up to `compactTo`. */
  | { readonly kind: "snapshotSaved"; readonly meta: SnapshotMeta; readonly compactTo: number }
  /** `storage.openSnapshot` answered a send request for `meta` (`reader` may hold another snapshot, or none). */
  | { readonly kind: "snapshotOpened"; readonly meta: SnapshotMeta; readonly reader: SnapshotReader | undefined }
  /** A snapshot send's timer fired: a pause between bursts ends, or a finished send expires. */
  | { readonly kind: "snapshotSendResume"; readonly to: NodeId; readonly sendId: number }
  /** A piece of a snapshot being sent was read from storage. */
  | {
      readonly kind: "snapshotRead";
      readonly to: NodeId;
      readonly sendId: number;
      readonly offset: number;
      readonly data: Uint8Array;
    }
  /** A received snapshot is completely staged and verified (see SnapshotReceiver.take). */
  | { readonly kind: "snapshotStaged"; readonly assemblyId: number }
  /** Installing a received snapshot failed in the state machine's `restore`. */
  | { readonly kind: "restoreFailed"; readonly error: unknown };

/** Shared immutable events that carry no data, so a tick allocates nothing. */
export const TICK_EVENT = Object.freeze({ kind: "tick" }) satisfies ServerEvent<never>;
export const CAMPAIGN_EVENT = Object.freeze({ kind: "campaign" }) satisfies ServerEvent<never>;
