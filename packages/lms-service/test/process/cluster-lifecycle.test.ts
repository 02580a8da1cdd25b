import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmsClient } from "../../src/client/lms-client.js";
import { MembershipKind, ReadConsistency, type User } from "../../src/gen/lms.js";
import { ProcessCluster, processWaitMs } from "./process-cluster.js";

const password = "a long enough password";
const writersCount = 4;
const writesPerWriter = 12;

/** Every student the admin sees through one node, read from that node's own applied state. */
async function studentsOn(client: LmsClient): Promise<User[]> {
  const students: User[] = [];
  let pageToken = "";
  do {
    const page = await client.auth.listStudents({
      courseId: "",
      pageSize: 100,
      pageToken,
      consistency: ReadConsistency.READ_CONSISTENCY_LOCAL,
    });
    students.push(...page.students);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return students.sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
}

describe("three LMS node processes on 127.0.0.1 (real gRPC, real disks)", { timeout: 40_000 }, () => {
  let cluster: ProcessCluster;
  /** Usernames whose registration was acknowledged. */
  const acknowledged = new Set<string>();
  let firstLeader = "";

  /** The admin's client bound to one node only (its local reads show that node's state). */
  function adminOn(id: string): LmsClient {
    return cluster.client([id]).withToken(adminToken);
  }
  let adminToken = "";
  /** The admin's client of every node. */
  function admin(): LmsClient {
    return cluster.client().withToken(adminToken);
  }

  /** Waits until every node applied the leader's commit index, then returns each node's student list. */
  async function convergedStudents(ids: readonly string[]): Promise<Map<string, User[]>> {
    const leader = await cluster.leader(ids);
    await cluster.applied(ids, leader.commit ?? 0);
    const lists = new Map<string, User[]>();
    for (const id of ids) lists.set(id, await studentsOn(adminOn(id)));
    return lists;
  }

  beforeAll(async () => {
    cluster = await ProcessCluster.create();
    cluster.startAll();
    firstLeader = (await cluster.leader()).node;
    const anonymous = cluster.client();
    await anonymous.auth.bootstrapAdmin({
      username: "root",
      password,
      displayName: "Root",
      bootstrapProof: await cluster.proof("root"),
    });
    adminToken = (await anonymous.auth.login({ username: "root", password })).token;
  }, 30_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it("serves health and Prometheus metrics with the node's role, term and counters", async () => {
    const health = await cluster.health(firstLeader);
    expect(health).toMatchObject({ node: firstLeader, status: "running", role: "leader", leader: firstLeader });
    const metrics = await cluster.metrics(firstLeader);
    expect(metrics).toContain('lectern_raft_role{role="leader"} 1');
    // The bootstrap was proposed, and the login answered, by whichever node the client reached first.
    let proposals = 0;
    let logins = 0;
    for (const id of cluster.ids) {
      const text = await cluster.metrics(id);
      proposals += Number(/^lectern_raft_proposals_total (\d+)$/m.exec(text)?.[1] ?? "0");
      logins += Number(
        /^lectern_grpc_server_handled_total\{method="\/lectern\.lms\.v1\.AuthService\/Login",code="OK"\} (\d+)$/m.exec(
          text,
        )?.[1] ?? "0",
      );
    }
    expect(proposals).toBeGreaterThanOrEqual(1);
    expect(logins).toBe(1);
    expect(metrics).toMatch(/^lectern_peers_connected 2$/m);
    expect(metrics).toMatch(/^lectern_event_loop_delay_p99_seconds \d/m);
    // Every log line carries the node id; once Raft runs, the term too.
    const lines = cluster
      .output(firstLeader)
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { node?: string; term?: number; msg?: string });
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.every((line) => line.node === firstLeader)).toBe(true);
    expect(lines.find((line) => line.msg === "role or leader changed" && (line.term ?? 0) > 0)).toBeDefined();
  });

  it("keeps every acknowledged write of concurrent clients when the leader is killed with SIGKILL", async () => {
    // Each writer talks to all nodes, starting at a different one (so writes also arrive on followers).
    const writers = Array.from({ length: writersCount }, (_, w) =>
      cluster.client([...cluster.ids.slice(w % 3), ...cluster.ids.slice(0, w % 3)]),
    );
    let killed = false;
    const killAfter = Math.floor((writersCount * writesPerWriter) / 3);
    const failures: unknown[] = [];
    await Promise.all(
      writers.map(async (client, w) => {
        for (let i = 0; i < writesPerWriter; i++) {
          const username = `w${w}-s${i}`;
          try {
            await client.auth.register({ username, password, displayName: `Writer ${w} student ${i}` });
            acknowledged.add(username);
          } catch (error) {
            failures.push(error); // Outcome unknown to this client: it may or may not be applied.
          }
          if (!killed && acknowledged.size >= killAfter) {
            killed = true;
            await cluster.kill(firstLeader);
          }
        }
      }),
    );
    expect(killed).toBe(true);
    // The clients retry through the failover; at most a few writes may end without an answer.
    expect(acknowledged.size).toBeGreaterThanOrEqual(writersCount * writesPerWriter - 2);
    const survivors = cluster.ids.filter((id) => id !== firstLeader);
    const newLeader = await cluster.leader(survivors);
    expect(newLeader.node).not.toBe(firstLeader);
    expect(newLeader.term).toBeGreaterThan(0);
    const lists = await convergedStudents(survivors);
    for (const [id, students] of lists) {
      const names = new Set(students.map((s) => s.username));
      for (const username of acknowledged) expect(names.has(username), `${username} on ${id}`).toBe(true);
    }
    const [first, second] = [...lists.values()];
    expect(second).toEqual(first);
  });

  it("restarts the killed leader from its disk; it catches up and holds identical data", async () => {
    cluster.closeClients();
    cluster.start(firstLeader);
    const lists = await convergedStudents(cluster.ids);
    const reference = lists.get(cluster.ids[0]);
    expect(reference?.length).toBeGreaterThanOrEqual(acknowledged.size);
    for (const id of cluster.ids) expect(lists.get(id), id).toEqual(reference);
    // The restarted node serves the LMS itself (login is a read of its own applied state plus a token).
    const [someone] = acknowledged;
    const { token } = await cluster.client([firstLeader]).auth.login({ username: someone, password });
    expect(token).not.toBe("");
  });

  it("recovers all three nodes from disk after they are all killed together", async () => {
    const before = await convergedStudents(cluster.ids);
    const commitBefore = (await cluster.leader()).commit ?? 0;
    await Promise.all(cluster.ids.map((id) => cluster.kill(id)));
    cluster.closeClients();
    cluster.startAll();
    const leader = await cluster.leader();
    expect(leader.commit).toBeGreaterThanOrEqual(commitBefore);
    const after = await convergedStudents(cluster.ids);
    for (const id of cluster.ids) expect(after.get(id), id).toEqual(before.get(id));
    // Writes work again after the restart.
    await admin().auth.register({ username: "after-restart", password, displayName: "After" });
  });

  it(
    "refuses a voter restarted with an empty data folder until it is removed and re-added",
    async () => {
      const leader = (await cluster.leader()).node;
      const victim = cluster.ids.find((id) => id !== leader) as string;
      await cluster.kill(victim);
      await cluster.wipe(victim);
      cluster.start(victim);
      const refused = await cluster.exited(victim);
      expect(refused.code).toBe(3);
      expect(cluster.output(victim)).toContain(`lectern node ${victim} refuses to start`);
      expect(cluster.output(victim)).toContain("lists it as a voter that has already run");

      // Nothing changed: the others still lead and accept writes.
      await admin().auth.register({ username: "while-refused", password, displayName: "While refused" });

      // Re-add it: remove the voter, add it back as a learner, start it empty, promote it.
      await admin().cluster.removeMember({ nodeId: victim });
      await admin().cluster.addMember({ nodeId: victim, address: cluster.address(victim), asLearner: true });
      cluster.closeClients();
      cluster.start(victim);
      const others = cluster.ids.filter((id) => id !== victim);
      const commit = (await cluster.leader(others)).commit ?? 0;
      await cluster.applied([victim], commit);
      expect(cluster.output(victim)).toContain('"decision":"join"');
      await cluster.waitFor(`${victim} promoted`, async () => {
        try {
          await admin().cluster.promoteMember({ nodeId: victim });
          return true;
        } catch (error) {
          if ((error as ServiceError).code === grpcStatus.FAILED_PRECONDITION) return undefined; // not caught up yet
          throw error;
        }
      });
      const status = await admin().cluster.getClusterStatus({});
      expect(status.members.find((m) => m.id === victim)?.kind).toBe(MembershipKind.MEMBERSHIP_KIND_VOTER);
      const lists = await convergedStudents(cluster.ids);
      for (const id of cluster.ids) expect(lists.get(id), id).toEqual(lists.get(leader));
      expect(lists.get(victim)?.map((s) => s.username)).toContain("while-refused");
    },
    processWaitMs * 2,
  );
});
