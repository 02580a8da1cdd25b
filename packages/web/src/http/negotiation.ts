import type { FastifyRequest } from "fastify";

/**
 * Whether the request came from one of the page scripts (which ask for JSON or NDJSON) rather than
 * from a plain form post or link, which get HTML.
 */
export function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? "";
  return (
    (accept.includes("application/json") || accept.includes("application/x-ndjson")) && !accept.includes("text/html")
  );
}
