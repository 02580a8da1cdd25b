// `pnpm bench`: raft-core benchmarks. Prints medians of repeated runs and writes JSON.
// Not part of the test run: these machines are shared and noisy, so only medians and ratios
// measured in one run are meaningful.
//
// Usage: node --expose-gc bench/run.mjs [--quick] [--seeds N] [section...]
//   sections: throughput, simulator, durability, snapshot, elections (default: all, in that order)
//   --quick   a short CI-friendly variant of every section
//   --seeds N seeds per election scenario (default 1,000; 100 with --quick)
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { durabilityReportLines, durabilityRunValid, runDurabilityBench } from "./durability.mjs";
import { electionReportLines, electionRunValid, runElectionBench } from "./elections.mjs";
import { runSimulatorBench } from "./sim-speed.mjs";
import { runSnapshotSizeBench, snapshotReportLines } from "./snapshot-size.mjs";
import { runThroughputBench } from "./throughput.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const repeats = quick ? 1 : 5;
const MIB = 1024 * 1024;

function flagValue(name) {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

const SECTIONS = {
  throughput: async () => {
    const results = await runThroughputBench({
      repeats,
      durationMs: quick ? 1000 : 3000,
      concurrencies: [1, 64, 256],
    });
    console.log("\nIn-process 3-node cluster, in-memory storage, RaftServer.propose() per entry:");
    console.log("  concurrency  median entries/s  runs                         unplanned elections  event-loop p99");
    for (const r of results) {
      console.log(
        `  ${String(r.concurrency).padStart(11)}  ${String(r.medianPerSecond).padStart(16)}  ${r.runs.join(", ").padEnd(28)} ${String(r.unplannedElections).padStart(19)}  ${r.eventLoopDelayP99Ms} ms`,
      );
    }
    return { result: results, valid: true };
  },
  simulator: async () => {
    const results = await runSimulatorBench({ repeats: quick ? 1 : 3 });
    console.log("\nSimulator speed (5 nodes, per-instant safety checks):");
    for (const s of results) {
      console.log(
        `  ${s.name.padEnd(34)} ${String(s.medianSpeedup).padStart(7)}x real time  ${String(s.medianEventsPerSecond).padStart(9)} events/s  (runs: ${s.speedups.join(", ")})`,
      );
    }
    return { result: results, valid: true };
  },
  durability: async () => {
    const result = await runDurabilityBench({
      repeats: quick ? 1 : 3,
      durationMs: quick ? 2000 : 5000,
      warmUpMs: quick ? 500 : 1000,
      rawFsyncMs: quick ? 500 : 2000,
      concurrencies: [1, 64, 256],
    });
    console.log("");
    console.log(durabilityReportLines(result).join("\n"));
    return { result, valid: durabilityRunValid(result) };
  },
  snapshot: async () => {
    const result = await runSnapshotSizeBench({ stateBytes: (quick ? 32 : 100) * MIB });
    console.log("");
    console.log(snapshotReportLines(result).join("\n"));
    return { result, valid: result.error === undefined };
  },
  elections: async () => {
    const seeds = Number(flagValue("--seeds") ?? (quick ? 100 : 1000));
    const result = await runElectionBench({ seeds, paperTimeouts: !quick });
    console.log("");
    console.log(electionReportLines(result).join("\n"));
    return { result, valid: electionRunValid(result) };
  },
};

const seedsValue = flagValue("--seeds");
const requested = args.filter((a) => !a.startsWith("--") && a !== seedsValue);
const unknown = requested.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) {
  console.error(`unknown section(s): ${unknown.join(", ")}; sections: ${Object.keys(SECTIONS).join(", ")}`);
  process.exit(2);
}
const chosen =
  requested.length > 0 ? Object.keys(SECTIONS).filter((name) => requested.includes(name)) : Object.keys(SECTIONS);

const report = {
  cores: availableParallelism(),
  node: process.version,
  repeats,
  quick,
  sections: chosen,
  date: new Date().toISOString(),
};
process.stderr.write(
  `raft-core benchmarks (${report.cores} cores, Node ${report.node}, ${repeats} runs each${quick ? ", quick" : ""}): ${chosen.join(", ")}\n`,
);
const invalid = [];
for (const name of chosen) {
  const t0 = performance.now();
  const { result, valid } = await SECTIONS[name]();
  report[name] = result;
  process.stderr.write(`  [${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s]\n`);
  if (!valid) invalid.push(name);
}
const out = join(here, "..", "bench-results");
mkdirSync(out, { recursive: true });
const file = requested.length > 0 ? `raft-core-${chosen.join("-")}.json` : "raft-core.json";
writeFileSync(join(out, file), `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nJSON: ${join(out, file)}`);
if (invalid.length > 0) {
  console.log(`\n!!! INVALID RUN: ${invalid.join(", ")} (see the !!! lines above)`);
  process.exitCode = 1;
}
