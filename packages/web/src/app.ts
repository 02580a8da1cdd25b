import { createHmac } from "node:crypto";
import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import fastifyCsrfProtection from "@fastify/csrf-protection";
import fastifyFormbody from "@fastify/formbody";
import fastifyHelmet from "@fastify/helmet";
import fastifyJwt from "@fastify/jwt";
import fastifyMultipart from "@fastify/multipart";
import fastifyRateLimit from "@fastify/rate-limit";
import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { handleError } from "./http/error-handler.js";
import { notFound } from "./http/http-error.js";
import { readViewer } from "./http/session.js";
import { defaultMaxUploadBytes } from "./http/uploads.js";
import type { LmsApi } from "./lms-api.js";
import { registerAdminRoutes } from "./routes/admin-routes.js";
import { registerAssignmentRoutes } from "./routes/assignment-routes.js";
import { registerAuthRoutes } from "./routes/auth-routes.js";
import { registerCourseRoutes } from "./routes/course-routes.js";
import { registerDashboardRoutes } from "./routes/dashboard-routes.js";
import { registerFileRoutes } from "./routes/file-routes.js";
import { registerGradeRoutes } from "./routes/grade-routes.js";
import type { RouteDeps } from "./routes/route-deps.js";
import { registerTutorRoutes } from "./routes/tutor-routes.js";

/** Shortest cookie secret accepted: it signs sessions, CSRF secrets and flash messages. */
export const minCookieSecretChars = 32;
/** Sign-in attempts allowed per client address per minute. */
export const defaultLoginAttemptsPerMinute = 10;
/** How often the cluster page asks for fresh status. */
export const defaultClusterPollIntervalMs = 500;
/** Verified session cookies remembered, least recently used first out. */
export const verifiedSessionCacheSize = 10_000;
/** Largest urlencoded form body. */
export const maxFormBodyBytes = 256 * 1024;

export interface WebAppOptions {
  readonly api: LmsApi;
  /** At least {@link minCookieSecretChars} characters; keep it stable across restarts and replicas. */
  readonly cookieSecret: string;
  /** Largest upload (default 25 MiB, the service's default). */
  readonly maxUploadBytes?: number;
  readonly loginAttemptsPerMinute?: number;
  readonly clusterPollIntervalMs?: number;
  /** Where uploads are spooled (default: the OS temp folder). */
  readonly uploadTempDir?: string;
  /** Fastify logger settings (default: off). */
  readonly logger?: FastifyServerOptions["logger"];
  /** Trust X-Forwarded-* (behind a TLS-terminating proxy, so cookies become Secure). */
  readonly trustProxy?: boolean;
}

const publicFolder = fileURLToPath(new URL("../public/", import.meta.url));

/**
 * Builds the Lectern web front over an {@link LmsApi}: server-rendered pages, a JWT session cookie,
 * CSRF tokens on every form, strict security headers, a rate-limited sign-in, streamed uploads, the
 * live cluster page and the streaming tutor.
 *
 * @example
 * ```ts
 * const app = await buildApp({ api: new FakeLmsApi(), cookieSecret: "x".repeat(32) });
 * await app.listen({ host: "127.0.0.1", port: 5000 });
 * ```
 */
export async function buildApp(options: WebAppOptions): Promise<FastifyInstance> {
  if (options.cookieSecret.length < minCookieSecretChars) {
    throw new Error(`cookieSecret must have at least ${minCookieSecretChars} characters`);
  }
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: options.trustProxy ?? false,
    bodyLimit: maxFormBodyBytes,
  });
  const deps: RouteDeps = {
    api: options.api,
    maxUploadBytes: options.maxUploadBytes ?? defaultMaxUploadBytes,
    uploadTempDir: options.uploadTempDir,
    loginAttemptsPerMinute: options.loginAttemptsPerMinute ?? defaultLoginAttemptsPerMinute,
    clusterPollIntervalMs: options.clusterPollIntervalMs ?? defaultClusterPollIntervalMs,
  };

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
      },
    },
    referrerPolicy: { policy: "no-referrer" },
  });
  await app.register(fastifyCookie, { secret: derivedSecret(options.cookieSecret, "cookies") });
  await app.register(fastifyJwt, {
    secret: derivedSecret(options.cookieSecret, "session"),
    sign: { algorithm: "HS256" },
    // Every page reads the session cookie. A verified cookie is remembered (keyed by a hash of it)
    // until it expires, so a user's next pages skip the HMAC check; a forged or altered cookie is
    // a different key and is verified in full. Only the algorithm the web front signs with is
    // accepted.
    verify: { algorithms: ["HS256"], cache: verifiedSessionCacheSize },
  });
  await app.register(fastifyFormbody, { bodyLimit: maxFormBodyBytes });
  await app.register(fastifyCsrfProtection, {
    cookieKey: "lectern_csrf",
    cookieOpts: { path: "/", sameSite: "strict", httpOnly: true, signed: true, secure: "auto" },
    // Multipart forms cannot be read before the check, so they carry the token in the query
    // (no-JS) or a header (the upload script); request logs drop query strings.
    getToken: (request) => {
      const body = request.body as { _csrf?: unknown } | undefined;
      const query = request.query as { _csrf?: unknown } | undefined;
      const fromBody = typeof body?._csrf === "string" ? body._csrf : undefined;
      const fromHeader = request.headers["x-csrf-token"];
      const fromQuery = typeof query?._csrf === "string" ? query._csrf : undefined;
      return fromBody ?? (typeof fromHeader === "string" ? fromHeader : undefined) ?? fromQuery ?? "";
    },
  });
  await app.register(fastifyRateLimit, { global: false });
  await app.register(fastifyMultipart, { limits: { fileSize: deps.maxUploadBytes, files: 1 } });
  await app.register(fastifyStatic, {
    root: publicFolder,
    prefix: "/static/",
    index: false,
    list: false,
    cacheControl: true,
    maxAge: 60 * 60 * 1000,
  });

  app.decorateRequest("viewer", undefined);
  app.addHook("onRequest", async (request) => {
    request.viewer = readViewer(app, request);
  });
  app.setErrorHandler((error, request, reply) => handleError(error, request, reply));
  app.setNotFoundHandler((request, reply) => handleError(notFound(), request, reply));

  registerAuthRoutes(app, deps);
  registerDashboardRoutes(app, deps);
  registerCourseRoutes(app, deps);
  registerAssignmentRoutes(app, deps);
  registerGradeRoutes(app, deps);
  registerTutorRoutes(app, deps);
  registerAdminRoutes(app, deps);
  registerFileRoutes(app, deps);
  return app;
}

/** A per-purpose key, so the session signer and the cookie signer never share one. */
function derivedSecret(secret: string, purpose: string): string {
  return createHmac("sha256", secret).update(`lectern-web:${purpose}`).digest("base64url");
}
