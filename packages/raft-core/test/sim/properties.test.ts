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

describe("fault schedules generated and shrunk by fast-check", () => {
  it(`every run passes every check (${NUM_RUNS} schedules, ${NODES} nodes, ${TICKS} ticks each)`, async () => {
    const nodes = clusterNodeIds(NODES);
    let lastFailurePath = "";
    const property = fc.asyncProperty(
      fc.integer({ min: 1, max: 1_000_000 }),
      faultScheduleArbitrary(nodes, TICKS * DEFAULT_SIM_TICK_MS),
      async (seed: number, schedule: Fault[]) => {
        const result = await runSimulation({ seed, nodes: NODES, ticks: TICKS, schedule });
        if (!result.ok) {
          lastFailurePath = recordFailure(
            "fault-schedule-property",
            { seed, nodes: NODES, ticks: TICKS, schedule },
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
  }, 300_000);
});
