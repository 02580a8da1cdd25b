// Three LMS node processes on 127.0.0.1, as an operator runs them (dist/node/main.js with NODE_ID,
// PEERS, DATA_DIR; synced storage as shipped), plus what the benchmark needs around them: an
// admin, an instructor and a course to write to, leader and term lookups, kill -9 and restart,
// catch-up checks, and each node's event-loop delay (from bench/event-loop-probe.mjs).
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { LmsClient } from "../dist/client/lms-client.js";
import { ClusterServiceService, NodeRole, ReadConsistency, Role } from "../dist/gen/lms.js";
import { bootstrapAdmin } from "../dist/node/bootstrap-admin.js";
import { loadClientPolicy, payloadOf, probeClientPolicy, rotatedFrom } from "./client-policy.mjs";
import { cpuSeconds, freePorts, killHard, sleep, spawnLogged, stopGently, waitFor } from "./processes.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const nodeMain = join(here, "..", "dist", "node", "main.js");
const eventLoopProbe = pathToFileURL(join(here, "event-loop-probe.mjs")).href;

const NODE_IDS = ["n1", "n2", "n3"];
/** Deadline of one status call made by the benchmark itself. */
const statusCallTimeoutMs = 1_000;
/** How long a (re)started cluster or node may take to be ready. */
const readyTimeoutMs = 30_000;
const adminUsername = "bench_admin";
const instructorUsername = "bench_instructor";

/** One unary call to exactly one node on a private connection (no retries, no shared subchannel). */
function callNode(address, method, request, token) {
  const definition = ClusterServiceService[method];
  const client = new Client(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const metadata = new Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      metadata,
      { deadline: Date.now() + statusCallTimeoutMs },
      (error, response) => {
        client.close();
        if (error) reject(error);
        else resolve(response);
      },
    );
  });
}

export class LmsBenchCluster {
  name = "lectern";
  /** @type {Map<string, import("node:child_process").ChildProcess>} */
  children = new Map();
  addresses = new Map();
  courseId = "";
  instructorToken = "";
  adminToken = "";
  eventLoopRequests = 0;

  constructor(root, ports) {
    this.root = root;
    for (const [i, id] of NODE_IDS.entries()) this.addresses.set(id, `127.0.0.1:${ports[i]}`);
    this.peers = NODE_IDS.map((id) => `${id}=${this.addresses.get(id)}`).join(",");
    this.env = {
      ...process.env,
      PEERS: this.peers,
      DATA_DIR: join(root, "data"),
      JWT_SECRET: randomBytes(32).toString("base64url"),
      CLUSTER_SECRET: randomBytes(32).toString("base64url"),
      OLLAMA_URL: "http://127.0.0.1:9",
      LOG_LEVEL: "warn",
    };
  }

  /** Starts three nodes under `root`, waits for a leader, creates the admin, instructor and course. */
  static async start(root) {
    await mkdir(join(root, "logs"), { recursive: true });
    const cluster = new LmsBenchCluster(root, await freePorts(NODE_IDS.length));
    for (const id of NODE_IDS) cluster.spawnNode(id);
    await cluster.waitForLeader();
    await cluster.createWorkload();
    return cluster;
  }

  get ids() {
    return NODE_IDS;
  }

  addressList() {
    return NODE_IDS.map((id) => this.addresses.get(id));
  }

  spawnNode(id) {
    // LECTERN_BENCH_NODE_FLAGS adds Node flags to every node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const extraFlags = (process.env.LECTERN_BENCH_NODE_FLAGS ?? "").split(" ").filter((flag) => flag !== "");
    const child = spawnLogged(process.execPath, [...extraFlags, "--import", eventLoopProbe, nodeMain], {
      env: { ...this.env, NODE_ID: id },
      logFile: join(this.root, "logs", `${id}.log`),
      ipc: true,
    });
    child.on("message", (message) => child.emit(`reply-${message.requestId}`, message));
    this.children.set(id, child);
  }

  async health(id) {
    return callNode(this.addresses.get(id), "getHealth", {});
  }

  /** The leader all running nodes agree on, or undefined. */
  async agreedLeader() {
    const answers = await Promise.all(this.runningIds().map((id) => this.health(id).catch(() => undefined)));
    if (answers.some((h) => h === undefined || h.lifecycle !== "running")) return undefined;
    const leaders = answers.filter((h) => h.role === NodeRole.NODE_ROLE_LEADER);
    if (leaders.length !== 1) return undefined;
    return answers.every((h) => h.leaderId === leaders[0].nodeId) ? leaders[0].nodeId : undefined;
  }

  waitForLeader() {
    return waitFor("an LMS leader", () => this.agreedLeader(), { timeoutMs: readyTimeoutMs });
  }

  async leaderId() {
    return this.waitForLeader();
  }

  runningIds() {
    return NODE_IDS.filter((id) => this.children.has(id));
  }

  /** Each running node's current term (undefined for a node that does not answer). */
  async terms() {
    const terms = {};
    for (const id of this.runningIds()) terms[id] = (await this.health(id).catch(() => undefined))?.term;
    return terms;
  }

  async createWorkload() {
    const addresses = this.addressList();
    const password = randomBytes(12).toString("base64url");
    await bootstrapAdmin({ addresses, clusterSecret: this.env.CLUSTER_SECRET, username: adminUsername, password });
    const client = new LmsClient({ addresses, ...loadClientPolicy });
    try {
      this.adminToken = (await client.auth.login({ username: adminUsername, password })).token;
      const admin = client.withToken(this.adminToken);
      await admin.auth.createUser({
        username: instructorUsername,
        password,
        displayName: "Benchmark instructor",
        role: Role.ROLE_INSTRUCTOR,
      });
      this.instructorToken = (await client.auth.login({ username: instructorUsername, password })).token;
      const instructor = client.withToken(this.instructorToken);
      const { course } = await instructor.courses.createCourse({
        title: "Benchmark course",
        description: payloadOf(256, 0, 0),
      });
      this.courseId = course.id;
    } finally {
      client.close();
    }
  }

  /** A client of the load generator: its own LmsClient, first trying node `index % 3`. */
  loadClient(index, policy = loadClientPolicy) {
    return new LmsClient({ addresses: rotatedFrom(this.addressList(), index), token: this.instructorToken, ...policy });
  }

  /** A replicated write of a 256-byte feedback note (PostFeedback to the whole course). */
  writer(index, payloadBytes) {
    const client = this.loadClient(index);
    let sequence = 0;
    return {
      op: () =>
        client.content.postFeedback({
          courseId: this.courseId,
          studentId: "",
          text: payloadOf(payloadBytes, index, sequence++),
        }),
      close: () => client.close(),
    };
  }

  /** A linearizable read (ListCourses, ReadIndex): the instructor's one course. */
  reader(index) {
    const client = this.loadClient(index);
    return {
      op: () => client.courses.listCourses({}),
      close: () => client.close(),
    };
  }

  /**
   * A local read (ListCourses at READ_CONSISTENCY_LOCAL: this node's applied state, no ReadIndex
   * round): the same call without consensus, so the price of the RPC stack itself shows.
   */
  localReader(index) {
    const client = this.loadClient(index);
    return {
      op: () => client.courses.listCourses({ consistency: ReadConsistency.READ_CONSISTENCY_LOCAL }),
      close: () => client.close(),
    };
  }

  /** The failover probe's client: starts at node `firstId` (the leader about to be killed). */
  probeWriter(firstId, payloadBytes) {
    const index = NODE_IDS.indexOf(firstId);
    const client = this.loadClient(index, probeClientPolicy);
    let sequence = 0;
    return {
      op: () =>
        client.content.postFeedback({
          courseId: this.courseId,
          studentId: "",
          text: payloadOf(payloadBytes, -1, sequence++),
        }),
      close: () => client.close(),
    };
  }

  async kill(id) {
    const child = this.children.get(id);
    this.children.delete(id);
    await killHard(child);
  }

  async restart(id) {
    this.spawnNode(id);
  }

  /** Waits until node `id` has applied everything the leader had committed when this was called. */
  async waitCaughtUp(id) {
    const leader = await this.waitForLeader();
    const target = (await callNode(this.addresses.get(leader), "getClusterStatus", {}, this.adminToken)).commitIndex;
    await waitFor(
      `${id} to catch up to index ${target}`,
      async () => {
        const status = await callNode(this.addresses.get(id), "getClusterStatus", {}, this.adminToken);
        return status.appliedIndex >= target ? true : undefined;
      },
      { timeoutMs: readyTimeoutMs },
    );
    // Warm the load generator's shared connection to the node, which may still be backing off.
    const client = new LmsClient({ addresses: [this.addresses.get(id)], maxAttempts: 1 });
    await waitFor(`a client connection to ${id}`, () => client.cluster.getHealth({}).then(() => true), {
      timeoutMs: readyTimeoutMs,
    }).finally(() => client.close());
    await this.waitForLeader();
  }

  /** CPU seconds used so far by each running node process. */
  cpu() {
    const out = {};
    for (const [id, child] of this.children) out[id] = cpuSeconds(child.pid);
    return out;
  }

  resetEventLoop() {
    for (const child of this.children.values()) child.send({ type: "event-loop-reset" });
  }

  /** Each running node's event-loop delay since the last reset, in ms. */
  async eventLoop() {
    const out = {};
    for (const [id, child] of this.children) {
      const requestId = ++this.eventLoopRequests;
      const reply = new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), statusCallTimeoutMs);
        child.once(`reply-${requestId}`, (message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
      child.send({ type: "event-loop-read", requestId });
      const message = await reply;
      if (message !== undefined) out[id] = { p50Ms: message.p50Ms, p99Ms: message.p99Ms, maxMs: message.maxMs };
    }
    return out;
  }

  async close() {
    await Promise.all([...this.children.values()].map((child) => stopGently(child)));
    this.children.clear();
    await sleep(0);
  }
}
