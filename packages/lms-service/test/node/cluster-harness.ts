import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceError } from "@grpc/grpc-js";
import type { Logger } from "@lectern/raft-core";
import { LmsClient, type LmsClientOptions, type RetryEvent } from "../../src/client/lms-client.js";

export type { RetryEvent };

import type { ClusterSecrets } from "../../src/node/cluster-secrets.js";
import { LmsNode, type RaftTuning } from "../../src/node/lms-node.js";
import { loadNodeConfig } from "../../src/node/node-config.js";
import { bootstrapProof } from "../../src/service/auth-service.js";

/** Ports the OS says are free right now (bound to port 0, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer();
      return new Promise<ReturnType<typeof createServer>>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve(server)),
      );
    }),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Log lines kept in memory (printed only when a test wants them). */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  constructor(private readonly node: string) {}
  debug(): void {}
  info(fields: Record<string, unknown>, message: string): void {
    this.lines.push(JSON.stringify({ node: this.node, level: "info", ...fields, msg: message }));
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.lines.push(JSON.stringify({ node: this.node, level: "warn", ...fields, msg: message }));
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.lines.push(JSON.stringify({ node: this.node, level: "error", ...fields, msg: message }));
  }
}

export interface ClusterOptions {
  readonly size?: number;
  readonly ollamaUrl?: string;
  readonly maxFileBytes?: number;
  /** Raft timing over {@link testRaftTuning} (e.g. a small `snapshotEveryEntries`). */
  readonly raft?: RaftTuning;
}

/** Short elections so a test sees a new leader within about a second. */
export const testRaftTuning: RaftTuning = { tickMs: 10, electionTicks: 30, heartbeatTicks: 5 };

/** N in-process LMS nodes on 127.0.0.1 with their own temp data folders and shared secrets. */
export class TestCluster {
  readonly nodes = new Map<string, LmsNode>();
  readonly loggers = new Map<string, MemoryLogger>();

  private constructor(
    readonly root: string,
    readonly secrets: ClusterSecrets,
    readonly peers: string,
    readonly addresses: readonly string[],
    private readonly options: ClusterOptions,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const size = options.size ?? 3;
    const root = await mkdtemp(join(tmpdir(), "lectern-cluster-"));
    const ports = await freePorts(size);
    const ids = ports.map((_, i) => `n${i + 1}`);
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(",");
    const secrets: ClusterSecrets = {
      jwtSecret: randomBytes(32).toString("base64url"),
      clusterSecret: randomBytes(32).toString("base64url"),
    };
    const cluster = new TestCluster(
      root,
      secrets,
      peers,
      ports.map((port) => `127.0.0.1:${port}`),
      options,
    );
    await Promise.all(ids.map((id) => cluster.startNode(id)));
    return cluster;
  }

  async startNode(id: string): Promise<LmsNode> {
    const config = loadNodeConfig({
      NODE_ID: id,
      PEERS: this.peers,
      DATA_DIR: this.root,
      OLLAMA_URL: this.options.ollamaUrl ?? "http://127.0.0.1:9",
      ...(this.options.maxFileBytes === undefined ? {} : { MAX_FILE_BYTES: String(this.options.maxFileBytes) }),
    });
    const logger = new MemoryLogger(id);
    this.loggers.set(id, logger);
    const node = await LmsNode.start({
      config,
      secrets: this.secrets,
      logger,
      raft: { ...testRaftTuning, ...this.options.raft },
    });
    this.nodes.set(id, node);
    return node;
  }

  node(id: string): LmsNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no running node ${id}`);
    return node;
  }

  /** The leader every running node agrees on, waiting up to `timeoutMs`. */
  async leader(timeoutMs = 5_000): Promise<LmsNode> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leaders = [...this.nodes.values()].filter((node) => node.raft.status().role === "leader");
      const agreed = [...this.nodes.values()].every((node) => node.raft.status().leader === leaders[0]?.nodeId);
      if (leaders.length === 1 && agreed) return leaders[0];
      if (Date.now() > deadline) throw new Error("no leader elected in time");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Some running node that is not the leader. */
  async follower(): Promise<LmsNode> {
    const leader = await this.leader();
    const follower = [...this.nodes.values()].find((node) => node !== leader);
    if (follower === undefined) throw new Error("no follower");
    return follower;
  }

  /** Stops a node as a crash would: calls cut, nothing drained. */
  async kill(id: string): Promise<void> {
    await this.node(id).stop({ graceful: false });
    this.nodes.delete(id);
  }

  client(addresses: readonly string[] = this.addresses, onRetry?: LmsClientOptions["onRetry"]): LmsClient {
    return new LmsClient({ addresses, initialBackoffMs: 20, maxBackoffMs: 300, maxAttempts: 20, onRetry });
  }

  proof(username: string): string {
    return bootstrapProof(this.secrets.clusterSecret, username);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => node.stop()));
    this.nodes.clear();
    await rm(this.root, { recursive: true, force: true });
  }

  dumpLogs(): string {
    return [...this.loggers.values()].flatMap((logger) => logger.lines).join("\n");
  }
}

/** Resolves with the gRPC error the call failed with; fails the test when it succeeded. */
export async function failure(call: Promise<unknown> | AsyncIterable<unknown>): Promise<ServiceError> {
  try {
    if (Symbol.asyncIterator in call) {
      for await (const _ of call as AsyncIterable<unknown>) {
        // drain
      }
    } else {
      await call;
    }
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("the call succeeded, but a failure was expected");
}
