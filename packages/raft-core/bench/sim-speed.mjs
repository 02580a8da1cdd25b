// Simulator speed: simulated time per wall-clock second and events per second, for a 5-node
// cluster with faults, a 100 ops/s workload and per-instant safety checks; and for an idle cluster.
import { runSimulation } from "../dist/sim/index.js";

const SCENARIOS = [
  { name: "5 nodes, standard faults, 100 ops/s", options: { nodes: 5, ticks: 3000, faults: "standard", rate: 100 } },
  { name: "5 nodes, idle (no faults, no load)", options: { nodes: 5, ticks: 3000, faults: "none", rate: 0 } },
];

export async function runSimulatorBench({ repeats }) {
  const out = [];
  for (const scenario of SCENARIOS) {
    const speedups = [];
    const eventRates = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      const result = await runSimulation({ seed: 1000 + r, ...scenario.options });
      const wallMs = performance.now() - t0;
      if (!result.ok)
        throw new Error(`simulator bench seed ${1000 + r} failed: ${JSON.stringify(result.violations[0])}`);
      speedups.push(Math.round(result.stats.virtualMs / wallMs));
      eventRates.push(Math.round((result.stats.events * 1000) / wallMs));
      process.stderr.write(`  ${scenario.name} run ${r + 1}/${repeats}: ${speedups.at(-1)}x real time\n`);
    }
    const mid = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    out.push({ name: scenario.name, speedups, medianSpeedup: mid(speedups), medianEventsPerSecond: mid(eventRates) });
  }
  return out;
}
