import type { Logger, RaftServer } from "@lectern/raft-core";
import type { LoginLimiter } from "../auth/login-limiter.js";
import type { TokenService } from "../auth/tokens.js";
import type { LmsApplyResult } from "../domain/lms-state-machine.js";
import type { FileStore } from "../store/file-store.js";
import type { LmsReader } from "../store/lms-store.js";
import type { PeerTransportStatus } from "../transport/grpc-peer-transport.js";
import type { TutorQuestion } from "../tutor/tutor-prompt.js";

/** What the tutor handler needs of a model server (OllamaTutor, or a test double). */
export interface TutorBackend {
  readonly model: string;
  ask(question: TutorQuestion, signal?: AbortSignal): AsyncIterable<string>;
}

/** Everything the client API handlers of one node share. */
export interface LmsServiceContext {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly raft: RaftServer<LmsApplyResult>;
  /** This node's applied LMS state (reads after `raft.read()` are linearizable). */
  readonly store: LmsReader;
  readonly files: FileStore;
  readonly tokens: TokenService;
  readonly loginLimiter: LoginLimiter;
  readonly tutor: TutorBackend;
  /** Proves the bootstrap command's knowledge of CLUSTER_SECRET. */
  readonly clusterSecret: string;
  /** Largest upload; must equal the state machine's limit. */
  readonly maxFileBytes: number;
  readonly transportStatus: () => PeerTransportStatus;
  /** A member's gRPC address (`host:port`) from the configuration in the log, PEERS as fallback. */
  readonly addressOf: (nodeId: string) => string | undefined;
  readonly logger: Logger;
  /** Wall-clock ms for command stamps, never below an earlier stamp of this node. */
  readonly stampTime: () => number;
  /** Wall-clock ms (token expiry, last-contact ages). */
  readonly wallClockMs: () => number;
}

/**
 * A wall clock that never goes backwards: every stamp is at least the previous one, so the times
 * this node writes into the log are monotonic even if the system clock is stepped back.
 */
export function monotonicStamper(wallClockMs: () => number = Date.now): () => number {
  let last = 0;
  return () => {
    last = Math.max(last, Math.floor(wallClockMs()));
    return last;
  };
}
