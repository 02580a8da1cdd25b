import { describe, expect, it } from "vitest";
import { NotLeaderError, OutcomeUnknownError, ReadFailedError, StoppedError } from "../../src/runtime/errors.js";
import { RequestCancelledError } from "../../src/runtime/request-cancelled-error.js";
import type { Fault } from "../../src/sim/fault-schedule.js";
import { encodeKvCommand, putCommand } from "../../src/sim/kv-command.js";
import { NodeClock } from "../../src/sim/node-clock.js";
import { Prng } from "../../src/sim/prng.js";
import { SafetyChecker } from "../../src/sim/safety-checker.js";
import { SimCluster } from "../../src/sim/sim-cluster.js";
import { SimNetwork } from "../../src/sim/sim-network.js";
import { runSimulation, runSimulationDetailed, type SimulationResult } from "../../src/sim/simulation.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { classifyError } from "../../src/sim/workload.js";

/** The CI budget: 12 seeds × 3.5 s of faults, 5 nodes, standard faults. */
const BUDGET_SEEDS = Array.from({ length: 12 }, (_, i) => 1_000 + i);
const BUDGET_TICKS = 350;

function explain(result: SimulationResult): string {
  return `seed ${result.seed}: ${JSON.stringify(result.violations, null, 2)}`;
}

describe("runSimulation under standard faults (safety after every instant, linearizability, convergence)", () => {
  it.each(BUDGET_SEEDS)("seed %i passes every check", async (seed) => {
    const result = await runSimulation({ seed, nodes: 5, ticks: BUDGET_TICKS, faults: "standard" });
    expect(result.ok, explain(result)).toBe(true);
    expect(result.violations).toEqual([]);
    // The run did something worth checking: faults happened and operations completed.
    expect(result.stats.faultsApplied).toBeGreaterThan(0);
    expect(result.stats.ops.ok).toBeGreaterThan(100);
    expect(result.linearizability.verdict).toBe("ok");
    expect(result.convergence.identical).toBe(true);
  });
});

describe("determinism", () => {
  it("the same seed and options give a byte-identical result and trace hash; another seed does not", async () => {
    const options = { seed: 77, nodes: 5, ticks: 300, faults: "heavy" } as const;
    const first = await runSimulation(options);
    const second = await runSimulation(options);
    expect(second.traceHash).toBe(first.traceHash);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    const other = await runSimulation({ ...options, seed: 78 });
    expect(other.traceHash).not.toBe(first.traceHash);
  });

  it("the trace lines are the same on a replay, and keeping them does not change the run", async () => {
    const options = { seed: 5, nodes: 3, ticks: 200, faults: "standard" } as const;
    const withLines = await runSimulationDetailed({ ...options, keepTraceLines: true });
    const again = await runSimulationDetailed({ ...options, keepTraceLines: true });
    const without = await runSimulation(options);
    expect(withLines.traceLines).toEqual(again.traceLines);
    expect((withLines.traceLines ?? []).length).toBe(withLines.result.stats.traceRecords);
    expect(JSON.stringify(without)).toBe(JSON.stringify(withLines.result));
  });

  it("puts no wall-clock figure in the result", async () => {
    const result = await runSimulation({ seed: 9, nodes: 3, ticks: 100, faults: "none" });
    expect(Object.keys(result.stats).sort()).toEqual(
      [
        "commits",
        "crashes",
        "elections",
        "events",
        "faultsApplied",
        "messages",
        "ops",
        "restarts",
        "safetyPhaseMs",
        "traceRecords",
        "virtualMs",
      ].sort(),
    );
  });
});

describe("scenarios", () => {
  it("a fault-free run commits operations and ends with identical replicas", async () => {
    const result = await runSimulation({ seed: 3, nodes: 5, ticks: 300, faults: "none" });
    expect(result.ok, explain(result)).toBe(true);
    expect(result.stats.faultsApplied).toBe(0);
    expect(result.stats.elections).toBe(1);
    expect(result.stats.commits).toBeGreaterThan(200);
    expect(result.stats.ops.indeterminate).toBe(0);
    const digests = Object.values(result.convergence.digests);
    expect(digests).toHaveLength(5);
    expect(new Set(digests).size).toBe(1);
    expect(result.convergence.appliedIndex).toBe(result.stats.commits);
    expect(result.liveness.opsAfterHeal.issued).toBeGreaterThan(100);
    expect(result.liveness.opsAfterHeal.ok).toBe(result.liveness.opsAfterHeal.issued);
  });

  it("recovers from a whole-cluster crash and restart (unsynced writes lost everywhere)", async () => {
    const schedule: Fault[] = [
      { atMs: 1_500, kind: "crash-all" },
      { atMs: 1_800, kind: "restart-all" },
      { atMs: 2_600, kind: "crash-all" },
      { atMs: 2_601, kind: "restart-all" },
    ];
    const result = await runSimulation({ seed: 11, nodes: 5, ticks: 350, schedule });
    expect(result.ok, explain(result)).toBe(true);
    expect(result.stats.crashes).toBe(10);
    expect(result.stats.restarts).toBe(10);
    expect(result.stats.elections).toBeGreaterThanOrEqual(3);
    expect(result.convergence.identical).toBe(true);
    // Operations pending at the crashes could not learn their outcome.
    expect(result.stats.ops.indeterminate).toBeGreaterThan(0);
  });

  it("fires a crash-during-write between a write and its sync", async () => {
    const schedule: Fault[] = [
      { atMs: 1_000, kind: "crash-during-write", node: "n2" },
      { atMs: 1_000, kind: "crash-during-write", node: "n4" },
      { atMs: 1_600, kind: "restart", node: "n2" },
      { atMs: 1_600, kind: "restart", node: "n4" },
    ];
    const run = await runSimulationDetailed({ seed: 4, nodes: 5, ticks: 250, schedule, keepTraceLines: true });
    expect(run.result.ok, explain(run.result)).toBe(true);
    const fired = (run.traceLines ?? []).filter((line) => line.includes("crash-during-write fired"));
    expect(fired).toHaveLength(2);
    // At least one write was in flight when each crash struck.
    for (const line of fired) expect(line).toMatch(/\(([1-9]\d*) in flight\)/);
    expect(run.result.stats.crashes).toBe(2);
  });

  it("survives partitions, one-way cuts, loss and duplication", async () => {
    const schedule: Fault[] = [
      {
        atMs: 500,
        kind: "partition",
        groups: [
          ["n1", "n2"],
          ["n3", "n4", "n5"],
        ],
      },
      { atMs: 1_200, kind: "heal" },
      { atMs: 1_300, kind: "cut", from: "n1", to: "n2" },
      { atMs: 1_300, kind: "cut", from: "n3", to: "n1" },
      { atMs: 1_300, kind: "loss", perMillion: 200_000 },
      { atMs: 1_300, kind: "duplicate", perMillion: 200_000 },
      { atMs: 2_200, kind: "isolate", node: "n5" },
    ];
    const result = await runSimulation({ seed: 21, nodes: 5, ticks: 300, schedule });
    expect(result.ok, explain(result)).toBe(true);
    expect(result.stats.messages.dropped.partition).toBeGreaterThan(0);
    expect(result.stats.messages.dropped.loss).toBeGreaterThan(0);
    expect(result.stats.messages.duplicated).toBeGreaterThan(0);
  });

  it("catches a follower up through snapshots when compaction is on", async () => {
    const schedule: Fault[] = [
      { atMs: 300, kind: "crash", node: "n3" },
      { atMs: 2_500, kind: "restart", node: "n3" },
    ];
    const result = await runSimulation({ seed: 8, nodes: 3, ticks: 300, schedule, snapshotEveryEntries: 40 });
    expect(result.ok, explain(result)).toBe(true);
    expect(result.convergence.identical).toBe(true);
  });

  it("reports a liveness violation when operations cannot succeed after the faults stop", async () => {
    // A 1 ms timeout is shorter than any round trip: every operation times out (OUTCOME_UNKNOWN or
    // READ_FAILED), so the convergence phase's "every operation succeeds" must fail.
    const result = await runSimulation({ seed: 2, nodes: 3, ticks: 100, faults: "none", opTimeoutMs: 1 });
    expect(result.ok).toBe(false);
    const liveness = result.violations.filter((v) => v.kind === "liveness");
    expect(liveness.length).toBeGreaterThan(0);
    expect(liveness[0]?.detail).toMatch(/operations started after the leader was agreed did not succeed/);
    expect(result.liveness.opsAfterHeal.notOk).toBeGreaterThan(0);
  });
});

describe("SimCluster crashes", () => {
  async function cluster(nodes: number) {
    const clock = new VirtualClock();
    const root = Prng.fromSeed(1);
    const checker = new SafetyChecker();
    const network = new SimNetwork(clock, root.fork("network"));
    const sim = new SimCluster({ clock, prng: root, network, checker, nodes });
    await sim.startAll();
    const hooks = { onInstant: () => sim.observe() };
    /** Runs virtual time until `call` settles (awaiting it directly would wait for a clock nobody runs). */
    const settle = async (call: Promise<unknown>) => {
      let done = false;
      call.then(
        () => {
          done = true;
        },
        () => {
          done = true;
        },
      );
      await clock.runWhile(() => !done, clock.now() + 2_000, hooks);
      return call;
    };
    return { clock, sim, checker, hooks, settle };
  }

  it("a crashed server never runs again; the restarted node re-applies its log from index 1", async () => {
    const { clock, sim, checker, hooks, settle } = await cluster(3);
    await clock.runWhile(() => sim.agreedLeader() === "", 5_000, hooks);
    const leader = sim.agreedLeader();
    expect(leader).not.toBe("");
    const follower = sim.ids.find((id) => id !== leader) as string;
    await settle(sim.propose(leader, encodeKvCommand(putCommand("k", "v")), { timeoutMs: 1_000 }));
    await clock.runFor(200, hooks);
    const oldStateMachine = sim.stateMachine(follower);
    const appliedBefore = oldStateMachine?.appliedIndex() ?? 0;
    expect(appliedBefore).toBeGreaterThan(0);

    expect(sim.crash(follower)).toBe(true);
    expect(sim.crash(follower)).toBe(false);
    expect(sim.isDown(follower)).toBe(true);
    await settle(sim.propose(leader, encodeKvCommand(putCommand("k", "w")), { timeoutMs: 1_000 }));
    await clock.runFor(500, hooks);
    // The old incarnation applied nothing after its crash.
    expect(oldStateMachine?.appliedIndex()).toBe(appliedBefore);

    expect(sim.restart(follower)).toBe(true);
    expect(sim.restart(follower)).toBe(false);
    await clock.runFor(500, hooks);
    const fresh = sim.stateMachine(follower);
    expect(fresh).not.toBe(oldStateMachine);
    expect(fresh?.appliedIndex()).toBe(sim.lastStatus(leader)?.commit);
    expect(fresh?.get("k")).toBe("w");
    expect(checker.violations()).toEqual([]);
  });
});

describe("NodeClock", () => {
  it("cancels every pending timer of the node at once and ignores later ones", async () => {
    const shared = new VirtualClock();
    let fired = 0;
    let steps = 0;
    const clock = new NodeClock(shared, () => steps++);
    clock.setTimer(10, () => fired++);
    const cancelled = clock.setTimer(20, () => fired++);
    clock.setTimer(30, () => fired++);
    clock.cancelTimer(cancelled);
    await shared.runUntil(15);
    expect(fired).toBe(1);
    expect(steps).toBe(1);
    expect(clock.pendingCount()).toBe(1);
    expect(clock.halt()).toBe(1);
    clock.setTimer(1, () => fired++);
    await shared.runUntil(100);
    expect(fired).toBe(1);
    expect(shared.pendingCount()).toBe(0);
    expect(clock.isHalted()).toBe(true);
  });
});

describe("classifyError (history outcomes)", () => {
  it.each([
    ["NOT_LEADER", new NotLeaderError("n2"), "fail"],
    ["READ_FAILED", new ReadFailedError("no leader"), "fail"],
    ["a cancellation before the core", new RequestCancelledError("timed out"), "fail"],
    ["OUTCOME_UNKNOWN", new OutcomeUnknownError("timeout"), "indeterminate"],
    ["STOPPED", new StoppedError(), "indeterminate"],
    ["an unknown error", new TypeError("boom"), "indeterminate"],
  ])("%s → %s", (_what, error, outcome) => {
    expect(classifyError(error)).toBe(outcome);
  });
});
