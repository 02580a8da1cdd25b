import type { FastifyReply, FastifyRequest } from "fastify";
import type { SafeHtml } from "../html.js";
import { layout, type PageContext, type PageOptions } from "../views/layout.js";
import { takeFlash } from "./flash.js";

/** The context for rendering a page in answer to `request` (a fresh CSRF token, the pending flash). */
export function pageContext(request: FastifyRequest, reply: FastifyReply): PageContext {
  return {
    viewer: request.viewer,
    csrfToken: reply.generateCsrf(),
    flash: takeFlash(request, reply),
    currentPath: request.url.split("?")[0] ?? "/",
  };
}

/** Sends a full HTML page. Pages are per-user, so nothing may be cached by shared caches. */
export function sendPage(reply: FastifyReply, document: SafeHtml, statusCode = 200): FastifyReply {
  return reply
    .code(statusCode)
    .header("cache-control", "no-store")
    .type("text/html; charset=utf-8")
    .send(document.value);
}

/** Builds the context, renders the page from it, and sends it. */
export function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  build: (context: PageContext) => PageOptions,
  statusCode = 200,
): FastifyReply {
  const context = pageContext(request, reply);
  return sendPage(reply, layout(context, build(context)), statusCode);
}
