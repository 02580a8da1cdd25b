import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Prng } from "../../src/sim/prng.js";
import { SafetyChecker } from "../../src/sim/safety-checker.js";
import { SimCluster } from "../../src/sim/sim-cluster.js";
import { SimNetwork } from "../../src/sim/sim-network.js";
import { runSimulation } from "../../src/sim/simulation.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";

const TICK_MS = 10;
const ELECTION_TICKS = 30;
const HEARTBEAT_TICKS = 5;
const ELECTION_MS = TICK_MS * ELECTION_TICKS;

/**
 * Virtual ms from crashing a stable leader until a majority follows a new one, in a 3-node
 * cluster whose network does or does not report reset connections.
 */
async function electionAfterCrash(seed: number, connectionResets: boolean): Promise<number> {
  const root = Prng.fromSeed(seed);
  const clock = new VirtualClock({ permuteWith: root.fork("scheduler") });
  const network = new SimNetwork(clock, root.fork("network"), { reportUnreachable: connectionResets });
  const checker = new SafetyChecker();
  const cluster = new SimCluster({
    clock,
    prng: root,
    network,
    checker,
    nodes: 3,
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: HEARTBEAT_TICKS,
  });
  const hooks = { onInstant: () => cluster.observe() };
  await cluster.startAll();
  await clock.runWhile(() => cluster.agreedLeader() === "", 10_000, hooks);
  // Crash at a random point of a heartbeat interval, as the Raft paper's §9.3 measurement did.
  await clock.runFor(500 + root.fork("crash-time").nextInt(TICK_MS * HEARTBEAT_TICKS), hooks);
  const leader = cluster.agreedLeader();
  expect(leader).not.toBe("");
  const oldTerm = cluster.lastStatus(leader)?.term ?? 0;
  const crashedAt = clock.now();
  cluster.crash(leader);
  // A new leader that a majority of the whole cluster (itself included) follows.
  const newLeaderKnown = () =>
    cluster.ids.some((id) => {
      const status = cluster.lastStatus(id);
      if (id === leader || status?.role !== "leader" || status.term <= oldTerm) return false;
      const following = cluster.ids.filter((other) => {
        const seen = cluster.lastStatus(other);
        return other !== leader && seen?.leader === id && seen.term === status.term;
      });
      return following.length >= 2;
    });
  const elected = await clock.runWhile(() => !newLeaderKnown(), crashedAt + 10_000, hooks);
  expect(elected).toBe(true);
  expect(checker.violations()).toEqual([]);
  return clock.now() - crashedAt;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

describe("connection resets tell followers their leader is gone (RaftCore.reportUnreachable)", () => {
  it("a crashed leader is replaced within one election timeout instead of after it", async () => {
    const seeds = Array.from({ length: 15 }, (_, i) => i + 1);
    const withResets: number[] = [];
    const without: number[] = [];
    for (const seed of seeds) {
      withResets.push(await electionAfterCrash(seed, true));
      without.push(await electionAfterCrash(seed, false));
    }
    // Without the hint no follower may campaign before its randomized timeout, [T, 2T) after
    // the last heartbeat, which was at most a heartbeat interval before the crash.
    expect(Math.min(...without)).toBeGreaterThanOrEqual(ELECTION_MS - TICK_MS * HEARTBEAT_TICKS);
    expect(median(withResets)).toBeLessThan(ELECTION_MS / 2);
    expect(Math.max(...withResets)).toBeLessThan(ELECTION_MS + 100);
  }, 60_000);

  fcTest.prop([fc.integer({ min: 1, max: 1_000_000 })], { numRuns: 4 })(
    "safety, linearizability and liveness hold under standard faults with resets reported (seed %i)",
    async (seed) => {
      const result = await runSimulation({ seed, nodes: 3, ticks: 1_200, faults: "standard", connectionResets: true });
      expect(result.violations).toEqual([]);
      expect(result.ok).toBe(true);
    },
    120_000,
  );
});
