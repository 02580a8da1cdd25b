import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What the fake model server does with a chat request. */
export type FakeBehaviour =
  | { readonly kind: "stream"; readonly pieces: readonly string[]; readonly delayMs?: number }
  | { readonly kind: "status"; readonly status: number; readonly body: string }
  | { readonly kind: "stall-after"; readonly pieces: readonly string[] }
  | { readonly kind: "garbage" }
  | { readonly kind: "cut" };

/**
 * A local HTTP server on 127.0.0.1 speaking Ollama's streaming chat protocol (`POST /api/chat`,
 * one JSON object per line, the last with `"done": true`), with switchable misbehaviour.
 */
export class FakeOllama {
  behaviour: FakeBehaviour = { kind: "stream", pieces: ["Hello", ", world"] };
  readonly requests: { model: string; messages: { role: string; content: string }[]; stream: boolean }[] = [];
  /** Connections closed by the client while streaming (the tutor stopped early). */
  clientAborts = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of req) body += chunk;
    if (req.method !== "POST" || req.url !== "/api/chat") {
      res.writeHead(404).end();
      return;
    }
    const parsed = JSON.parse(body) as FakeOllama["requests"][number];
    this.requests.push(parsed);
    res.on("close", () => {
      if (!res.writableEnded) this.clientAborts++;
    });
    const b = this.behaviour;
    const line = (content: string, done = false) =>
      `${JSON.stringify({ model: parsed.model, created_at: "2026-11-27T00:00:00Z", message: { role: "assistant", content }, done })}\n`;
    switch (b.kind) {
      case "status":
        res.writeHead(b.status, { "content-type": "application/json" }).end(b.body);
        return;
      case "garbage":
        res.writeHead(200, { "content-type": "application/x-ndjson" }).end("this is not json\n");
        return;
      case "cut":
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.write(line("partial"));
        res.end();
        return;
      case "stall-after":
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        for (const piece of b.pieces) res.write(line(piece));
        return; // never ends
      case "stream": {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        for (const piece of b.pieces) {
          if (res.destroyed) return;
          // Split a line across two writes to exercise line reassembly.
          const text = line(piece);
          res.write(text.slice(0, 7));
          if (b.delayMs !== undefined) await new Promise((r) => setTimeout(r, b.delayMs));
          res.write(text.slice(7));
        }
        res.end(
          `${JSON.stringify({ model: parsed.model, message: { role: "assistant", content: "" }, done: true, done_reason: "stop" })}\n`,
        );
        return;
      }
    }
  }
}
