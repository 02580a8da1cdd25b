import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Fault } from "../../src/sim/fault-schedule.js";
import { faultScheduleArbitrary } from "../../src/sim/fault-schedule-arbitrary.js";
import { type Scenario, scenarioToJson } from "../../src/sim/scenario-file.js";
import { clusterNodeIds, DEFAULT_SIM_TICK_MS } from "../../src/sim/sim-cluster.js";
import { runSimulation, type SimulationResult } from "../../src/sim/simulation.js";

/** Each property run: a 5-node cluster for 2.5 s of faults (plus the convergence phase). */
const NODES = 5;
const TICKS = 250;
const NUM_RUNS = 15;
/**
 * Snapshots and compaction all the time: every node snapshots every 10 applied entries (about ten
 * times a second) and keeps 10 behind, so a node that was down for more than about 100 ms is
 * caught up with InstallSnapshot. (With 5, a healthy follower that falls a few entries behind gets
 * a snapshot too, and a proposal it forwarded may end OUTCOME_UNKNOWN after the faults stopped.)
 */
const SNAPSHOT_EVERY_ENTRIES = 10;
const SNAPSHOT_TRAILING_ENTRIES = 10;
/** Fixed so CI explores the same schedules every time; set SIM_PROPERTY_SEED to explore others. */
const PROPERTY_SEED = Number(process.env.SIM_PROPERTY_SEED ?? 20_240_601);
const SHRINK_TIME_LIMIT_MS = 240_000;
const failuresDir = fileURLToPath(new URL("../../.sim-failures/", import.meta.url));

/**
 * Writes the failing scenario where `raft-sim run --schedule FILE` replays it. fast-check calls the
 * property again for every shrinking step, so the file ends up holding the smallest failure found.
 */
function recordFailure(name: string, scenario: Scenario, result: SimulationResult): string {
  mkdirSync(failuresDir, { recursive: true });
  const path = `${failuresDir}${name}.json`;
  writeFileSync(path, scenarioToJson(scenario));
  writeFileSync(`${failuresDir}${name}.violations.json`, `${JSON.stringify(result.violations, null, 2)}\n`);
  return path;
}

describe("fault schedules generated and shrunk by fast-check (torn writes and bit flips included, snapshots on)", () => {
  it(`every run passes every check (${NUM_RUNS} schedules, ${NODES} nodes, ${TICKS} ticks each)`, async () => {
    const nodes = clusterNodeIds(NODES);
    let lastFailurePath = "";
    const totals = { snapshotsSaved: 0, snapshotsInstalled: 0, tornWrites: 0, bitFlips: 0, halted: 0 };
    const property = fc.asyncProperty(
      fc.integer({ min: 1, max: 1_000_000 }),
      faultScheduleArbitrary(nodes, TICKS * DEFAULT_SIM_TICK_MS),
      async (seed: number, schedule: Fault[]) => {
        const result = await runSimulation({
          seed,
          nodes: NODES,
          ticks: TICKS,
          schedule,
          snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES,
          snapshotTrailingEntries: SNAPSHOT_TRAILING_ENTRIES,
        });
        totals.snapshotsSaved += result.stats.snapshotsSaved;
        totals.snapshotsInstalled += result.stats.snapshotsInstalled;
        totals.tornWrites += result.stats.tornWrites;
        totals.bitFlips += result.stats.bitFlips;
        totals.halted += result.halted.length;
        if (!result.ok) {
          lastFailurePath = recordFailure(
            "fault-schedule-property",
            {
              seed,
              nodes: NODES,
              ticks: TICKS,
              snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES,
              snapshotTrailingEntries: SNAPSHOT_TRAILING_ENTRIES,
              schedule,
            },
            result,
          );
        }
        return result.ok;
      },
    );
    // Shrinking a failure re-runs simulations; bound it so a failing CI run still ends.
    const details = await fc.check(property, {
      numRuns: NUM_RUNS,
      seed: PROPERTY_SEED,
      interruptAfterTimeLimit: SHRINK_TIME_LIMIT_MS,
      markInterruptAsFailure: false,
    });
    expect(
      details.failed,
      details.failed
        ? `a fault schedule broke a check; the shrunk scenario is in ${lastFailurePath}.\n` +
            `Replay it with: raft-sim run --schedule ${lastFailurePath}\n` +
            `(fast-check seed ${PROPERTY_SEED}, counterexample ${JSON.stringify(details.counterexample)})`
        : "",
    ).toBe(false);
    expect(details.numRuns).toBe(NUM_RUNS);
    // The runs exercised what they are meant to: snapshots taken and installed, torn writes, and
    // bit flips that halted their nodes.
    expect(totals.snapshotsSaved).toBeGreaterThan(NUM_RUNS * 10);
    expect(totals.snapshotsInstalled).toBeGreaterThan(0);
    expect(totals.tornWrites).toBeGreaterThan(0);
    expect(totals.bitFlips).toBeGreaterThan(0);
    expect(totals.halted).toBeGreaterThan(0);
  }, 300_000);
});
