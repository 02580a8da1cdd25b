import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { nodeAddressesFromEnv } from "./grpc/node-addresses.js";
import { createGrpcLmsApi } from "./grpc-lms-api.js";
import type { LmsApi } from "./lms-api.js";
import { FakeLmsApi } from "./testing/fake-lms-api.js";

/** Where the web front listens unless HOST / PORT say otherwise. */
export const defaultHost = "127.0.0.1";
export const defaultPort = 5000;
/** How long in-flight requests get to finish on SIGINT / SIGTERM before the process exits anyway. */
export const shutdownGraceMs = 10_000;

/** Demo accounts of the in-memory API, printed at start so someone can sign in at once. */
const fakeAccounts = [
  { username: "admin", password: "lectern-admin-demo", role: "admin" as const, displayName: "Ada Admin" },
  {
    username: "teacher",
    password: "lectern-teacher-demo",
    role: "instructor" as const,
    displayName: "Ines Instructor",
  },
  { username: "student", password: "lectern-student-demo", role: "student" as const, displayName: "Sam Student" },
];

/**
 * Chooses the LMS API: the in-memory fake with demo accounts when `LECTERN_FAKE_API=1`, else the
 * gRPC client over `LMS_NODES` (comma-separated `host:port` or `id=host:port`), else over the
 * nodes' own `PEERS`, else the default local cluster (n1..n3 on 127.0.0.1:7001..7003).
 */
export function createApiFromEnv(env: NodeJS.ProcessEnv): { api: LmsApi; banner: string[]; close: () => void } {
  if (env.LECTERN_FAKE_API === "1") {
    const api = new FakeLmsApi({ tutor: { pieceDelayMs: 60 } });
    for (const account of fakeAccounts) api.seedUser(account);
    return {
      api,
      banner: [
        "In-memory LMS API (LECTERN_FAKE_API=1); demo accounts:",
        ...fakeAccounts.map((a) => `  ${a.role}: ${a.username} / ${a.password}`),
      ],
      close: () => {},
    };
  }
  const nodes = nodeAddressesFromEnv(env);
  const api = createGrpcLmsApi({
    nodes: nodes.map((node) => (node.nodeId === undefined ? node.address : `${node.nodeId}=${node.address}`)),
  });
  const source = env.LMS_NODES?.trim() ? "LMS_NODES" : env.PEERS?.trim() ? "PEERS" : "default";
  return {
    api,
    banner: [`LMS nodes (${source}): ${nodes.map((node) => node.address).join(", ")}`],
    close: () => api.close(),
  };
}

/** Starts the web front and stops it cleanly on SIGINT / SIGTERM. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<FastifyInstance> {
  const { api, banner, close: closeApi } = createApiFromEnv(env);
  const cookieSecret = env.WEB_COOKIE_SECRET ?? randomBytes(32).toString("base64url");
  const app = await buildApp({
    api,
    cookieSecret,
    trustProxy: env.TRUST_PROXY === "1",
    logger: {
      level: env.LOG_LEVEL ?? "info",
      // Multipart forms carry their CSRF token in the query string: log paths only.
      serializers: {
        req: (request: { method: string; url: string }) => ({ method: request.method, url: request.url.split("?")[0] }),
      },
    },
  });
  const host = env.HOST ?? defaultHost;
  const port = env.PORT === undefined ? defaultPort : Number(env.PORT);
  await app.listen({ host, port });
  const address = app.server.address();
  const shownPort = typeof address === "object" && address !== null ? address.port : port;
  for (const line of [...banner, `Lectern web front: http://${host}:${shownPort}/`]) process.stdout.write(`${line}\n`);
  if (env.WEB_COOKIE_SECRET === undefined) {
    process.stdout.write("WEB_COOKIE_SECRET is not set: sessions end when this process restarts.\n");
  }
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), shutdownGraceMs);
    force.unref();
    app.close().then(
      () => {
        closeApi();
        process.exit(0);
      },
      (error: unknown) => {
        app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  return app;
}

const isEntryPoint = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isEntryPoint) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
