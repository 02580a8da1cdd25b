// `pnpm bench` (lms-service part): issue 5's benchmark of replicated LMS writes on three node
// processes over loopback gRPC with synced storage, and, when an `etcd` binary is on PATH, the
// same load generator against a 3-member etcd in the same run, interleaved (ours, etcd, ours,
// etcd...), with ratios ours/etcd. Prints tables, writes JSON to bench-results/, progress on
// stderr. Only medians and ratios from one run mean anything on a shared 2-core machine.
//
// Usage: node bench/run.mjs [--quick] [throughput] [floor] [failover]
//   --quick  CI-sized: 2 s per level, one run each, one kill per system
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, round } from "../../raft-core/bench/stats.mjs";
import { EtcdBenchCluster, findEtcd } from "./etcd-cluster.mjs";
import { grpcFloorLines, runGrpcFloor } from "./grpc-floor.mjs";
import { LmsBenchCluster } from "./lms-cluster.mjs";
import { runClosedLoop, runFailoverTrial } from "./load.mjs";
import { failoverLines, ratioLines, targetChecks, throughputLines } from "./report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes("--quick");

/** About the size of a feedback note; etcd values are the same size. */
const PAYLOAD_BYTES = 256;
const WRITE_CONCURRENCIES = [1, 16, 64, 256];
const READ_CONCURRENCY = 64;
const FAILOVER_CONCURRENCY = 64;
/** Our election timeout (raft-core defaults: 30 ticks of 10 ms, randomized up to twice that) and heartbeat. */
const OUR_ELECTION_MS = 300;
const OUR_HEARTBEAT_MS = 50;

const settings = {
  repeats: quick ? 1 : 3,
  warmUpMs: quick ? 500 : 1_000,
  durationMs: quick ? 2_000 : 5_000,
  kills: quick ? 1 : 5,
  failoverSteadyMs: quick ? 1_000 : 2_000,
  maxOutageMs: 10_000,
};

// floor: a bare grpc-js echo with the same load shape (grpc-floor.mjs), between the other sections.
const SECTIONS = ["throughput", "floor", "failover"];
const requested = args.filter((a) => !a.startsWith("--"));
const unknown = requested.filter((name) => !SECTIONS.includes(name));
if (unknown.length > 0) {
  console.error(`unknown section(s): ${unknown.join(", ")}; sections: ${SECTIONS.join(", ")}`);
  process.exit(2);
}
const chosen = requested.length > 0 ? SECTIONS.filter((name) => requested.includes(name)) : SECTIONS;

function progress(line) {
  process.stderr.write(`${line}\n`);
}

function describeRun(r) {
  const flag = r.elections > 0 ? `  !!! ${r.elections} UNPLANNED ELECTION(S)` : "";
  return `${r.opsPerSecond} ops/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, errors ${r.errors}${flag}`;
}

/** Throughput: every workload level, `repeats` times, each system in turn. */
async function throughputSection(systems) {
  const workloads = [
    ...WRITE_CONCURRENCIES.map((concurrency) => ({ kind: "write", concurrency })),
    { kind: "read", concurrency: READ_CONCURRENCY },
    // The same read without consensus on both systems: what the RPC stack alone allows.
    { kind: "localRead", concurrency: READ_CONCURRENCY },
  ];
  const runs = [];
  for (const workload of workloads) {
    for (let repeat = 1; repeat <= settings.repeats; repeat++) {
      for (const system of systems) {
        const result = await runClosedLoop(system, {
          ...workload,
          warmUpMs: settings.warmUpMs,
          durationMs: settings.durationMs,
          payloadBytes: PAYLOAD_BYTES,
        });
        result.repeat = repeat;
        runs.push(result);
        progress(
          `  [${workload.kind} c=${workload.concurrency} ${system.name} ${repeat}/${settings.repeats}] ${describeRun(result)}`,
        );
      }
    }
  }
  const summary = [];
  for (const workload of workloads) {
    for (const system of systems) {
      const mine = runs.filter(
        (r) => r.system === system.name && r.kind === workload.kind && r.concurrency === workload.concurrency,
      );
      summary.push({
        system: system.name,
        kind: workload.kind,
        concurrency: workload.concurrency,
        opsPerSecond: Math.round(median(mine.map((r) => r.opsPerSecond))),
        p50Ms: round(median(mine.map((r) => r.p50Ms)), 2),
        p99Ms: round(median(mine.map((r) => r.p99Ms)), 2),
        runs: mine.map((r) => r.opsPerSecond),
        errors: mine.reduce((sum, r) => sum + r.errors, 0),
        elections: mine.reduce((sum, r) => sum + r.elections, 0),
        eventLoopP99Ms: round(median(mine.map((r) => Math.max(0, ...Object.values(r.eventLoopP99Ms)))), 1),
        nodeCpuCoresUsed: round(
          median(mine.map((r) => Object.values(r.nodeCpuCoresUsed).reduce((a, b) => a + b, 0))),
          2,
        ),
        benchCpuCoresUsed: round(median(mine.map((r) => r.benchCpuCoresUsed)), 2),
      });
    }
  }
  return { runs, summary };
}

/** Failover: `kills` trials per system, interleaved; then etcd again at our election timeout. */
async function failoverSection(systems, etcdEqualStart) {
  const trials = [];
  const trial = async (system, k) => {
    const result = await runFailoverTrial(system, {
      concurrency: FAILOVER_CONCURRENCY,
      payloadBytes: PAYLOAD_BYTES,
      steadyMs: settings.failoverSteadyMs,
      maxOutageMs: settings.maxOutageMs,
    });
    result.trial = k;
    trials.push(result);
    progress(
      `  [failover ${system.name} ${k}/${settings.kills}] killed ${result.killed} -> leader ${result.newLeader}: probe gap ${result.probeGapMs} ms, load gap ${result.loadGapMs} ms, elections ${result.elections}`,
    );
  };
  for (let k = 1; k <= settings.kills; k++) for (const system of systems) await trial(system, k);
  if (etcdEqualStart !== undefined) {
    const etcdEqual = await etcdEqualStart();
    try {
      for (let k = 1; k <= settings.kills; k++) await trial(etcdEqual, k);
    } finally {
      await etcdEqual.close();
    }
  }
  const names = [...new Set(trials.map((t) => t.system))];
  const summary = names.map((name) => {
    const mine = trials.filter((t) => t.system === name);
    return {
      system: name,
      medianProbeGapMs: round(median(mine.map((t) => t.probeGapMs)), 1),
      medianLoadGapMs: round(median(mine.map((t) => t.loadGapMs)), 1),
      probeGapsMs: mine.map((t) => t.probeGapMs),
      loadGapsMs: mine.map((t) => t.loadGapMs),
    };
  });
  return { trials, summary };
}

const etcd = findEtcd();
const report = {
  cores: availableParallelism(),
  node: process.version,
  etcd: etcd?.version ?? null,
  quick,
  settings: { ...settings, payloadBytes: PAYLOAD_BYTES, failoverConcurrency: FAILOVER_CONCURRENCY },
  sections: chosen,
  date: new Date().toISOString(),
};
progress(
  `lms-service benchmarks (${report.cores} cores, Node ${report.node}, ${settings.repeats} run(s) per level${quick ? ", quick" : ""}): ${chosen.join(", ")}`,
);
if (etcd === undefined) {
  console.log("\netcd comparison SKIPPED: no etcd binary on PATH (Debian: apt-get install etcd-server)");
} else {
  progress(`  etcd ${etcd.version} found: interleaving every run with a 3-member etcd`);
}

const root = await mkdtemp(join(tmpdir(), "lectern-bench-"));
const started = [];
let exitCode = 0;
try {
  const t0 = performance.now();
  const ours = await LmsBenchCluster.start(join(root, "lectern"));
  started.push(ours);
  const systems = [ours];
  if (etcd !== undefined) {
    const etcdDefault = await EtcdBenchCluster.start(join(root, "etcd-defaults"));
    started.push(etcdDefault);
    systems.push(etcdDefault);
  }
  progress(`  [clusters up: ${((performance.now() - t0) / 1000).toFixed(1)} s]`);

  if (chosen.includes("throughput")) {
    const t1 = performance.now();
    report.throughput = await throughputSection(systems);
    progress(`  [throughput: ${((performance.now() - t1) / 1000).toFixed(1)} s]`);
    console.log("");
    console.log(throughputLines(report.throughput.summary, settings).join("\n"));
  }
  if (chosen.includes("floor")) {
    const t1 = performance.now();
    report.floor = await runGrpcFloor({ quick });
    progress(`  [floor: ${((performance.now() - t1) / 1000).toFixed(1)} s]`);
    console.log("");
    console.log(grpcFloorLines(report.floor).join("\n"));
  }
  if (chosen.includes("failover")) {
    const t1 = performance.now();
    const etcdEqualStart =
      etcd === undefined
        ? undefined
        : async () => {
            // Free the cores of the etcd at defaults before starting the one at our timeouts.
            const etcdDefault = systems[1];
            await etcdDefault.close();
            started.splice(started.indexOf(etcdDefault), 1);
            systems.splice(1, 1);
            return EtcdBenchCluster.start(join(root, "etcd-equal"), {
              heartbeatMs: OUR_HEARTBEAT_MS,
              electionMs: OUR_ELECTION_MS,
            });
          };
    report.failover = await failoverSection(systems, etcdEqualStart);
    progress(`  [failover: ${((performance.now() - t1) / 1000).toFixed(1)} s]`);
    console.log("");
    console.log(failoverLines(report.failover.summary, settings, FAILOVER_CONCURRENCY).join("\n"));
  }
  if (etcd !== undefined) {
    report.ratios = ratioLines(report);
    console.log("");
    console.log(report.ratios.lines.join("\n"));
  }
  report.targets = targetChecks(report);
  console.log("");
  console.log(report.targets.lines.join("\n"));
  if (report.targets.unplannedElections > 0) exitCode = 1;
} catch (error) {
  console.error(`\n!!! BENCHMARK FAILED: ${error.stack ?? error}`);
  console.error(`    node logs are kept in ${root}`);
  exitCode = 1;
} finally {
  for (const system of started.reverse()) await system.close().catch(() => {});
}
const out = join(here, "..", "bench-results");
mkdirSync(out, { recursive: true });
const base = requested.length > 0 ? `lms-service-${chosen.join("-")}` : "lms-service";
const file = join(out, `${base}${quick ? "-quick" : ""}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nJSON: ${file}`);
if (exitCode === 0) await rm(root, { recursive: true, force: true });
process.exit(exitCode);
