/**
 * @lectern/raft-core: a pure, deterministic Raft core, a runtime that drives it, and the seams
 * (Storage, Transport, Clock, StateMachine, Logger) an application fills in.
 * The deterministic simulator lives in the "@lectern/raft-core/sim" entry.
 */
export {
  type CoreConfig,
  DEFAULT_ELECTION_TICKS,
  DEFAULT_HEARTBEAT_TICKS,
  DEFAULT_LEASE_DRIFT_PERCENT,
  DEFAULT_MAX_ENTRY_BYTES,
  DEFAULT_MAX_INFLIGHT_MESSAGES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_TRANSFER_HELD_PROPOSALS,
  DEFAULT_MAX_UNCOMMITTED_BYTES,
  type ReadMode,
} from "./core/config.js";
export { validateMessage, validateSnapshotChunk, validateSnapshotChunkResponse } from "./core/message-validation.js";
export {
  type CoreInitialState,
  type CoreStatus,
  type PeerProgress,
  type ProposeResult,
  RaftCore,
} from "./core/raft-core.js";
export type { Random } from "./core/random.js";
export type * from "./core/types.js";
export { CryptoRandom } from "./platform/crypto-random.js";
export { SystemClock } from "./platform/system-clock.js";
export type { Clock, TimerHandle } from "./runtime/clock.js";
export * from "./runtime/errors.js";
export { type Logger, silentLogger } from "./runtime/logger.js";
export {
  MAX_APPLY_BATCH_ENTRIES,
  MAX_CATCH_UP_TICKS,
  MAX_ROUNDS_BEFORE_YIELD,
  RaftServer,
  type ServerBrief,
  type ServerLifecycle,
  type ServerStatus,
} from "./runtime/raft-server.js";
export { RequestCancelledError } from "./runtime/request-cancelled-error.js";
export {
  type CallOptions,
  DEFAULT_MAX_PENDING_PROPOSALS,
  DEFAULT_MAX_PENDING_READS,
  DEFAULT_SNAPSHOT_CHUNK_BYTES,
  DEFAULT_SNAPSHOT_EVERY_ENTRIES,
  DEFAULT_SNAPSHOT_TRAILING_ENTRIES,
  DEFAULT_TICK_MS,
  DEFAULT_TIMEOUT_MS,
  type RaftServerOptions,
} from "./runtime/server-options.js";
export { MAX_SNAPSHOT_BURST_BYTES } from "./runtime/snapshot-sender.js";
export type { StateMachine } from "./runtime/state-machine.js";
export type { Transport, TransportHandler } from "./runtime/transport.js";
export { SessionFormatError } from "./sessions/byte-codec.js";
export {
  DEFAULT_MAX_PROPOSE_ATTEMPTS,
  DEFAULT_RETRY_DELAY_MS,
  RETRYABLE_PROPOSE_CODES,
  SessionClient,
  type SessionClientOptions,
  type SessionProposer,
} from "./sessions/session-client.js";
export {
  decodeSessionEnvelope,
  encodeSessionEnvelope,
  type KeepAliveEnvelope,
  type RegisterClientEnvelope,
  SESSION_ENVELOPE_MAGIC,
  SESSION_ENVELOPE_VERSION,
  type SessionCommandEnvelope,
  type SessionEnvelope,
  type SessionEnvelopeDecoding,
} from "./sessions/session-envelope.js";
export { isSessionExpiredError, SessionExpiredError } from "./sessions/session-expired-error.js";
export {
  DEFAULT_MAX_CACHED_RESULTS_PER_CLIENT,
  DEFAULT_MAX_OUTSTANDING_COMMANDS,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_SESSION_TIMEOUT_MS,
  jsonResultCodec,
  type SessionResultCodec,
  type SessionStateMachineOptions,
} from "./sessions/session-options.js";
export {
  isSessionApplyResult,
  type SessionAppliedResult,
  type SessionApplyResult,
  type SessionDuplicateResult,
  type SessionExpiredReason,
  type SessionExpiredResult,
  type SessionKeptAliveResult,
  type SessionMalformedResult,
  type SessionPassthroughResult,
  type SessionRegisteredResult,
} from "./sessions/session-result.js";
export { SessionStateMachine } from "./sessions/session-state-machine.js";
export { MAX_SESSION_TABLE_BYTES } from "./sessions/session-table-codec.js";
export { MemoryStorage } from "./storage/memory-storage.js";
export {
  collectSnapshot,
  readerChunks,
  readWholeSnapshot,
  type SnapshotStorage,
  snapshotChecksum,
  supportsSnapshots,
} from "./storage/snapshot.js";
export {
  EMPTY_HARD_STATE,
  type PersistedState,
  type SnapshotChunks,
  type SnapshotReader,
  type SnapshotStaging,
  type Storage,
  type StorageWrite,
} from "./storage/storage.js";
