import type { Message, NodeId } from "../core/types.js";

/** What a transport delivers to its node. */
export interface TransportHandler {
  /** A message from a peer. It may be malformed: the core validates and drops bad input. */
  onMessage(message: Message): void;
  /** The transport could not reach `peer` (connection refused, stream broken). */
  onUnreachable?(peer: NodeId): void;
}

/**
 * Moves messages between members. Unreliable by contract: messages may be lost, duplicated,
 * delayed or reordered; Raft tolerates all of it. `send` never throws and never blocks.
 */
export interface Transport {
  start(handler: TransportHandler): void;
  send(message: Message): void;
  stop(): Promise<void>;
}
