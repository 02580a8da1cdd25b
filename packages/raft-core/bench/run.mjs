// `pnpm bench`: raft-core benchmarks. Prints medians of repeated runs and writes JSON.
// Not part of the test run: these machines are shared and noisy, so only medians and ratios
// measured in one run are meaningful.
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runSimulatorBench } from "./sim-speed.mjs";
import { runThroughputBench } from "./throughput.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const repeats = quick ? 1 : 5;

const report = { cores: availableParallelism(), node: process.version, repeats, date: new Date().toISOString() };

process.stderr.write(`raft-core benchmarks (${report.cores} cores, Node ${report.node}, ${repeats} runs each)\n`);
report.throughput = await runThroughputBench({ repeats, durationMs: quick ? 1000 : 3000, concurrencies: [1, 64, 256] });
report.simulator = await runSimulatorBench({ repeats: quick ? 1 : 3 });

console.log("\nIn-process 3-node cluster, in-memory storage, RaftServer.propose() per entry:");
console.log("  concurrency  median entries/s  runs                         unplanned elections  event-loop p99");
for (const r of report.throughput) {
  console.log(
    `  ${String(r.concurrency).padStart(11)}  ${String(r.medianPerSecond).padStart(16)}  ${r.runs.join(", ").padEnd(28)} ${String(r.unplannedElections).padStart(19)}  ${r.eventLoopDelayP99Ms} ms`,
  );
}
console.log("\nSimulator speed (5 nodes, per-instant safety checks):");
for (const s of report.simulator) {
  console.log(
    `  ${s.name.padEnd(34)} ${String(s.medianSpeedup).padStart(7)}x real time  ${String(s.medianEventsPerSecond).padStart(9)} events/s  (runs: ${s.speedups.join(", ")})`,
  );
}
const out = join(here, "..", "bench-results");
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "raft-core.json"), `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nJSON: ${join(out, "raft-core.json")}`);
