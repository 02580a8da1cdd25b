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

/**
 * The CI budget: 12 seeds × 3.5 s of faults, 5 nodes, standard faults; the odd seeds with snapshots
 * and compaction all the time (every 10 applied entries, 10 kept behind), the even ones without.
 */
const BUDGET_SEEDS = Array.from({ length: 12 }, (_, i) => 1_000 + i);
const BUDGET_TICKS = 350;
const BUDGET_SNAPSHOT_EVERY_ENTRIES = 10;
const BUDGET_SNAPSHOT_TRAILING_ENTRIES = 10;

function explain(result: SimulationResult): string {
  return `seed ${result.seed}: ${JSON.stringify(result.violations, null, 2)}`;
}

describe("runSimulation under standard faults (safety after every instant, linearizability, convergence)", () => {
  it.each(BUDGET_SEEDS)("seed %i passes every check", async (seed) => {
    const snapshots = seed % 2 === 1;
    const result = await runSimulation({
      seed,
      nodes: 5,
      ticks: BUDGET_TICKS,
      faults: "standard",
      snapshotEveryEntries: snapshots ? BUDGET_SNAPSHOT_EVERY_ENTRIES : 0,
      snapshotTrailingEntries: BUDGET_SNAPSHOT_TRAILING_ENTRIES,
    });
    expect(result.ok, explain(result)).toBe(true);
    expect(result.violations).toEqual([]);
    // The run did something worth checking: faults happened and operations completed.
    expect(result.stats.faultsApplied).toBeGreaterThan(0);
    expect(result.stats.ops.ok).toBeGreaterThan(100);
    expect(result.linearizability.verdict).toBe("ok");
    expect(result.convergence.identical).toBe(true);
    if (snapshots) expect(result.stats.snapshotsSaved).toBeGreaterThan(50);
    else expect(result.stats.snapshotsSaved).toBe(0);
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
        "snapshotsSaved",
        "snapshotsInstalled",
        "tornWrites",
        "tornTailsRecovered",
        "bitFlips",
        "sessions",
        "membership",
        "members",
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

  it("a node whose disk takes a bit flip detects it at restart and halts; the others converge without it", async () => {
    const schedule: Fault[] = [
      { atMs: 800, kind: "crash", node: "n3" },
      { atMs: 800, kind: "bit-flip", node: "n3" },
      { atMs: 1_100, kind: "restart", node: "n3" },
      { atMs: 1_200, kind: "restart", node: "n3" },
    ];
    const run = await runSimulationDetailed({ seed: 12, nodes: 5, ticks: 250, schedule, keepTraceLines: true });
    const result = run.result;
    expect(result.ok, explain(result)).toBe(true);
    expect(result.stats.bitFlips).toBe(1);
    expect(result.halted).toHaveLength(1);
    expect(result.halted[0]).toMatchObject({ node: "n3", atMs: 1_100 });
    expect(result.halted[0]?.detail).toMatch(
      /^corruption detected at (index \d+|the hard-state record): storage corruption in n3:disk/,
    );
    // Halted for good: the second restart has no effect, and it is out of the convergence digest.
    const lines = run.traceLines ?? [];
    expect(lines.some((line) => /fault bit-flip n3: (entry \d+|hard-state record) byte \d+ bit \d/.test(line))).toBe(
      true,
    );
    expect(lines.some((line) => line.includes("node n3 halted: corruption detected at"))).toBe(true);
    expect(lines).toContain("1200 fault restart n3 (no effect)");
    expect(Object.keys(result.convergence.digests).sort()).toEqual(["n1", "n2", "n4", "n5"]);
    expect(result.convergence.identical).toBe(true);
  });

  it("tears writes on crash; the restarted nodes discard the torn tails and every check passes", async () => {
    const schedule: Fault[] = [
      { atMs: 700, kind: "torn-write", node: "n1" },
      { atMs: 700, kind: "torn-write", node: "n2" },
      { atMs: 1_300, kind: "restart", node: "n1" },
      { atMs: 1_300, kind: "restart", node: "n2" },
      { atMs: 1_600, kind: "torn-write", node: "n3" },
      { atMs: 1_900, kind: "restart", node: "n3" },
    ];
    const run = await runSimulationDetailed({ seed: 6, nodes: 3, ticks: 250, schedule, keepTraceLines: true });
    expect(run.result.ok, explain(run.result)).toBe(true);
    expect(run.result.stats.tornWrites).toBe(3);
    expect(run.result.stats.tornTailsRecovered).toBe(3);
    expect(run.result.halted).toEqual([]);
    expect(
      (run.traceLines ?? []).filter((line) => /disk: write torn after \d+ of \d+ in flight/.test(line)),
    ).toHaveLength(3);
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
  it("refuses bit flips that would damage a majority of the disks", async () => {
    const { sim, clock, hooks } = await cluster(5);
    await clock.runWhile(() => sim.agreedLeader() === "", 5_000, hooks);
    expect(sim.maxDamagedNodes()).toBe(2);
    expect(sim.flipBit("n1")).toBeDefined();
    expect(sim.flipBit("n2")).toBeDefined();
    expect(sim.flipBit("n3")).toBeUndefined();
    expect(sim.flipBit("n1")).toBeDefined(); // a damaged disk may take more flips
    expect(sim.damagedNodes()).toEqual(["n1", "n2"]);
    expect(sim.disk("n3").flips).toEqual([]);
  });

  it("a leader whose snapshot file is damaged halts when it reads it to catch a follower up (rule 11)", async () => {
    const clock = new VirtualClock();
    const root = Prng.fromSeed(3);
    const checker = new SafetyChecker();
    const network = new SimNetwork(clock, root.fork("network"));
    const sim = new SimCluster({
      clock,
      prng: root,
      network,
      checker,
      nodes: 3,
      snapshotEveryEntries: 5,
      snapshotTrailingEntries: 2,
    });
    await sim.startAll();
    const hooks = { onInstant: () => sim.observe() };
    await clock.runWhile(() => sim.agreedLeader() === "", 5_000, hooks);
    const leader = sim.agreedLeader();
    const [lagging, other] = sim.ids.filter((id) => id !== leader) as [string, string];
    sim.crash(lagging);
    for (let i = 0; i < 30; i++) {
      let done = false;
      void sim.propose(leader, encodeKvCommand(putCommand("k", `v${i}`)), { timeoutMs: 1_000 }).finally(() => {
        done = true;
      });
      await clock.runWhile(() => !done, clock.now() + 2_000, hooks);
    }
    expect(sim.disk(leader).durableState().snapshot?.index ?? 0).toBeGreaterThan(20);
    expect(sim.disk(leader).flipBit("snapshot-block")?.record).toBe("snapshot-block");
    sim.restart(lagging);
    await clock.runWhile(() => !sim.isHalted(leader), clock.now() + 3_000, hooks);
    expect(sim.halts().map((halt) => halt.node)).toEqual([leader]);
    expect(sim.halts()[0]?.detail).toMatch(
      /corruption detected at index \d+: .*snapshot .*block \d+: checksum mismatch/,
    );
    // The two intact nodes elect a leader and the lagging one catches up from that leader's snapshot.
    await clock.runWhile(() => sim.agreedLeader() === "", clock.now() + 5_000, hooks);
    expect([lagging, other]).toContain(sim.agreedLeader());
    await clock.runWhile(() => sim.stateMachine(lagging)?.get("k") !== "v29", clock.now() + 5_000, hooks);
    expect(sim.stateMachine(lagging)?.get("k")).toBe("v29");
    expect(sim.failures()).toEqual([]);
    expect(checker.violations()).toEqual([]);
  });

  it("reports a node that starts on a flipped disk without detecting it (a storage that skips its checksums)", async () => {
    const { sim, clock, hooks } = await cluster(3);
    await clock.runWhile(() => sim.agreedLeader() === "", 5_000, hooks);
    await clock.runFor(200, hooks);
    const disk = sim.disk("n2");
    // A broken storage: load() returns what it believes it holds, never reading the bytes back.
    disk.load = () => Promise.resolve(disk.durableState());
    sim.crash("n2");
    expect(sim.flipBit("n2")).toBeDefined();
    sim.restart("n2");
    await clock.runFor(100, hooks);
    expect(sim.isHalted("n2")).toBe(false);
    expect(sim.failures().map((f) => f.detail)).toEqual([
      "started on a disk with 1 flipped bit(s) without detecting the corruption",
    ]);
  });

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
