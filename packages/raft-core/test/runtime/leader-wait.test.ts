import { describe, expect, test } from "vitest";
import type { Message } from "../../src/core/types.js";
import { isRaftError } from "../../src/runtime/errors.js";
import { LeaderWaiters, maxOffersAgain } from "../../src/runtime/leader-waiters.js";
import { RequestCancelledError } from "../../src/runtime/request-cancelled-error.js";
import { command, createCluster, settle, track } from "./helpers.js";

function codeOf(error: unknown): string | undefined {
  return isRaftError(error) ? error.code : undefined;
}

/** Ticks of TEST_TIMING: elections take 100-200 ms. */
const WAIT_MS = 1_000;

describe("leaderWaitMs: calls that meet an election wait for its leader", () => {
  test("a proposal made before any leader is known is applied once one is elected", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: WAIT_MS } });
    const proposal = track(cluster.nodes.n2.server.propose(command("early")));
    await cluster.clock.advance(5);
    expect(proposal.state).toBe("pending");
    await cluster.elect("n1");
    expect(await cluster.waitFor(() => proposal.state !== "pending")).toBe(true);
    expect(proposal.state).toBe("resolved");
    const applied = cluster.nodes.n1.stateMachine.appliedEntries.filter(
      (e) => e.type === "normal" && e.origin === "n2",
    );
    expect(applied).toHaveLength(1);
    await cluster.stopAll();
  });

  test("without leaderWaitMs the same proposal is refused at once (NOT_LEADER, no hint)", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    const error = await cluster.nodes.n2.server.propose(command("early")).catch((e: unknown) => e);
    expect(codeOf(error)).toBe("NOT_LEADER");
    expect(error).toMatchObject({ leaderHint: "" });
    await cluster.stopAll();
  });

  test("a read made before any leader is known is served once one is elected", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: WAIT_MS } });
    const read = track(cluster.nodes.n3.server.read());
    await cluster.clock.advance(5);
    expect(read.state).toBe("pending");
    await cluster.elect("n1");
    expect(await cluster.waitFor(() => read.state !== "pending")).toBe(true);
    expect(read.state).toBe("resolved");
    await cluster.stopAll();
  });

  test("with no leader for leaderWaitMs the proposal fails NOT_LEADER and the read READ_FAILED", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: 300 } });
    // n2 alone can never be elected: nothing reaches it.
    cluster.network.isolate("n2");
    const start = cluster.clock.now();
    const proposal = track(cluster.nodes.n2.server.propose(command("alone"), { timeoutMs: 10_000 }));
    const read = track(cluster.nodes.n2.server.read({ timeoutMs: 10_000 }));
    await cluster.clock.advance(290);
    expect(proposal.state).toBe("pending");
    expect(read.state).toBe("pending");
    await cluster.waitFor(() => proposal.state !== "pending" && read.state !== "pending", 100);
    await settle();
    expect(codeOf(proposal.error)).toBe("NOT_LEADER");
    expect(proposal.error).toMatchObject({ leaderHint: "" });
    expect(String((proposal.error as Error).message)).toContain("no leader was known within 300 ms");
    expect(codeOf(read.error)).toBe("READ_FAILED");
    // Expiry is checked on ticks: within one tick of the deadline.
    expect(cluster.clock.now() - start).toBeLessThanOrEqual(300 + 10);
    expect(cluster.nodes.n2.server.status().pendingProposals).toBe(0);
    await cluster.stopAll();
  });

  test("the call's own timeout still applies while it waits, as 'not applied'", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: WAIT_MS } });
    cluster.network.isolate("n2");
    const proposal = track(cluster.nodes.n2.server.propose(command("short"), { timeoutMs: 50 }));
    await cluster.clock.advance(50);
    await settle();
    expect(proposal.error).toBeInstanceOf(RequestCancelledError);
    expect(String((proposal.error as Error).message)).toContain("it was not applied");
    await cluster.stopAll();
  });

  test("stopping the server fails the waiting calls", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: WAIT_MS } });
    const proposal = track(cluster.nodes.n2.server.propose(command("x")));
    const read = track(cluster.nodes.n2.server.read());
    await cluster.clock.advance(5);
    await cluster.nodes.n2.server.stop();
    await settle();
    expect(codeOf(proposal.error)).toBe("STOPPED");
    expect(codeOf(read.error)).toBe("STOPPED");
    await cluster.stopAll();
  });

  test("leaderWaitMs must be a non-negative integer", async () => {
    await expect(createCluster(["n1"], { overrides: { leaderWaitMs: -1 } })).rejects.toThrow(/leaderWaitMs/);
    await expect(createCluster(["n1"], { overrides: { leaderWaitMs: 1.5 } })).rejects.toThrow(/leaderWaitMs/);
  });
});

/**
 * Makes n1 (the leader) answer n2's next `refusals` forwarded proposals or reads as a node that
 * just stepped down would: a refusal without a leader hint, and nothing appended. Returns how
 * many of n2's forwards reached the network.
 */
function refuseForwardsFromN2(cluster: Awaited<ReturnType<typeof createCluster>>, refusals: number) {
  const counts = { props: 0, reads: 0 };
  let left = refusals;
  cluster.network.intercept = (message: Message) => {
    if (message.from !== "n2" || message.to !== "n1") return message;
    if (message.type === "prop") counts.props++;
    else if (message.type === "readIndex") counts.reads++;
    else return message;
    if (left === 0) return message;
    left--;
    const base = { from: "n1", to: "n2", term: message.term, clusterId: message.clusterId } as const;
    const refusal: Message =
      message.type === "prop"
        ? { ...base, type: "propReject", requestIds: message.proposals.map((p) => p.requestId), leaderHint: "" }
        : { ...base, type: "readIndexResp", requestIds: message.requestIds, index: 0 };
    cluster.clock.setTimer(1, () => cluster.network.deliverNow(refusal));
    return undefined;
  };
  return counts;
}

describe("leaderWaitMs: calls refused by a leader that stepped down are offered again", () => {
  test("a forwarded proposal refused without a hint is forwarded again and applied once", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: WAIT_MS } });
    await cluster.elect("n1");
    const counts = refuseForwardsFromN2(cluster, 1);
    const proposal = track(cluster.nodes.n2.server.propose(command("bounced")));
    expect(await cluster.waitFor(() => proposal.state !== "pending")).toBe(true);
    expect(proposal.state).toBe("resolved");
    expect(counts.props).toBe(2);
    const applied = cluster.nodes.n1.stateMachine.appliedEntries.filter(
      (e) => e.type === "normal" && e.origin === "n2",
    );
    expect(applied).toHaveLength(1);
    await cluster.stopAll();
  });

  test("a read refused by its leader is asked again and served", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: WAIT_MS } });
    await cluster.elect("n1");
    const counts = refuseForwardsFromN2(cluster, 1);
    const read = track(cluster.nodes.n2.server.read());
    expect(await cluster.waitFor(() => read.state !== "pending")).toBe(true);
    expect(read.state).toBe("resolved");
    expect(counts.reads).toBe(2);
    await cluster.stopAll();
  });

  test(`after ${maxOffersAgain} more refusals the call fails (NOT_LEADER, READ_FAILED)`, async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { leaderWaitMs: WAIT_MS } });
    await cluster.elect("n1");
    const counts = refuseForwardsFromN2(cluster, Number.POSITIVE_INFINITY);
    const proposal = track(cluster.nodes.n2.server.propose(command("refused")));
    const read = track(cluster.nodes.n2.server.read());
    expect(await cluster.waitFor(() => proposal.state !== "pending" && read.state !== "pending")).toBe(true);
    expect(codeOf(proposal.error)).toBe("NOT_LEADER");
    expect(codeOf(read.error)).toBe("READ_FAILED");
    expect(counts).toEqual({ props: 1 + maxOffersAgain, reads: 1 + maxOffersAgain });
    expect(cluster.nodes.n1.stateMachine.appliedEntries.filter((e) => e.origin === "n2")).toHaveLength(0);
    await cluster.stopAll();
  });

  test("without leaderWaitMs the first refusal fails the call", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    // One refusal for the proposal, one for the read.
    const counts = refuseForwardsFromN2(cluster, 2);
    const proposal = track(cluster.nodes.n2.server.propose(command("once")));
    const read = track(cluster.nodes.n2.server.read());
    expect(await cluster.waitFor(() => proposal.state !== "pending" && read.state !== "pending")).toBe(true);
    expect(codeOf(proposal.error)).toBe("NOT_LEADER");
    expect(proposal.error).toMatchObject({ leaderHint: "" });
    expect(codeOf(read.error)).toBe("READ_FAILED");
    expect(counts).toEqual({ props: 1, reads: 1 });
    await cluster.stopAll();
  });
});

describe("LeaderWaiters", () => {
  const call = () => ({ settled: false });

  test("parks nothing when waiting is off", () => {
    const waiters = new LeaderWaiters(0);
    expect(waiters.park(call(), 0)).toBe(false);
    expect(waiters.size).toBe(0);
  });

  test("keeps the first deadline when a released call is parked again", () => {
    const waiters = new LeaderWaiters(100);
    const first = call();
    expect(waiters.park(first, 0)).toBe(true);
    expect(waiters.releaseAll()).toEqual([first]);
    expect(waiters.park(first, 60)).toBe(true);
    expect(waiters.takeExpired(99)).toEqual([]);
    expect(waiters.takeExpired(100)).toEqual([first]);
    // Its time is up: it is not parked again.
    expect(waiters.park(first, 120)).toBe(false);
  });

  test(`offers a call again at most ${maxOffersAgain} times, and never past its deadline`, () => {
    const waiters = new LeaderWaiters(100);
    const bounced = call();
    for (let i = 0; i < maxOffersAgain; i++) expect(waiters.mayOfferAgain(bounced, 10)).toBe(true);
    expect(waiters.mayOfferAgain(bounced, 10)).toBe(false);
    const late = call();
    expect(waiters.park(late, 0)).toBe(true);
    expect(waiters.mayOfferAgain(late, 99)).toBe(true);
    expect(waiters.mayOfferAgain(late, 100)).toBe(false);
    expect(new LeaderWaiters(0).mayOfferAgain(call(), 0)).toBe(false);
  });

  test("drops settled calls instead of releasing or expiring them", () => {
    const waiters = new LeaderWaiters(100);
    const done = { settled: false };
    const open = call();
    waiters.park(done, 0);
    waiters.park(open, 0);
    done.settled = true;
    expect(waiters.releaseAll()).toEqual([open]);
    waiters.park(done, 0);
    expect(waiters.takeExpired(1_000)).toEqual([]);
  });
});
