import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@lectern/raft-core";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus-text.js";

/** What `GET /healthz` answers: 200 while Raft runs, 503 otherwise. */
export interface HealthReport {
  readonly node: string;
  /** "running" answers 200; anything else 503. */
  readonly status: "probing" | "starting" | "running" | "stopping" | "stopped";
  readonly role?: string;
  readonly term?: number;
  readonly leader?: string;
  readonly commit?: number;
  readonly applied?: number;
  readonly lastIndex?: number;
}

/**
 * What `GET /membership` answers: this node's view of the configuration in the log, which a node
 * starting with an empty data folder asks its peers for (see fresh-start.ts). Ids only, no addresses.
 */
export interface MembershipReport {
  readonly node: string;
  /**
   * "probing": this node has an empty data folder and is asking its peers; "starting": it has data
   * and is opening it; "running": Raft runs and the lists below are filled in.
   */
  readonly state: "probing" | "starting" | "running" | "stopped";
  readonly voters?: readonly string[];
  readonly outgoingVoters?: readonly string[];
  readonly learners?: readonly string[];
  /** Members the configuration records an address for: they have run and stored the log. */
  readonly recorded?: readonly string[];
  readonly lastIndex?: number;
  readonly term?: number;
}

/** The node the operations server describes, read at each request. */
export interface OpsView {
  health(): HealthReport;
  membership(): MembershipReport;
  /** Prometheus text. */
  metrics(): string;
}

export interface OpsServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly view: OpsView;
  readonly logger?: Logger;
}

/** Requests slower than this are cut (the answers are tiny). */
export const opsRequestTimeoutMs = 5_000;

/**
 * A node's operations HTTP server (plain node:http): `GET /healthz`, `GET /metrics` and
 * `GET /membership`. It reads only; request bodies are ignored and anything else is 404 / 405.
 *
 * @example
 * const ops = await OpsServer.start({ host: "127.0.0.1", port: 8001, view });
 * // curl http://127.0.0.1:8001/healthz
 * await ops.close();
 */
export class OpsServer {
  private constructor(
    private readonly server: Server,
    /** The port it listens on. */
    readonly port: number,
  ) {}

  /** Listens; rejects when the port is taken (EADDRINUSE), naming it. */
  static async start(options: OpsServerOptions): Promise<OpsServer> {
    const server = createServer((request, response) => handle(options, request, response));
    server.requestTimeout = opsRequestTimeoutMs;
    server.headersTimeout = opsRequestTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) =>
        reject(
          new Error(`the operations HTTP server cannot listen on ${options.host}:${options.port}: ${error.message}`),
        );
      server.once("error", onError);
      server.listen(options.port, options.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    return new OpsServer(server, (server.address() as AddressInfo).port);
  }

  /** Stops listening and closes idle keep-alive connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}

function handle(options: OpsServerOptions, request: IncomingMessage, response: ServerResponse): void {
  request.resume(); // A body is never read; drain it so the connection stays usable.
  const path = (request.url ?? "/").split("?")[0];
  if (request.method !== "GET" && request.method !== "HEAD") {
    send(response, 405, "text/plain; charset=utf-8", "only GET\n", { allow: "GET, HEAD" });
    return;
  }
  try {
    if (path === "/healthz") {
      const health = options.view.health();
      send(response, health.status === "running" ? 200 : 503, "application/json", `${JSON.stringify(health)}\n`);
    } else if (path === "/metrics") {
      send(response, 200, PROMETHEUS_CONTENT_TYPE, options.view.metrics());
    } else if (path === "/membership") {
      send(response, 200, "application/json", `${JSON.stringify(options.view.membership())}\n`);
    } else {
      send(response, 404, "text/plain; charset=utf-8", "not found: try /healthz, /metrics or /membership\n");
    }
  } catch (error) {
    options.logger?.error({ err: String(error), path }, "operations request failed");
    send(response, 500, "text/plain; charset=utf-8", "internal error\n");
  }
}

function send(
  response: ServerResponse,
  code: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(code, {
    "content-type": contentType,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  response.end(response.req.method === "HEAD" ? undefined : body);
}
