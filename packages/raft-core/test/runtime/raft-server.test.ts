import { getEventListeners, setMaxListeners } from "node:events";
import { describe, expect, test } from "vitest";
import type { AppendResponse, Message } from "../../src/core/types.js";
import { isRaftError } from "../../src/runtime/errors.js";
import { RaftServer } from "../../src/runtime/raft-server.js";
import {
  command,
  createCluster,
  ListStateMachine,
  LocalNetwork,
  ManualClock,
  SeededRandom,
  settle,
  TestStorage,
  track,
} from "./helpers.js";

function codeOf(error: unknown): string | undefined {
  return isRaftError(error) ? error.code : undefined;
}

describe("RaftServer: single node", () => {
  test("elects itself after campaign() and propose resolves with the state machine's result", async () => {
    const cluster = await createCluster(["a"]);
    const { server, stateMachine } = cluster.nodes.a;
    expect(server.status().role).toBe("follower");
    await cluster.elect("a");
    expect(server.status().role).toBe("leader");

    const first = track(server.propose(command("x")));
    const second = track(server.propose(command("y")));
    await cluster.waitFor(() => second.state !== "pending");
    expect(first).toMatchObject({ state: "resolved", value: 1 });
    expect(second).toMatchObject({ state: "resolved", value: 2 });
    expect(stateMachine.commands).toEqual(["x", "y"]);
    expect(server.status()).toMatchObject({ pendingProposals: 0, lifecycle: "running" });
    await cluster.stopAll();
  });

  test("many concurrent proposals share few storage writes (group commit)", async () => {
    const cluster = await createCluster(["a"]);
    const { server, storage, stateMachine } = cluster.nodes.a;
    await cluster.elect("a");
    const writesBefore = storage.writes;
    const calls = Array.from({ length: 256 }, (_, i) => track(server.propose(command(`c${i}`))));
    await cluster.waitFor(() => calls.every((c) => c.state !== "pending"));
    expect(calls.map((c) => c.value)).toEqual(Array.from({ length: 256 }, (_, i) => i + 1));
    const writes = storage.writes - writesBefore;
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(4);
    expect(storage.maxInFlight).toBe(1);
    expect(stateMachine.commands).toHaveLength(256);
    await cluster.stopAll();
  });

  test("validates commands: oversized entries and non-bytes are refused before the core", async () => {
    const cluster = await createCluster(["a"], { overrides: { maxEntryBytes: 16 } });
    const { server, stateMachine } = cluster.nodes.a;
    await cluster.elect("a");
    const tooLarge = await server.propose(new Uint8Array(17)).catch((e: unknown) => e);
    expect(codeOf(tooLarge)).toBe("ENTRY_TOO_LARGE");
    const notBytes = await server.propose("text" as unknown as Uint8Array).catch((e: unknown) => e);
    expect(notBytes).toBeInstanceOf(TypeError);
    await expect(server.propose(new Uint8Array(16))).resolves.toBe(1);
    expect(stateMachine.commands).toHaveLength(1);
    await cluster.stopAll();
  });

  test("a full proposal queue gives OVERLOADED and the accepted proposals still succeed", async () => {
    const cluster = await createCluster(["a"], { overrides: { maxPendingProposals: 2 } });
    const { server } = cluster.nodes.a;
    await cluster.elect("a");
    const accepted = [track(server.propose(command("1"))), track(server.propose(command("2")))];
    const refused = await server.propose(command("3")).catch((e: unknown) => e);
    expect(codeOf(refused)).toBe("OVERLOADED");
    await cluster.waitFor(() => accepted.every((c) => c.state !== "pending"));
    expect(accepted.map((c) => c.state)).toEqual(["resolved", "resolved"]);
    // Once the queue drained, proposals are accepted again.
    await expect(server.propose(command("4"))).resolves.toBe(3);
    await cluster.stopAll();
  });

  test("read() is a barrier: it resolves only after the local state machine applied the read index", async () => {
    const cluster = await createCluster(["a"]);
    const { server, stateMachine } = cluster.nodes.a;
    await cluster.elect("a");
    stateMachine.gate = true;
    const written = track(server.propose(command("w")));
    await cluster.waitFor(() => server.status().commit === server.status().lastIndex);
    expect(stateMachine.commands).toEqual([]);

    let commandsSeenByRead: string[] | undefined;
    const read = track(server.read().then(() => (commandsSeenByRead = [...stateMachine.commands])));
    await cluster.clock.advance(100);
    expect(read.state).toBe("pending");
    expect(written.state).toBe("pending");

    stateMachine.openGate();
    await cluster.waitFor(() => read.state !== "pending");
    expect(read.state).toBe("resolved");
    expect(commandsSeenByRead).toEqual(["w"]);
    expect(written).toMatchObject({ state: "resolved", value: 1 });
    await cluster.stopAll();
  });

  test("a storage write failure stops the node with STORAGE_FAILED and fails what is pending", async () => {
    const cluster = await createCluster(["a"]);
    const { server, storage, logger } = cluster.nodes.a;
    await cluster.elect("a");
    storage.failWrites(new Error("EIO: fsync failed"));
    const proposal = track(server.propose(command("lost?")));
    const read = track(server.read());
    const stopped = track(server.stopped);
    await cluster.clock.advance(50);

    expect(stopped.state).toBe("resolved");
    expect(codeOf(stopped.value)).toBe("STORAGE_FAILED");
    expect(codeOf(proposal.error)).toBe("OUTCOME_UNKNOWN");
    expect(codeOf(read.error)).toBe("READ_FAILED");
    const status = server.status();
    expect(status.lifecycle).toBe("stopped");
    expect(codeOf(status.fatalError)).toBe("STORAGE_FAILED");
    expect(storage.closed).toBe(true);
    expect(cluster.network.stopped.has("a")).toBe(true);

    const errors = logger.lines.filter((line) => line.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0].fields).toMatchObject({ node: "a", term: status.term, code: "STORAGE_FAILED" });
    // A failed write is never retried (safety rule 11).
    const writes = storage.writes;
    await cluster.clock.advance(500);
    expect(storage.writes).toBe(writes);
    expect(codeOf(await server.propose(command("after")).catch((e: unknown) => e))).toBe("STOPPED");
    await server.stop();
  });

  test("a state machine that throws stops the node instead of skipping the entry", async () => {
    const cluster = await createCluster(["a"]);
    const { server, stateMachine } = cluster.nodes.a;
    await cluster.elect("a");
    stateMachine.throwOnApply = new Error("bug in apply");
    const proposal = track(server.propose(command("boom")));
    await cluster.clock.advance(50);
    expect(codeOf(proposal.error)).toBe("OUTCOME_UNKNOWN");
    const status = server.status();
    expect(status.lifecycle).toBe("stopped");
    expect(status.fatalError?.message).toContain("bug in apply");
    expect(await server.stopped).toBe(status.fatalError);
  });

  test("stop() fails pending work with the documented codes and closes storage", async () => {
    const cluster = await createCluster(["a"]);
    const { server, storage, stateMachine } = cluster.nodes.a;
    await cluster.elect("a");
    stateMachine.gate = true; // committed entries cannot finish applying
    const handed = track(server.propose(command("in core")));
    await cluster.waitFor(() => server.status().commit === server.status().lastIndex);
    // Issued after the commit, so its read index waits for the gated apply.
    const read = track(server.read());
    await cluster.clock.advance(20);
    expect(read.state).toBe("pending");
    const queued = track(server.propose(command("still in the inbox")));
    await server.stop();
    await settle();

    expect(codeOf(handed.error)).toBe("OUTCOME_UNKNOWN");
    expect(codeOf(queued.error)).toBe("STOPPED");
    expect(codeOf(read.error)).toBe("STOPPED");
    expect(storage.closed).toBe(true);
    expect(server.status()).toMatchObject({ lifecycle: "stopped", pendingProposals: 0, pendingReads: 0 });
    expect(server.status().fatalError).toBeUndefined();
    expect(await server.stopped).toBeUndefined();
    expect(codeOf(await server.read().catch((e: unknown) => e))).toBe("STOPPED");
    expect(() => server.campaign()).toThrow(/stopped/);
    await server.stop(); // idempotent
  });

  test("an abort before the proposal reaches the core means not applied", async () => {
    const cluster = await createCluster(["a"]);
    const { server, stateMachine } = cluster.nodes.a;
    await cluster.elect("a");
    const early = new AbortController();
    early.abort(new Error("changed my mind"));
    const before = await server.propose(command("never"), { signal: early.signal }).catch((e: unknown) => e);
    expect((before as Error).name).toBe("AbortError");
    expect((before as Error).message).toContain("not applied");
    expect(isRaftError(before)).toBe(false);

    const late = new AbortController();
    const queued = track(server.propose(command("also never"), { signal: late.signal }));
    late.abort();
    await cluster.clock.advance(100);
    expect((queued.error as Error).name).toBe("AbortError");
    expect(stateMachine.commands).toEqual([]);
    await cluster.stopAll();
  });

  test("leaves no timers or abort listeners behind after many proposals and reads", async () => {
    const cluster = await createCluster(["a"]);
    const { server } = cluster.nodes.a;
    await cluster.elect("a");
    const controller = new AbortController();
    // One signal shared by 1,010 concurrent calls: lift Node's listener-count warning for this test.
    setMaxListeners(2_000, controller.signal);
    const timersAtRest = cluster.clock.pendingTimers();
    let done = 0;
    for (let batch = 0; batch < 100; batch++) {
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 1_000; i++) calls.push(server.propose(command("p"), { signal: controller.signal }));
      for (let i = 0; i < 10; i++) calls.push(server.read({ signal: controller.signal }));
      const all = Promise.all(calls).then(() => done++);
      await cluster.waitFor(() => done === batch + 1);
      await all;
    }
    expect(done).toBe(100);
    expect(server.status()).toMatchObject({ pendingProposals: 0, pendingReads: 0, stateMachineApplied: 100_001 });
    expect(cluster.clock.pendingTimers()).toBe(timersAtRest);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    await cluster.stopAll();
  });

  test("a busy loop yields to the clock after a bounded number of microtask rounds", async () => {
    const cluster = await createCluster(["a"]);
    const { server } = cluster.nodes.a;
    await cluster.elect("a");
    const total = 400;
    let completed = 0;
    const client = (async () => {
      for (let i = 0; i < total; i++) {
        await server.propose(command(`${i}`));
        completed++;
      }
    })();
    // Without yields this sequential client would be one endless microtask chain: settle() would
    // not return until it finished, and no timer could fire meanwhile.
    await settle();
    expect(completed).toBeGreaterThan(0);
    expect(completed).toBeLessThan(total);
    expect(cluster.clock.pendingZeroDelayTimers()).toBe(1);
    while (completed < total) await cluster.clock.advance(0);
    await client;
    await cluster.stopAll();
  });
});

describe("RaftServer: three nodes", () => {
  test("propose on the leader resolves after apply, and every node applies the same log (§5.3)", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    const result = track(cluster.nodes.n1.server.propose(command("hello")));
    await cluster.waitFor(() => result.state !== "pending");
    expect(result).toMatchObject({ state: "resolved", value: 1 });
    expect(cluster.nodes.n1.stateMachine.commands).toEqual(["hello"]);
    await cluster.waitFor(() => cluster.nodes.n3.stateMachine.commands.length === 1);
    expect(cluster.nodes.n2.stateMachine.commands).toEqual(["hello"]);
    expect(cluster.nodes.n3.stateMachine.commands).toEqual(["hello"]);
    await cluster.stopAll();
  });

  test("propose on a follower is forwarded to the leader and resolves with the result", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    await cluster.waitFor(() => cluster.nodes.n2.server.status().leader === "n1");
    const viaFollower = track(cluster.nodes.n2.server.propose(command("forwarded")));
    const viaLeader = track(cluster.nodes.n1.server.propose(command("direct")));
    await cluster.waitFor(() => viaFollower.state !== "pending" && viaLeader.state !== "pending");
    expect(viaFollower.state).toBe("resolved");
    expect(viaLeader.state).toBe("resolved");
    const log = cluster.nodes.n1.stateMachine.commands;
    expect(log).toHaveLength(2);
    expect(viaFollower.value).toBe(log.indexOf("forwarded") + 1);
    expect(viaLeader.value).toBe(log.indexOf("direct") + 1);
    const entry = cluster.nodes.n2.stateMachine.appliedEntries.find((e) => e.type === "normal" && e.origin === "n2");
    expect(entry?.requestId).toBeTypeOf("number");
    await cluster.stopAll();
  });

  test("with forwarding off a follower answers NOT_LEADER with the leader hint", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"], { overrides: { forwardProposals: false } });
    const beforeElection = await cluster.nodes.n2.server.propose(command("x")).catch((e: unknown) => e);
    expect(codeOf(beforeElection)).toBe("NOT_LEADER");
    expect(beforeElection).toMatchObject({ leaderHint: "" });
    await cluster.elect("n1");
    await cluster.waitFor(() => cluster.nodes.n2.server.status().leader === "n1");
    const error = await cluster.nodes.n2.server.propose(command("x")).catch((e: unknown) => e);
    expect(codeOf(error)).toBe("NOT_LEADER");
    expect(error).toMatchObject({ leaderHint: "n1", retryable: true });
    await cluster.stopAll();
  });

  test("a proposal that cannot commit times out with OUTCOME_UNKNOWN", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    cluster.network.isolate("n1");
    const start = cluster.clock.now();
    const proposal = track(cluster.nodes.n1.server.propose(command("stuck"), { timeoutMs: 200 }));
    await cluster.clock.advance(199);
    expect(proposal.state).toBe("pending");
    await cluster.clock.advance(1);
    expect(cluster.clock.now() - start).toBe(200);
    expect(proposal.state).toBe("rejected");
    expect(codeOf(proposal.error)).toBe("OUTCOME_UNKNOWN");
    expect(cluster.nodes.n1.server.status().pendingProposals).toBe(0);
    await cluster.stopAll();
  });

  test("an abort after the proposal reached the core gives OUTCOME_UNKNOWN", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    cluster.network.isolate("n1");
    const controller = new AbortController();
    const proposal = track(cluster.nodes.n1.server.propose(command("maybe"), { signal: controller.signal }));
    await cluster.clock.advance(5);
    controller.abort();
    await settle();
    expect(codeOf(proposal.error)).toBe("OUTCOME_UNKNOWN");
    await cluster.stopAll();
  });

  test("a forwarded proposal fails with OUTCOME_UNKNOWN as soon as its leader is replaced", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    await cluster.waitFor(() => cluster.nodes.n3.server.status().leader === "n1");
    cluster.network.isolate("n1");
    const proposal = track(cluster.nodes.n3.server.propose(command("orphan"), { timeoutMs: 60_000 }));
    await cluster.clock.advance(5);
    expect(proposal.state).toBe("pending");
    const elected = await cluster.waitFor(() => {
      const leader = cluster.nodes.n3.server.status().leader;
      return leader !== "" && leader !== "n1";
    });
    expect(elected).toBe(true);
    await settle();
    expect(codeOf(proposal.error)).toBe("OUTCOME_UNKNOWN");
    expect(cluster.clock.now()).toBeLessThan(5_000);
    await cluster.stopAll();
  });

  test("a forwarded proposal that never left before the leader changed fails with NOT_LEADER (not applied)", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    await cluster.waitFor(() => cluster.nodes.n3.server.status().leader === "n1");
    const { term, commit } = cluster.nodes.n3.server.status();
    // The proposal and a heartbeat of a newer term from n2 land in the same inbox batch, so the
    // core queues the proposal for n1 and then learns of n2 before the queue is flushed.
    const proposal = track(cluster.nodes.n3.server.propose(command("never sent")));
    cluster.network.deliverNow({
      type: "heartbeat",
      from: "n2",
      to: "n3",
      term: term + 1,
      clusterId: "test",
      commit,
      round: 0,
    });
    await settle();
    expect(codeOf(proposal.error)).toBe("NOT_LEADER");
    expect(proposal.error).toMatchObject({ leaderHint: "n2" });
    expect(cluster.network.sent.some((m) => m.type === "prop" && m.from === "n3")).toBe(false);
    await cluster.stopAll();
  });

  test("a deposed leader's uncommitted proposal is dropped once another entry commits at its index (§5.4)", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    cluster.network.isolate("n1");
    // Two proposals: the new leader's no-op lands on the first index, a normal entry on the second.
    const doomed = track(cluster.nodes.n1.server.propose(command("doomed"), { timeoutMs: 60_000 }));
    const doomedToo = track(cluster.nodes.n1.server.propose(command("doomed too"), { timeoutMs: 60_000 }));
    await cluster.clock.advance(5);
    const doomedIndex = cluster.nodes.n1.server.status().lastIndex;
    cluster.nodes.n2.server.campaign();
    const newLeader = await cluster.waitFor(() => cluster.nodes.n2.server.status().role === "leader");
    expect(newLeader).toBe(true);
    const replacement = track(cluster.nodes.n2.server.propose(command("replacement")));
    await cluster.waitFor(() => replacement.state !== "pending");
    expect(replacement.state).toBe("resolved");
    expect(doomed.state).toBe("pending");

    cluster.network.heal();
    await cluster.waitFor(() => doomed.state !== "pending" && doomedToo.state !== "pending");
    expect(codeOf(doomed.error)).toBe("PROPOSAL_DROPPED");
    expect(codeOf(doomedToo.error)).toBe("PROPOSAL_DROPPED");
    expect(cluster.nodes.n1.server.status().stateMachineApplied).toBeGreaterThanOrEqual(doomedIndex);
    for (const id of ["n1", "n2", "n3"]) {
      expect(cluster.nodes[id].stateMachine.commands).not.toContain("doomed");
      expect(cluster.nodes[id].stateMachine.commands).not.toContain("doomed too");
    }
    await cluster.stopAll();
  });

  test("a follower's read() observes every write that completed before it (ReadIndex, thesis §6.4)", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    const follower = cluster.nodes.n3;
    follower.stateMachine.gate = true; // the follower applies late
    const write = track(cluster.nodes.n1.server.propose(command("acknowledged")));
    await cluster.waitFor(() => write.state !== "pending");
    expect(write.state).toBe("resolved");
    expect(follower.stateMachine.commands).toEqual([]);

    let seen: string[] | undefined;
    const read = track(follower.server.read().then(() => (seen = [...follower.stateMachine.commands])));
    await cluster.clock.advance(100);
    expect(read.state).toBe("pending");
    follower.stateMachine.openGate();
    await cluster.waitFor(() => read.state !== "pending");
    expect(read.state).toBe("resolved");
    expect(seen).toEqual(["acknowledged"]);
    await cluster.stopAll();
  });

  test("many concurrent reads on the leader share heartbeat rounds", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    const sentBefore = cluster.network.sent.length;
    const reads = Array.from({ length: 200 }, () => track(cluster.nodes.n1.server.read()));
    await cluster.waitFor(() => reads.every((r) => r.state !== "pending"));
    expect(reads.every((r) => r.state === "resolved")).toBe(true);
    const heartbeats = cluster.network.sent.slice(sentBefore).filter((m) => m.type === "heartbeat" && m.from === "n1");
    expect(heartbeats.length).toBeLessThanOrEqual(4);
    await cluster.stopAll();
  });

  test("messagesAfterPersist leave only once the write is durable (thesis §3.8)", async () => {
    const cluster = await createCluster(["n1", "n2", "n3"]);
    await cluster.elect("n1");
    const n2 = cluster.nodes.n2;
    n2.storage.hold = true;
    const proposal = track(cluster.nodes.n1.server.propose(command("durable first")));
    const index = cluster.nodes.n1.server.status().lastIndex + 1;
    const holdsEntry = () => n2.storage.held.some((h) => h.write.entries.some((e) => e.index === index));
    // Let earlier writes (a commit-only hard state) through until n2's write of the entry is the one held.
    await cluster.waitFor(() => {
      if (!holdsEntry()) n2.storage.releaseHeld();
      return holdsEntry();
    });
    const ackFromN2 = (m: Message): boolean =>
      m.type === "appResp" && m.from === "n2" && (m as AppendResponse).success && (m as AppendResponse).index >= index;

    await cluster.clock.advance(50);
    expect(n2.storage.held).toHaveLength(1); // one write in flight, the rest waits for it
    expect(cluster.network.sent.some(ackFromN2)).toBe(false);
    // n3 acknowledged, so the entry commits on the leader regardless.
    await cluster.waitFor(() => proposal.state !== "pending");
    expect(proposal.state).toBe("resolved");
    expect(cluster.network.sent.some(ackFromN2)).toBe(false);

    n2.storage.hold = false;
    n2.storage.releaseHeld();
    await cluster.waitFor(() => cluster.network.sent.some(ackFromN2));
    expect(cluster.network.sent.some(ackFromN2)).toBe(true);
    expect(n2.storage.maxInFlight).toBe(1);
    await cluster.stopAll();
  });

  test("the same seed replays the same run, message for message", async () => {
    async function trace(): Promise<string[]> {
      const cluster = await createCluster(["n1", "n2", "n3"], { seed: 42 });
      // No campaign(): the randomized election timeouts pick the leader.
      await cluster.waitFor(() => ["n1", "n2", "n3"].some((id) => cluster.nodes[id].server.status().role === "leader"));
      const calls = ["n1", "n2", "n3"].flatMap((id) =>
        Array.from({ length: 5 }, (_, i) => track(cluster.nodes[id].server.propose(command(`${id}-${i}`)))),
      );
      await cluster.waitFor(() => calls.every((c) => c.state !== "pending"));
      await cluster.stopAll();
      return cluster.network.sent.map((m) => `${m.type} ${m.from}>${m.to} t${m.term}`);
    }
    const first = await trace();
    const second = await trace();
    expect(first.length).toBeGreaterThan(10);
    expect(second).toEqual(first);
  });
});

describe("RaftServer: lifecycle", () => {
  test("calls before start() fail with STOPPED, and start() runs once", async () => {
    const clock = new ManualClock();
    const network = new LocalNetwork(clock);
    const server = new RaftServer<number>({
      id: "a",
      clusterId: "c",
      voters: ["a"],
      clock,
      random: new SeededRandom(1),
      storage: new TestStorage(),
      transport: network.transport("a"),
      stateMachine: new ListStateMachine(),
    });
    expect(codeOf(await server.propose(command("x")).catch((e: unknown) => e))).toBe("STOPPED");
    expect(() => server.status()).toThrow(/start/);
    await server.start();
    await expect(server.start()).rejects.toThrow(/only once/);
    await server.stop();
    expect(await server.stopped).toBeUndefined();
  });

  test("a storage that cannot load fails start() with STORAGE_FAILED", async () => {
    const clock = new ManualClock();
    const storage = new TestStorage();
    storage.load = () => Promise.reject(new Error("EACCES"));
    const server = new RaftServer<number>({
      id: "a",
      clusterId: "c",
      voters: ["a"],
      clock,
      random: new SeededRandom(1),
      storage,
      transport: new LocalNetwork(clock).transport("a"),
      stateMachine: new ListStateMachine(),
    });
    const error = await server.start().catch((e: unknown) => e);
    expect(codeOf(error)).toBe("STORAGE_FAILED");
    expect(await server.stopped).toBe(error);
    expect(storage.closed).toBe(true);
  });

  test("bad options are refused in the constructor, naming the setting", () => {
    const clock = new ManualClock();
    const base = {
      id: "a",
      clusterId: "c",
      voters: ["a"],
      clock,
      random: new SeededRandom(1),
      storage: new TestStorage(),
      transport: new LocalNetwork(clock).transport("a"),
      stateMachine: new ListStateMachine(),
    };
    expect(() => new RaftServer({ ...base, tickMs: 0 })).toThrow(/tickMs/);
    expect(() => new RaftServer({ ...base, maxPendingReads: 1.5 })).toThrow(/maxPendingReads/);
    expect(() => new RaftServer({ ...base, electionTicks: 2, heartbeatTicks: 3 })).toThrow(/heartbeatTicks/);
  });

  test("a Ready that only moves the commit index costs no write; the commit rides on the next write (thesis Fig. 3.1)", async () => {
    const cluster = await createCluster(["a"]);
    const { server, storage } = cluster.nodes.a;
    await cluster.elect("a");
    await cluster.waitFor(() => server.status().commit >= 1);
    const before = storage.writes;
    await server.propose(command("one"));
    // One synced write for the entry; its commit needed none of its own.
    expect(storage.writes - before).toBe(1);
    expect(server.status().commit).toBe(2);
    expect(storage.hardState.commit).toBeLessThan(2);
    await server.propose(command("two"));
    // The next write carried the commit index reached before it.
    expect(storage.writes - before).toBe(2);
    expect(storage.hardState.commit).toBeGreaterThanOrEqual(2);
    // A term or vote change is never deferred: the stored term is the current term.
    expect(storage.hardState.term).toBe(server.status().term);
    await cluster.stopAll();
  });

  test("a durable state machine ahead of the stored commit index is not handed its entries again", async () => {
    const cluster = await createCluster(["a"]);
    const { server, storage, stateMachine } = cluster.nodes.a;
    await cluster.elect("a");
    for (const text of ["x", "y", "z"]) await server.propose(command(text));
    await server.stop();
    // The lazily written commit lags what the (durable) state machine applied.
    expect(storage.hardState.commit).toBeLessThan(stateMachine.appliedIndex());
    const applyCalls = stateMachine.appliedEntries.length;
    storage.closed = false;
    const restarted = new RaftServer<number>({
      id: "a",
      clusterId: "test",
      voters: ["a"],
      clock: cluster.clock,
      random: new SeededRandom(5),
      storage,
      transport: cluster.network.transport("a"),
      stateMachine, // keeps its state: a durable state machine after a restart
      tickMs: 10,
      electionTicks: 10,
      heartbeatTicks: 2,
    });
    await restarted.start();
    expect(restarted.status().commit).toBeGreaterThanOrEqual(stateMachine.appliedIndex());
    await cluster.waitFor(() => restarted.status().role === "leader", 1_000);
    await restarted.propose(command("after"));
    expect(stateMachine.commands).toEqual(["x", "y", "z", "after"]);
    expect(stateMachine.appliedEntries.length - applyCalls).toBe(2); // the new no-op and "after"
    await restarted.stop();
  });

  test("a restarted node re-applies committed entries and keeps serving", async () => {
    const cluster = await createCluster(["a"]);
    const { server, storage } = cluster.nodes.a;
    await cluster.elect("a");
    await server.propose(command("before restart"));
    await server.stop();

    const stateMachine = new ListStateMachine();
    storage.closed = false;
    const restarted = new RaftServer<number>({
      id: "a",
      clusterId: "test",
      voters: ["a"],
      clock: cluster.clock,
      random: new SeededRandom(99),
      storage,
      transport: cluster.network.transport("a"),
      stateMachine,
      tickMs: 10,
      electionTicks: 10,
      heartbeatTicks: 2,
    });
    await restarted.start();
    await cluster.waitFor(() => restarted.status().role === "leader", 1_000);
    const after = track(restarted.propose(command("after restart")));
    await cluster.waitFor(() => after.state !== "pending");
    expect(after.state).toBe("resolved");
    expect(stateMachine.commands).toEqual(["before restart", "after restart"]);
    await restarted.stop();
  });
});
