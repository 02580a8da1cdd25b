// A 3-member etcd cluster on 127.0.0.1 for the comparison: temp data dirs, etcd's own defaults
// (heartbeat 100 ms, election 1000 ms) unless timeouts are given, the same load-generator shape
// as ours through EtcdKvClient, kill -9 and restart of a member, catch-up checks.
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { clientChannelOptions } from "../dist/transport/grpc-options.js";
import { loadClientPolicy, payloadOf, probeClientPolicy, rotatedFrom } from "./client-policy.mjs";
import { EtcdKvClient, memberStatus } from "./etcd-client.mjs";
import { cpuSeconds, freePorts, killHard, spawnLogged, stopGently, waitFor } from "./processes.mjs";

const MEMBER_IDS = ["e1", "e2", "e3"];
const statusCallTimeoutMs = 1_000;
const readyTimeoutMs = 30_000;
const readKey = "bench-course";

/** The etcd binary on PATH and its version line, or undefined when there is none. */
export function findEtcd() {
  try {
    const version = execFileSync("etcd", ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return {
      command: "etcd",
      version: version
        .split("\n")[0]
        .replace(/^etcd Version:\s*/, "")
        .trim(),
    };
  } catch {
    return undefined;
  }
}

export class EtcdBenchCluster {
  children = new Map();
  clientAddresses = new Map();
  memberIds = new Map();

  /**
   * @param {string} root temp folder for data dirs and logs
   * @param {{heartbeatMs?: number, electionMs?: number}} timeouts etcd defaults when absent
   */
  constructor(root, ports, timeouts) {
    this.root = root;
    this.timeouts = timeouts;
    this.name = timeouts.electionMs === undefined ? "etcd" : `etcd@${timeouts.electionMs}ms`;
    this.peerUrls = new Map();
    MEMBER_IDS.forEach((id, i) => {
      this.clientAddresses.set(id, `127.0.0.1:${ports[2 * i]}`);
      this.peerUrls.set(id, `http://127.0.0.1:${ports[2 * i + 1]}`);
    });
    this.initialCluster = MEMBER_IDS.map((id) => `${id}=${this.peerUrls.get(id)}`).join(",");
  }

  static async start(root, timeouts = {}) {
    await mkdir(join(root, "logs"), { recursive: true });
    const cluster = new EtcdBenchCluster(root, await freePorts(2 * MEMBER_IDS.length), timeouts);
    for (const id of MEMBER_IDS) cluster.spawnMember(id);
    await cluster.waitForLeader();
    const client = new EtcdKvClient(cluster.addressList(), loadClientPolicy, clientChannelOptions());
    try {
      await client.put(readKey, payloadOf(256, 0, 0));
    } finally {
      client.close();
    }
    return cluster;
  }

  get ids() {
    return MEMBER_IDS;
  }

  addressList() {
    return MEMBER_IDS.map((id) => this.clientAddresses.get(id));
  }

  spawnMember(id) {
    const clientUrl = `http://${this.clientAddresses.get(id)}`;
    const args = [
      "--name",
      id,
      "--data-dir",
      join(this.root, id),
      "--listen-client-urls",
      clientUrl,
      "--advertise-client-urls",
      clientUrl,
      "--listen-peer-urls",
      this.peerUrls.get(id),
      "--initial-advertise-peer-urls",
      this.peerUrls.get(id),
      "--initial-cluster",
      this.initialCluster,
      "--initial-cluster-token",
      "lectern-bench",
      "--initial-cluster-state",
      "new",
      "--logger",
      "zap",
      "--log-level",
      "warn",
    ];
    if (this.timeouts.heartbeatMs !== undefined) args.push("--heartbeat-interval", String(this.timeouts.heartbeatMs));
    if (this.timeouts.electionMs !== undefined) args.push("--election-timeout", String(this.timeouts.electionMs));
    const child = spawnLogged("etcd", args, { env: process.env, logFile: join(this.root, "logs", `${id}.log`) });
    this.children.set(id, child);
  }

  runningIds() {
    return MEMBER_IDS.filter((id) => this.children.has(id));
  }

  async status(id) {
    const status = await memberStatus(this.clientAddresses.get(id), statusCallTimeoutMs);
    this.memberIds.set(id, status.memberId);
    return status;
  }

  /** The leader every running member agrees on, or undefined. */
  async agreedLeader() {
    const ids = this.runningIds();
    const answers = await Promise.all(ids.map((id) => this.status(id).catch(() => undefined)));
    if (answers.some((s) => s === undefined || s.leader === 0n)) return undefined;
    if (!answers.every((s) => s.leader === answers[0].leader)) return undefined;
    return ids.find((_, i) => answers[i].memberId === answers[0].leader);
  }

  waitForLeader() {
    return waitFor(`an ${this.name} leader`, () => this.agreedLeader(), { timeoutMs: readyTimeoutMs });
  }

  leaderId() {
    return this.waitForLeader();
  }

  async terms() {
    const terms = {};
    for (const id of this.runningIds()) terms[id] = (await this.status(id).catch(() => undefined))?.raftTerm;
    return terms;
  }

  loadClient(index, policy = loadClientPolicy) {
    return new EtcdKvClient(rotatedFrom(this.addressList(), index), policy, clientChannelOptions());
  }

  /** A PUT of a 256-byte value under a fresh key (as each LMS write adds a new note). */
  writer(index, payloadBytes) {
    const client = this.loadClient(index);
    let sequence = 0;
    return {
      op: () => {
        const value = payloadOf(payloadBytes, index, sequence);
        return client.put(`bench/w${index}/${sequence++}`, value);
      },
      close: () => client.close(),
    };
  }

  /** A linearizable range GET of one key. */
  reader(index) {
    const client = this.loadClient(index);
    return { op: () => client.get(readKey), close: () => client.close() };
  }

  /** A serializable range GET of one key: the member's own state, no ReadIndex round. */
  localReader(index) {
    const client = this.loadClient(index);
    return { op: () => client.getSerializable(readKey), close: () => client.close() };
  }

  probeWriter(firstId, payloadBytes) {
    const client = this.loadClient(MEMBER_IDS.indexOf(firstId), probeClientPolicy);
    let sequence = 0;
    return {
      op: () => client.put(`bench/probe/${sequence}`, payloadOf(payloadBytes, -1, sequence++)),
      close: () => client.close(),
    };
  }

  async kill(id) {
    const child = this.children.get(id);
    this.children.delete(id);
    await killHard(child);
  }

  async restart(id) {
    this.spawnMember(id); // With a data dir in place etcd ignores the --initial-* flags.
  }

  async waitCaughtUp(id) {
    const leader = await this.waitForLeader();
    const target = (await this.status(leader)).raftIndex;
    await waitFor(
      `${id} to catch up to index ${target}`,
      async () => ((await this.status(id)).appliedIndex >= target ? true : undefined),
      { timeoutMs: readyTimeoutMs },
    );
    const client = new EtcdKvClient(
      [this.clientAddresses.get(id)],
      { ...loadClientPolicy, maxAttempts: 1 },
      clientChannelOptions(),
    );
    await waitFor(`a client connection to ${id}`, () => client.get(readKey).then(() => true), {
      timeoutMs: readyTimeoutMs,
    }).finally(() => client.close());
    await this.waitForLeader();
  }

  cpu() {
    const out = {};
    for (const [id, child] of this.children) out[id] = cpuSeconds(child.pid);
    return out;
  }

  resetEventLoop() {}

  /** etcd is written in Go: no event loop to report. */
  async eventLoop() {
    return {};
  }

  async close() {
    await Promise.all([...this.children.values()].map((child) => stopGently(child)));
    this.children.clear();
  }
}
