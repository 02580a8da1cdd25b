import type { LmsApi } from "../lms-api.js";

/** What every route module gets from `buildApp`. */
export interface RouteDeps {
  readonly api: LmsApi;
  readonly maxUploadBytes: number;
  readonly uploadTempDir: string | undefined;
  readonly loginAttemptsPerMinute: number;
  readonly clusterPollIntervalMs: number;
}
