import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LmsClient } from "../../src/client/lms-client.js";
import { bootstrapProof } from "../../src/service/auth-service.js";

/** The built node entry point the tests run (build first, see the README of this folder's tests). */
export const nodeMainJs = join(import.meta.dirname, "../../dist/node/main.js");
export const nodeOpsHttpOffset = 1000;
/** How long a test waits for a leader, a catch-up or a process exit. */
export const processWaitMs = 20_000;
const pollMs = 50;

/** `/healthz` of one node. */
export interface Health {
  readonly node: string;
  readonly status: string;
  readonly role?: string;
  readonly term?: number;
  readonly leader?: string;
  readonly commit?: number;
  readonly applied?: number;
  readonly lastIndex?: number;
}

interface NodeProcess {
  readonly id: string;
  readonly port: number;
  readonly httpPort: number;
  child: ChildProcess | undefined;
  output: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A base port whose gRPC ports (base+1..base+n) and operations ports (+1000) are all free now.
 * Every port stays below Linux's ephemeral range (32768 and up): there, the source port of any
 * outgoing connection of another test could take one between this check and the node's bind, and
 * the node would never start (seen in CI as "timed out waiting for a leader").
 */
async function freeBasePort(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 1_000) * 10;
    const ports = Array.from({ length: count }, (_, i) => [base + 1 + i, base + 1 + i + nodeOpsHttpOffset]).flat();
    if ((await Promise.all(ports.map(portIsFree))).every(Boolean)) return base;
  }
  throw new Error("no free port range found");
}

/**
 * Real LMS node processes (`node dist/node/main.js`) on 127.0.0.1 with one temp data folder: start,
 * SIGKILL, SIGTERM, wipe, and watch them through their operations servers.
 */
export class ProcessCluster {
  readonly peers: string;
  private readonly nodes = new Map<string, NodeProcess>();
  private readonly clients: LmsClient[] = [];

  private constructor(
    readonly dataDir: string,
    basePort: number,
    readonly ids: readonly string[],
  ) {
    ids.forEach((id, i) => {
      const port = basePort + 1 + i;
      this.nodes.set(id, {
        id,
        port,
        httpPort: port + nodeOpsHttpOffset,
        child: undefined,
        output: "",
        exit: undefined,
      });
    });
    this.peers = ids.map((id) => `${id}=127.0.0.1:${this.node(id).port}`).join(",");
  }

  static async create(ids: readonly string[] = ["n1", "n2", "n3"]): Promise<ProcessCluster> {
    if (!existsSync(nodeMainJs)) {
      throw new Error(
        `${nodeMainJs} is missing: build first (pnpm --filter @lectern/raft-core run build && pnpm --filter @lectern/lms-service run codegen && pnpm --filter @lectern/lms-service run build)`,
      );
    }
    const dataDir = await mkdtemp(join(tmpdir(), "lectern-process-"));
    return new ProcessCluster(dataDir, await freeBasePort(ids.length), ids);
  }

  private node(id: string): NodeProcess {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  address(id: string): string {
    return `127.0.0.1:${this.node(id).port}`;
  }

  httpUrl(id: string, path: string): string {
    return `http://127.0.0.1:${this.node(id).httpPort}${path}`;
  }

  /** Everything the node process wrote to stdout and stderr since it was last started. */
  output(id: string): string {
    return this.node(id).output;
  }

  /** Spawns the node's process (it must not be running). */
  start(id: string): void {
    const node = this.node(id);
    if (node.child !== undefined) throw new Error(`${id} is already running`);
    const child = spawn(process.execPath, [nodeMainJs], {
      env: {
        PATH: process.env.PATH,
        NODE_ID: id,
        PEERS: this.peers,
        DATA_DIR: this.dataDir,
        LOG_LEVEL: "info",
        // No model server: the tutor answers UNAVAILABLE, which these tests never ask for.
        OLLAMA_URL: "http://127.0.0.1:9",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    node.child = child;
    node.output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      node.output += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      node.output += chunk.toString("utf8");
    });
    node.exit = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        node.child = undefined;
        resolve({ code, signal });
      }),
    );
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** Resolves with the exit of the node's current process (whatever ended it). */
  async exited(id: string, timeoutMs = processWaitMs): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const exit = this.node(id).exit;
    if (exit === undefined) throw new Error(`${id} was never started`);
    return Promise.race([
      exit,
      sleep(timeoutMs).then(() => {
        throw new Error(`${id} did not exit within ${timeoutMs} ms`);
      }),
    ]);
  }

  /** `kill -9`: no shutdown code runs. */
  async kill(id: string): Promise<void> {
    const node = this.node(id);
    if (node.child === undefined) return;
    node.child.kill("SIGKILL");
    await this.exited(id);
  }

  /** SIGTERM: a graceful stop. */
  async stop(id: string): Promise<void> {
    const node = this.node(id);
    if (node.child === undefined) return;
    node.child.kill("SIGTERM");
    await this.exited(id);
  }

  /** Deletes the node's data folder (it must be stopped). */
  async wipe(id: string): Promise<void> {
    if (this.node(id).child !== undefined) throw new Error(`stop ${id} before wiping it`);
    await rm(join(this.dataDir, id), { recursive: true, force: true });
  }

  async health(id: string): Promise<Health | undefined> {
    try {
      const response = await fetch(this.httpUrl(id, "/healthz"), { signal: AbortSignal.timeout(1_000) });
      return (await response.json()) as Health;
    } catch {
      return undefined;
    }
  }

  async metrics(id: string): Promise<string> {
    const response = await fetch(this.httpUrl(id, "/metrics"), { signal: AbortSignal.timeout(1_000) });
    return response.text();
  }

  /** Each node's process state and last output lines, for a failure message. */
  private describeNodes(): string {
    return this.ids
      .map((id) => {
        const node = this.node(id);
        const state = node.child === undefined ? "not running" : `pid ${node.child.pid}`;
        const tail = node.output.trim().split("\n").slice(-3).join(" | ").slice(-400);
        return `${id} (${state}): ${tail === "" ? "no output" : tail}`;
      })
      .join("; ");
  }

  /** Polls until `check` returns a value; fails naming `what` and each node's last words after the timeout. */
  async waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = processWaitMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.describeNodes()}`);
      }
      await sleep(pollMs);
    }
  }

  /** Waits until one of `ids` leads and every one of them runs and knows that leader. */
  async leader(ids: readonly string[] = this.ids, timeoutMs = processWaitMs): Promise<Health> {
    return this.waitFor(
      `a leader among ${ids.join(", ")}`,
      async () => {
        const healths = await Promise.all(ids.map((id) => this.health(id)));
        const leader = healths.find((h) => h?.status === "running" && h.role === "leader");
        if (leader === undefined) return undefined;
        return healths.every((h) => h?.status === "running" && h.leader === leader.node) ? leader : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until every one of `ids` has applied at least `index`. */
  async applied(ids: readonly string[], index: number): Promise<void> {
    await this.waitFor(`${ids.join(", ")} to apply index ${index}`, async () => {
      const healths = await Promise.all(ids.map((id) => this.health(id)));
      return healths.every((h) => h?.status === "running" && (h.applied ?? 0) >= index) ? true : undefined;
    });
  }

  /** A client of the given nodes (default all), closed by {@link destroy}. */
  client(ids: readonly string[] = this.ids): LmsClient {
    const client = new LmsClient({ addresses: ids.map((id) => this.address(id)) });
    this.clients.push(client);
    return client;
  }

  /**
   * Closes every client made so far. grpc-js shares one subchannel per address between channels,
   * and the subchannel of a killed node stays in reconnect backoff (up to grpc-js's default of
   * 120 s, see the report): a client made after a restart must not inherit it.
   */
  closeClients(): void {
    for (const client of this.clients.splice(0)) client.close();
  }

  async clusterSecret(): Promise<string> {
    const secrets = JSON.parse(await readFile(join(this.dataDir, "cluster-secrets.json"), "utf8")) as {
      clusterSecret: string;
    };
    return secrets.clusterSecret;
  }

  async proof(username: string): Promise<string> {
    return bootstrapProof(await this.clusterSecret(), username);
  }

  /** Kills every process and deletes the data folder. */
  async destroy(): Promise<void> {
    for (const client of this.clients) client.close();
    await Promise.all(this.ids.map((id) => this.kill(id).catch(() => {})));
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
