import { Readable } from "node:stream";
import type { FastifyReply } from "fastify";
import type { ByteStream } from "../lms-api.js";

/**
 * Waits for the first chunk before any header is sent, so a failure at the start still becomes a
 * proper error page instead of a truncated download.
 */
export async function startStream(stream: ByteStream): Promise<AsyncIterable<Uint8Array>> {
  const iterator = stream.chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  return {
    async *[Symbol.asyncIterator]() {
      try {
        if (first.done === true) return;
        yield first.value;
        for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
      } finally {
        // A client that went away cancels the stream upstream.
        await iterator.return?.();
      }
    },
  };
}

/**
 * Sends bytes as a download: always an attachment, never sniffed, and sandboxed should a browser
 * render it anyway. The name is reduced to safe ASCII for the plain parameter and given in full,
 * percent-encoded, in `filename*`.
 */
export function sendDownload(
  reply: FastifyReply,
  fileName: string,
  contentType: string,
  chunks: AsyncIterable<Uint8Array>,
): FastifyReply {
  const asciiName = fileName.replace(/[^A-Za-z0-9._ -]/g, "_").slice(0, 100) || "download";
  return reply
    .header(
      "content-disposition",
      `attachment; filename="${asciiName}"; filename*=UTF-8''${encodeURIComponent(fileName)}`,
    )
    .header("x-content-type-options", "nosniff")
    .header("content-security-policy", "sandbox; default-src 'none'")
    .header("cache-control", "private, no-store")
    .type(contentType)
    .send(Readable.from(chunks));
}
