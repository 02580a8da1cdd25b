import { describe, expect, it } from "vitest";
import { SessionClient } from "../../src/sessions/session-client.js";
import { encodeSessionEnvelope } from "../../src/sessions/session-envelope.js";
import type { SessionApplyResult } from "../../src/sessions/session-result.js";
import { type CliIo, EXIT_USAGE, main } from "../../src/sim/cli.js";
import { type Fault, generateSchedule, validateSchedule } from "../../src/sim/fault-schedule.js";
import { History } from "../../src/sim/history.js";
import { encodeKvCommand, getCommand, putCommand } from "../../src/sim/kv-command.js";
import type { KvApplyResult } from "../../src/sim/kv-state-machine.js";
import { checkLinearizability } from "../../src/sim/linearizability.js";
import { Prng } from "../../src/sim/prng.js";
import { SafetyChecker } from "../../src/sim/safety-checker.js";
import { SimCluster } from "../../src/sim/sim-cluster.js";
import { SimNetwork } from "../../src/sim/sim-network.js";
import { runSimulation, runSimulationDetailed, type SimulationResult } from "../../src/sim/simulation.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";

function explain(result: SimulationResult): string {
  return `seed ${result.seed}: ${JSON.stringify(result.violations, null, 2)}`;
}

/** A 3-node cluster running client sessions, with helpers that run virtual time until a call settles. */
async function sessionCluster(options: { dedupe: boolean; snapshotEveryEntries?: number }) {
  const clock = new VirtualClock();
  const root = Prng.fromSeed(5);
  const checker = new SafetyChecker();
  const network = new SimNetwork(clock, root.fork("network"));
  const sim = new SimCluster({
    clock,
    prng: root,
    network,
    checker,
    nodes: 3,
    sessions: true,
    sessionDedupe: options.dedupe,
    snapshotEveryEntries: options.snapshotEveryEntries ?? 0,
    snapshotTrailingEntries: 0,
  });
  await sim.startAll();
  const hooks = { onInstant: () => sim.observe() };
  const settle = async <T>(call: Promise<T>): Promise<T> => {
    let done = false;
    call.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    await clock.runWhile(() => !done, clock.now() + 5_000, hooks);
    return call;
  };
  await clock.runWhile(() => sim.agreedLeader() === "", 5_000, hooks);
  const leader = sim.agreedLeader();
  const proposer = {
    propose: (bytes: Uint8Array) => sim.propose(sim.agreedLeader() || leader, bytes, { timeoutMs: 1_000 }),
  };
  return { clock, sim, checker, hooks, settle, proposer };
}

/**
 * Thesis §6.3: a client whose first attempt was applied but whose reply was lost retries with the
 * same sequence; here the retry is fed to the log directly, after another client's write. With
 * the session table it is a duplicate; without it the old value comes back and the history
 * checker reports the non-linearizable read.
 */
async function replayLateRetry(dedupe: boolean) {
  const { clock, sim, checker, settle, proposer, hooks } = await sessionCluster({
    dedupe,
    snapshotEveryEntries: dedupe ? 2 : 0,
  });
  const history = new History(clock);
  // Operations that end and begin at the same instant count as concurrent: keep them apart.
  const pause = () => clock.runFor(5, hooks);
  const alice = await settle(SessionClient.register<KvApplyResult>(proposer, { clock }));
  const bob = await settle(SessionClient.register<KvApplyResult>(proposer, { clock }));
  const first = history.invoke(1, putCommand("k", "a"));
  const firstPayload = encodeKvCommand(putCommand("k", "a"));
  history.complete(first, (await settle(alice.propose(firstPayload))) as { ok: true });
  await pause();
  const second = history.invoke(2, putCommand("k", "b"));
  history.complete(second, (await settle(bob.propose(encodeKvCommand(putCommand("k", "b"))))) as { ok: true });
  await clock.runFor(200, hooks);
  if (dedupe) {
    // Every replica restarts from its snapshot, which covers both registrations: the session
    // table must come with it, or the retry would find no session.
    for (const id of sim.ids) {
      expect(sim.disk(id).durableState().snapshot?.index ?? 0).toBeGreaterThanOrEqual(bob.clientId);
    }
    sim.crashAll();
    sim.restartAll();
    await clock.runWhile(() => sim.agreedLeader() === "", clock.now() + 5_000, hooks);
  }
  // The late retry of alice's first command: same client, same sequence.
  const retry = encodeSessionEnvelope({
    kind: "command",
    clientId: alice.clientId,
    sequence: 1,
    lowestUnacked: 1,
    timestampMs: clock.now(),
    payload: firstPayload,
  });
  const answer = (await settle(
    sim.propose(sim.agreedLeader(), retry, { timeoutMs: 1_000 }),
  )) as SessionApplyResult<KvApplyResult>;
  await pause();
  const read = history.invoke(3, getCommand("k"));
  const reader = sim.agreedLeader();
  await settle(sim.read(reader, { timeoutMs: 1_000 }));
  history.complete(read, { value: sim.stateMachine(reader)?.get("k") ?? null });
  return { answer, verdict: checkLinearizability(history.operations()), checker, sim };
}

describe("client sessions in the simulator (thesis §6.3)", () => {
  it("a late retry of an applied command is answered from the session table, even after every node restarted from a snapshot", async () => {
    const { answer, verdict, checker, sim } = await replayLateRetry(true);
    expect(answer).toMatchObject({ kind: "duplicate", sequence: 1, result: { ok: true } });
    expect(verdict.verdict).toBe("ok");
    expect(checker.violations()).toEqual([]);
    expect(sim.failures()).toEqual([]);
  });

  it("with the dedupe taken out, the same retry is applied twice and the linearizability checker reports it", async () => {
    const { answer, verdict } = await replayLateRetry(false);
    expect(answer.kind).toBe("applied");
    expect(verdict.verdict).toBe("violation");
    expect(verdict.violation?.key).toBe("k");
  });

  it("the workload registers every client, retries with the same sequence under faults, and every check passes", async () => {
    const schedule: Fault[] = [
      { atMs: 600, kind: "crash", node: "n1" },
      { atMs: 700, kind: "crash", node: "n2" },
      { atMs: 900, kind: "loss", perMillion: 200_000 },
      { atMs: 1_300, kind: "restart", node: "n1" },
      { atMs: 1_400, kind: "restart", node: "n2" },
      { atMs: 1_500, kind: "loss", perMillion: 0 },
      { atMs: 1_800, kind: "isolate", node: "n3" },
      { atMs: 2_300, kind: "heal" },
    ];
    const run = await runSimulationDetailed({ seed: 31, nodes: 3, ticks: 300, schedule, keepTraceLines: true });
    const result = run.result;
    expect(result.ok, explain(result)).toBe(true);
    expect(result.options.sessions).toBe(true);
    expect(result.stats.sessions.registrations).toBeGreaterThan(0);
    expect(result.stats.sessions.retries).toBeGreaterThan(0);
    // One history operation per logical command, however many attempts it took.
    expect(run.history.operations().length).toBe(result.stats.ops.invoked);
    expect((run.traceLines ?? []).some((line) => /\(\d+ attempts\) -> ok$/.test(line))).toBe(true);
    expect(result.convergence.identical).toBe(true);
    expect(Object.values(result.convergence.digests)[0]).toMatch(/^[0-9a-f]{16}\/s\d+\/t\d+$/);
  });

  it("sessions: false runs the original workload (plain proposals, never retried)", async () => {
    const result = await runSimulation({ seed: 3, nodes: 3, ticks: 200, faults: "standard", sessions: false });
    expect(result.ok, explain(result)).toBe(true);
    expect(result.options.sessions).toBe(false);
    expect(result.stats.sessions).toEqual({ registrations: 0, retries: 0 });
    expect(Object.values(result.convergence.digests)[0]).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("membership churn in the simulator (thesis §4.2, §4.3)", () => {
  it("adds a learner, promotes it, removes a voter and replaces a node under faults, with snapshots; every check passes", async () => {
    const schedule: Fault[] = [
      { atMs: 400, kind: "add-learner", node: "n6" },
      { atMs: 900, kind: "crash", node: "n6" },
      { atMs: 1_200, kind: "restart", node: "n6" },
      { atMs: 1_300, kind: "promote", node: "n6" },
      { atMs: 2_000, kind: "remove", node: "n2" },
      {
        atMs: 2_200,
        kind: "partition",
        groups: [
          ["n1", "n3"],
          ["n4", "n5"],
        ],
      },
      { atMs: 2_700, kind: "heal" },
      { atMs: 2_800, kind: "replace", node: "n3", by: "n7" },
    ];
    const run = await runSimulationDetailed({
      seed: 17,
      nodes: 5,
      ticks: 450,
      schedule,
      snapshotEveryEntries: 10,
      snapshotTrailingEntries: 5,
      keepTraceLines: true,
    });
    const result = run.result;
    expect(result.ok, explain(result)).toBe(true);
    expect(result.stats.members).toEqual({ voters: ["n1", "n4", "n5", "n6", "n7"], learners: [] });
    // The removed nodes leave the checks; the new ones are in them.
    expect(Object.keys(result.convergence.digests).sort()).toEqual(["n1", "n4", "n5", "n6", "n7"]);
    // New nodes start empty behind a compacted log: the leader catches them up with InstallSnapshot.
    expect(result.stats.snapshotsInstalled).toBeGreaterThan(0);
    const lines = run.traceLines ?? [];
    expect(lines.some((line) => /membership replace n3 by n7: remove n3( \(try \d+\))? on n\d: ok/.test(line))).toBe(
      true,
    );
    expect(lines.some((line) => /fault crash n6$/.test(line))).toBe(true);
  });

  /**
   * Regression (found by this simulator's membership churn): the leader appends the joint entry of
   * "remove n5" and the whole cluster crashes 10 ms later. The next leader has the entry in its log
   * but did not append it, so only a rule that any leader leaves a joint configuration once its
   * configuration entries are applied (RaftCore.maybeLeaveJoint; etcd's AutoLeave) gets the
   * cluster out of the joint phase; without it every later change is refused for good.
   */
  it("leaves the joint configuration after the leader that entered it crashed (thesis §4.3)", async () => {
    const schedule: Fault[] = [
      { atMs: 1_000, kind: "remove", node: "n5" },
      { atMs: 1_010, kind: "crash-all" },
      { atMs: 1_200, kind: "restart-all" },
    ];
    const result = await runSimulation({ seed: 1, nodes: 5, ticks: 300, rate: 50, schedule });
    expect(result.ok, explain(result)).toBe(true);
  });

  it("never removes below three voters, and traces the refusal", async () => {
    const schedule: Fault[] = [{ atMs: 800, kind: "remove", node: "n1" }];
    const run = await runSimulationDetailed({ seed: 2, nodes: 3, ticks: 150, schedule, keepTraceLines: true });
    expect(run.result.ok, explain(run.result)).toBe(true);
    expect(run.result.stats.members.voters).toEqual(["n1", "n2", "n3"]);
    expect(run.result.stats.membership.declined).toBe(1);
    expect((run.traceLines ?? []).some((line) => /remove n1: declined: only 2 voters would remain/.test(line))).toBe(
      true,
    );
  });

  it("generates membership operations in the standard and heavy profiles, within the voter bounds", () => {
    const nodes = ["n1", "n2", "n3", "n4", "n5"];
    for (const profile of ["standard", "heavy"] as const) {
      const kinds = new Set<string>();
      for (let seed = 1; seed <= 20; seed++) {
        const schedule = generateSchedule(Prng.fromSeed(seed).fork("faults"), { nodes, durationMs: 30_000, profile });
        // Every generated schedule validates (the joining nodes become nodes of the schedule).
        expect(validateSchedule(schedule, { nodes })).toEqual(schedule);
        for (const fault of schedule) kinds.add(fault.kind);
      }
      expect([...kinds]).toEqual(expect.arrayContaining(["add-learner", "promote", "remove", "replace"]));
    }
    expect(generateSchedule(Prng.fromSeed(1), { nodes, durationMs: 30_000, profile: "none" })).toEqual([]);
  });

  it("validates the membership faults, naming the field", () => {
    const nodes = ["n1", "n2", "n3"];
    expect(() => validateSchedule([{ atMs: 1, kind: "add-learner", node: "n2" }], { nodes })).toThrow(
      /schedule\[0\]\.node: a joining node must be a new id/,
    );
    expect(() => validateSchedule([{ atMs: 1, kind: "replace", node: "n1", by: "x1" }], { nodes })).toThrow(
      /schedule\[0\]\.by: a joining node/,
    );
    expect(() => validateSchedule([{ atMs: 1, kind: "promote", node: "n4" }], { nodes })).toThrow(/"n4" is not a node/);
    // A node that joins may be named by any later fault.
    const schedule = validateSchedule(
      [
        { atMs: 5, kind: "crash", node: "n4" },
        { atMs: 1, kind: "replace", node: "n1", by: "n4" },
      ],
      { nodes },
    );
    expect(schedule.map((fault) => fault.kind)).toEqual(["replace", "crash"]);
  });
});

describe("raft-sim --sessions", () => {
  it("accepts on or off and rejects anything else as bad usage", async () => {
    let stderr = "";
    const io: CliIo = {
      stdout: () => {},
      stderr: (text) => {
        stderr += text;
      },
      stderrIsTty: false,
      wallMs: () => 0,
      readFile: () => "",
      writeFile: () => {},
    };
    expect(await main(["run", "--sessions", "maybe"], io)).toBe(EXIT_USAGE);
    expect(stderr).toMatch(/--sessions must be on or off, got "maybe"/);
  });
});
