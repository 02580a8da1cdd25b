import { describe, expect, it } from "vitest";
import { isRaftError } from "../../src/runtime/errors.js";
import { command, createCluster, track } from "./helpers.js";

/** a, b, c are the voters; d runs but knows only a, b, c until it is added. */
async function clusterWithSpare() {
  const cluster = await createCluster(["a", "b", "c", "d"], {
    perNode: {
      a: { voters: ["a", "b", "c"] },
      b: { voters: ["a", "b", "c"] },
      c: { voters: ["a", "b", "c"] },
      d: { voters: ["a", "b", "c"] },
    },
  });
  await cluster.elect("a");
  return cluster;
}

describe("membership and leadership transfer through RaftServer (thesis §3.10, §4.3)", () => {
  it("transfers leadership to a named voter and resolves once it leads", async () => {
    const cluster = await createCluster(["a", "b", "c"]);
    await cluster.elect("a");
    const done = track(cluster.nodes.a.server.transferLeadership("b"));
    expect(await cluster.waitFor(() => done.state !== "pending", 1_000)).toBe(true);
    expect(done.state).toBe("resolved");
    expect(cluster.nodes.b.server.status().role).toBe("leader");
    expect(cluster.nodes.a.server.status().role).toBe("follower");
    await cluster.stopAll();
  });

  it("proposals made on the old leader during a transfer are held, then applied through the new leader (thesis §3.10)", async () => {
    const cluster = await createCluster(["a", "b", "c"]);
    await cluster.elect("a");
    // Start the transfer and propose in the same turn, before the target has taken over.
    const done = track(cluster.nodes.a.server.transferLeadership("b"));
    const calls = ["h1", "h2", "h3"].map((text) => track(cluster.nodes.a.server.propose(command(text))));
    expect(
      await cluster.waitFor(() => done.state !== "pending" && calls.every((c) => c.state !== "pending"), 2_000),
    ).toBe(true);
    expect(done.state).toBe("resolved");
    // Each caller gets its real result (the state machine's count), not OUTCOME_UNKNOWN.
    expect(calls.map((c) => c.state)).toEqual(["resolved", "resolved", "resolved"]);
    for (const id of ["a", "b", "c"]) {
      expect(await cluster.waitFor(() => cluster.nodes[id].stateMachine.commands.includes("h3"))).toBe(true);
      expect(cluster.nodes[id].stateMachine.commands.filter((c) => c.startsWith("h"))).toEqual(["h1", "h2", "h3"]);
    }
    await cluster.stopAll();
  });

  it("refuses a transfer to a non-member with TRANSFER_FAILED", async () => {
    const cluster = await createCluster(["a", "b", "c"]);
    await cluster.elect("a");
    const done = track(cluster.nodes.a.server.transferLeadership("zz"));
    await cluster.waitFor(() => done.state !== "pending", 100);
    expect(isRaftError(done.error, "TRANSFER_FAILED")).toBe(true);
    expect(cluster.nodes.a.server.status().role).toBe("leader");
    await cluster.stopAll();
  });

  it("adds a learner, then promotes it to voter once it has caught up", async () => {
    const cluster = await clusterWithSpare();
    const leader = cluster.nodes.a.server;
    const added = track(leader.addLearner("d", "127.0.0.1:7004"));
    await cluster.waitFor(() => added.state !== "pending", 1_000);
    expect(added.state).toBe("resolved");
    expect(leader.status()).toMatchObject({ learners: ["d"], addresses: { d: "127.0.0.1:7004" } });
    await cluster.waitFor(() => leader.status().progress.d?.match === leader.status().commit, 1_000);
    const promoted = track(leader.promoteLearner("d"));
    await cluster.waitFor(() => cluster.nodes.d.server.status().voters.includes("d"), 2_000);
    expect(promoted.state).toBe("resolved");
    expect(leader.status()).toMatchObject({ voters: ["a", "b", "c", "d"], learners: [] });
    await cluster.stopAll();
  });

  it("promoting a learner that is behind fails with NOT_CAUGHT_UP", async () => {
    const cluster = await clusterWithSpare();
    const leader = cluster.nodes.a.server;
    cluster.network.isolate("d");
    const added = track(leader.addLearner("d"));
    await cluster.waitFor(() => added.state !== "pending", 1_000);
    for (let i = 0; i < 5; i++) void leader.propose(new Uint8Array([i])).catch(() => undefined);
    await cluster.waitFor(() => leader.status().commit > (leader.status().progress.d?.match ?? 0), 1_000);
    const promoted = await leader.promoteLearner("d").catch((e: unknown) => e);
    expect(isRaftError(promoted, "NOT_CAUGHT_UP")).toBe(true);
    await cluster.stopAll();
  });

  it("a second change while one is pending is refused as CONFIG_CHANGE_REJECTED", async () => {
    const cluster = await clusterWithSpare();
    const leader = cluster.nodes.a.server;
    const first = track(leader.addVoter("d"));
    const second = track(leader.removeMember("c"));
    await cluster.waitFor(() => first.state !== "pending" && second.state !== "pending", 1_000);
    expect(first.state).toBe("resolved");
    expect(isRaftError(second.error, "CONFIG_CHANGE_REJECTED")).toBe(true);
    await cluster.stopAll();
  });
});
