import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local model server speaking the one part of Ollama's protocol the tutor uses: `POST /api/chat`
 * answered with one JSON object per line, the last with `"done": true` (the same protocol as
 * packages/lms-service/test/tutor/fake-ollama.ts, cut down to what the web tests need).
 */
export class FakeOllama {
  /** The answer's pieces, each sent after `pieceDelayMs` so a browser can watch them arrive. */
  pieces: readonly string[] = ["Start ", "with ", "a ", "small ", "example."];
  pieceDelayMs = 0;
  /** False: every request gets HTTP 503, as from a model server that is down. */
  available = true;
  /** Chat requests received. */
  requests = 0;
  private readonly server: Server = createServer((request, response) => void this.handle(request, response));

  /** Listens on 127.0.0.1 and returns the base URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of request) body += chunk;
    if (request.method !== "POST" || request.url !== "/api/chat") {
      response.writeHead(404).end();
      return;
    }
    this.requests++;
    if (!this.available) {
      response.writeHead(503, { "content-type": "application/json" }).end('{"error":"model server overloaded"}');
      return;
    }
    const { model } = JSON.parse(body) as { model: string };
    const line = (content: string, done: boolean) =>
      `${JSON.stringify({ model, message: { role: "assistant", content }, done })}\n`;
    response.writeHead(200, { "content-type": "application/x-ndjson" });
    for (const piece of this.pieces) {
      if (this.pieceDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pieceDelayMs));
      if (response.destroyed) return;
      response.write(line(piece, false));
    }
    response.end(line("", true));
  }
}
