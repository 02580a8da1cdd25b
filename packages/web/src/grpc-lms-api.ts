import type { LmsApi } from "./lms-api.js";

/** Where the gRPC client finds the LMS nodes. */
export interface GrpcLmsApiOptions {
  /** `id=host:port` pairs or plain `host:port` addresses of the LMS nodes' client API. */
  readonly nodes: readonly string[];
}

/**
 * The cluster-aware gRPC client behind {@link LmsApi} (follows leader hints, fails over, retries
 * with the same idempotency key). A placeholder until the lead writes it.
 */
export function createGrpcLmsApi(_options: GrpcLmsApiOptions): LmsApi {
  throw new Error(
    "createGrpcLmsApi is not implemented yet: set LECTERN_FAKE_API=1 to run the web front on the in-memory API",
  );
}
