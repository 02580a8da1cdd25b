/**
 * @lectern/lms-service: the Lectern LMS node (Raft over gRPC, the LMS state machine, stores, auth,
 * files, tutor) and the cluster-aware client the web front uses.
 */

// The client.
export {
  type AssignmentsApi,
  type AuthApi,
  type ClusterApi,
  type CourseContentApi,
  type CoursesApi,
  defaultCallTimeoutMs,
  type FilesApi,
  type LmsCallOptions,
  LmsClient,
  type LmsClientOptions,
  newIdempotencyKey,
  type RetryEvent,
  type ServerStreamApi,
  type TutorApi,
  type UnaryApi,
  type UploadInput,
} from "./client/lms-client.js";
export { isRetryable, leaderAddressHint, lecternErrorCode } from "./client/retry-policy.js";
// The bound GetDashboard inspects, shared with the web front's dashboard.
export { maxDashboardCourses } from "./domain/queries.js";
export * as lmsProto from "./gen/lms.js";
// The node.
export { type BootstrapAdminInput, bootstrapAdmin } from "./node/bootstrap-admin.js";
export { type ClusterSecrets, loadClusterSecrets } from "./node/cluster-secrets.js";
export { clusterIdFor, formatAddress, LmsNode, type LmsNodeOptions, type RaftTuning } from "./node/lms-node.js";
export {
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_OLLAMA_MODEL,
  DEFAULT_OLLAMA_URL,
  DEFAULT_PEERS,
  loadNodeConfig,
  type NodeConfig,
  NodeConfigError,
  type NodeEnvironment,
} from "./node/node-config.js";
export { maxNodeIdChars, type PeerAddress, PeersConfigError, parsePeers } from "./peers.js";

// The service layer (for embedding the API in another server).
export { bootstrapProof } from "./service/auth-service.js";
export {
  errorTrailer,
  type LecternErrorCode,
  LmsCallError,
  leaderAddressTrailer,
  leaderIdTrailer,
  retryAfterTrailer,
} from "./service/call-error.js";
export { descriptionExcerpt } from "./service/description-excerpt.js";
export { addLmsServices } from "./service/lms-services.js";
export { type LmsServiceContext, monotonicStamper, type TutorBackend } from "./service/service-context.js";

// Transport and clients of it.
export { clientChannelOptions, fileChunkMaxBytes } from "./transport/index.js";
