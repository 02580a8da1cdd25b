// The web bench's cluster as `pnpm start` runs it: three LMS node processes (dist/node/main.js,
// synced storage) on 127.0.0.1, not nodes sharing the web front's event loop. It wraps the LMS
// benchmark's process cluster (packages/lms-service/bench) in the interface pages.mjs uses.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LmsBenchCluster } from "../../lms-service/bench/lms-cluster.mjs";
import { freePorts } from "../../lms-service/bench/processes.mjs";
import { bootstrapAdmin } from "../../lms-service/dist/node/bootstrap-admin.js";

export class ProcessCluster {
  /** @param {LmsBenchCluster} inner */
  constructor(root, inner) {
    this.root = root;
    this.inner = inner;
  }

  static async start() {
    const root = await mkdtemp(join(tmpdir(), "lectern-web-bench-"));
    await mkdir(join(root, "logs"), { recursive: true });
    const inner = new LmsBenchCluster(root, await freePorts(3));
    for (const id of inner.ids) inner.spawnNode(id);
    await inner.waitForLeader();
    return new ProcessCluster(root, inner);
  }

  /** `id=127.0.0.1:port` for every node (the form LMS_NODES takes). */
  get nodeEntries() {
    return this.inner.ids.map((id) => `${id}=${this.inner.addresses.get(id)}`);
  }

  /** The running nodes, by id (only the keys are used). */
  get nodes() {
    return this.inner.children;
  }

  leaderId() {
    return this.inner.waitForLeader();
  }

  /** SIGKILL, as a crash. */
  kill(id) {
    return this.inner.kill(id);
  }

  /** Restarts a killed node from its data and waits until every node, it too, follows one leader. */
  async startNode(id) {
    await this.inner.restart(id);
    await this.inner.waitForLeader();
  }

  bootstrapAdmin(username, password, displayName = username) {
    return bootstrapAdmin({
      addresses: this.inner.addressList(),
      clusterSecret: this.inner.env.CLUSTER_SECRET,
      username,
      password,
      displayName,
    });
  }

  async stop() {
    await this.inner.close();
    await rm(this.root, { recursive: true, force: true });
  }
}
