import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bootstrapAdmin,
  type ClusterSecrets,
  LmsNode,
  type LmsNodeOptions,
  loadNodeConfig,
  type RaftTuning,
} from "@lectern/lms-service";

/** The logger a node takes (raft-core's interface). */
type NodeLogger = NonNullable<LmsNodeOptions["logger"]>;

/** How often {@link LocalCluster.leaderId} looks at the nodes while waiting for agreement. */
export const leaderPollIntervalMs = 10;

export interface LocalClusterOptions {
  /** Nodes (default 3), named n1, n2, ... */
  readonly size?: number;
  /** The tutor's model server (default: a closed port, so the tutor is "unavailable"). */
  readonly ollamaUrl?: string;
  readonly ollamaModel?: string;
  /** Largest upload (default: the node's default, 25 MiB). */
  readonly maxFileBytes?: number;
  /** Raft timing (default: the node's own defaults). */
  readonly raft?: RaftTuning;
  /** Keep warnings and errors of the nodes in {@link LocalCluster.logLines} (default true). */
  readonly keepLogs?: boolean;
}

/** Ports the OS says are free right now (bound to port 0, then released). */
export async function freeLocalPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/**
 * A real LMS cluster inside this process: N `LmsNode`s on 127.0.0.1 with ephemeral ports, their
 * own temporary data folders and shared secrets. For the web front's contract tests, browser tests
 * and benchmarks; nothing here is used when the web front serves a real cluster.
 *
 * @example
 * ```ts
 * const cluster = await LocalCluster.start();
 * const api = createGrpcLmsApi({ nodes: cluster.nodeEntries });
 * await cluster.bootstrapAdmin("admin", "admin-password-1234");
 * await cluster.kill(await cluster.leaderId());
 * await cluster.stop();
 * ```
 */
export class LocalCluster {
  readonly nodes = new Map<string, LmsNode>();
  /** Warnings and errors the nodes logged, one JSON line each. */
  readonly logLines: string[] = [];

  private constructor(
    /** The temporary folder holding every node's data. */
    readonly root: string,
    readonly secrets: ClusterSecrets,
    /** `id=127.0.0.1:port` for every node, in id order (the form PEERS and LMS_NODES take). */
    readonly nodeEntries: readonly string[],
    private readonly options: LocalClusterOptions,
  ) {}

  /** Starts every node and waits until they agree on a leader. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const size = options.size ?? 3;
    const root = await mkdtemp(join(tmpdir(), "lectern-web-cluster-"));
    const ports = await freeLocalPorts(size);
    const entries = ports.map((port, index) => `n${index + 1}=127.0.0.1:${port}`);
    const secrets: ClusterSecrets = {
      jwtSecret: randomBytes(32).toString("base64url"),
      clusterSecret: randomBytes(32).toString("base64url"),
    };
    const cluster = new LocalCluster(root, secrets, entries, options);
    try {
      await Promise.all(entries.map((entry) => cluster.startNode(entry.split("=")[0])));
      await cluster.leaderId();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Every node's `host:port`. */
  get addresses(): string[] {
    return this.nodeEntries.map((entry) => entry.split("=")[1]);
  }

  /** The `host:port` of one node. */
  addressOf(nodeId: string): string {
    const entry = this.nodeEntries.find((candidate) => candidate.startsWith(`${nodeId}=`));
    if (entry === undefined) throw new Error(`no node ${nodeId} in this cluster`);
    return entry.split("=")[1];
  }

  /** Starts (or restarts, with its data) the node `nodeId`. */
  async startNode(nodeId: string): Promise<LmsNode> {
    const config = loadNodeConfig({
      NODE_ID: nodeId,
      PEERS: this.nodeEntries.join(","),
      // Each node keeps its data in DATA_DIR/<node id>.
      DATA_DIR: this.root,
      OLLAMA_URL: this.options.ollamaUrl ?? "http://127.0.0.1:9",
      ...(this.options.ollamaModel === undefined ? {} : { OLLAMA_MODEL: this.options.ollamaModel }),
      ...(this.options.maxFileBytes === undefined ? {} : { MAX_FILE_BYTES: String(this.options.maxFileBytes) }),
    });
    const node = await LmsNode.start({
      config,
      secrets: this.secrets,
      logger: this.logger(nodeId),
      ...(this.options.raft === undefined ? {} : { raft: this.options.raft }),
    });
    this.nodes.set(nodeId, node);
    return node;
  }

  /** The leader every running node agrees on, waiting up to `timeoutMs` for one. */
  async leaderId(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = [...this.nodes.values()].map((node) => node.raft.status());
      const leaders = statuses.filter((status) => status.role === "leader");
      if (leaders.length === 1 && statuses.every((status) => status.leader === leaders[0].id)) return leaders[0].id;
      if (Date.now() > deadline) throw new Error(`the local cluster agreed on no leader within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, leaderPollIntervalMs));
    }
  }

  /** Some running node other than the leader. */
  async followerId(): Promise<string> {
    const leader = await this.leaderId();
    const follower = [...this.nodes.keys()].find((id) => id !== leader);
    if (follower === undefined) throw new Error("the local cluster has no follower");
    return follower;
  }

  /** Stops a node the way a crash would: calls cut at once, nothing drained. */
  async kill(nodeId: string): Promise<void> {
    const node = this.nodes.get(nodeId);
    if (node === undefined) throw new Error(`node ${nodeId} is not running`);
    this.nodes.delete(nodeId);
    await node.stop({ graceful: false });
  }

  /** Creates the first admin (the bootstrap command's way, proving the cluster secret). */
  async bootstrapAdmin(username: string, password: string, displayName = username): Promise<string> {
    return bootstrapAdmin({
      addresses: this.addresses,
      clusterSecret: this.secrets.clusterSecret,
      username,
      password,
      displayName,
    });
  }

  /** Stops every node and removes the data. */
  async stop(): Promise<void> {
    const running = [...this.nodes.values()];
    this.nodes.clear();
    await Promise.all(running.map((node) => node.stop({ graceful: false }).catch(() => {})));
    await rm(this.root, { recursive: true, force: true });
  }

  private logger(nodeId: string): NodeLogger {
    const keep = (level: string) => (fields: Record<string, unknown>, message: string) => {
      if (this.options.keepLogs === false) return;
      this.logLines.push(JSON.stringify({ node: nodeId, level, ...fields, msg: message }));
    };
    return { debug() {}, info() {}, warn: keep("warn"), error: keep("error") };
  }
}
