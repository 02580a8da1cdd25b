import type { FastifyInstance } from "fastify";
import { renderHealth } from "../health.js";
import { sendDownload, startStream } from "../http/downloads.js";
import { requireRole, viewerOf } from "../http/guards.js";
import type { RouteDeps } from "./route-deps.js";

/** File downloads and the health endpoint. */
export function registerFileRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;

  app.get<{ Params: { fileId: string } }>("/files/:fileId", { preHandler: requireRole() }, async (request, reply) => {
    const viewer = viewerOf(request);
    const download = await api.downloadFile(viewer.token, { fileId: request.params.fileId });
    const chunks = await startStream(download);
    // Served as opaque bytes whatever the uploader claimed, so no upload can run as a page here.
    return sendDownload(reply, download.file.name, "application/octet-stream", chunks);
  });

  app.get("/healthz", async (_request, reply) => {
    const checks = await api
      .health()
      .catch((error: unknown) => [
        { name: "lms api", ok: false, detail: error instanceof Error ? error.message : "failed" },
      ]);
    // The web front can serve while any node answers (the client fails over), so only a total
    // outage makes it unhealthy; the body still names every failed node.
    const healthy = checks.some((check) => check.ok);
    return reply
      .code(healthy ? 200 : 503)
      .header("cache-control", "no-store")
      .type("text/plain; charset=utf-8")
      .send(renderHealth(checks));
  });
}
