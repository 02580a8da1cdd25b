// Issue 3's durability benchmark: an in-process 3-node cluster of real RaftServers, each on its
// own synced LevelStorage in a temp folder (all on the same disk), no network; 256-byte commands
// proposed by 1, 64 and 256 closed-loop proposers. Measures committed entries/s, commit latency,
// entries per fsync (group commit), event-loop delay and unplanned elections, next to the raw
// rate of 4 KiB append + fdatasync on the same disk.

import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { CryptoRandom, RaftServer, SystemClock } from "../dist/index.js";
import { LevelStorage } from "../dist/level.js";
import { InProcessNetwork } from "./in-process-network.mjs";
import { median, percentile, round } from "./stats.mjs";

export const COMMAND_BYTES = 256;
const RAW_APPEND_BYTES = 4096;
/** Targets from issue 3, at 256 proposers. */
export const TARGET_ENTRIES_PER_FSYNC = 50;
export const TARGET_COMMITTED_PER_SECOND = 20_000;
const TARGET_SOURCE = "Ongaro's thesis: LogCabin, about 19,500 1 KB writes/s on 3 servers (as cited in issue 3)";
const PROPOSE_TIMEOUT_MS = 10_000;
const LEADER_WAIT_MS = 5_000;
const NODE_IDS = ["n1", "n2", "n3"];
const CLUSTER_ID = "bench-durability";

/** A counter: each normal entry adds one. O(1) per entry. */
class CounterStateMachine {
  applied = 0;
  count = 0;
  apply(entries) {
    const out = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].type === "normal") this.count++;
      out[i] = this.count;
    }
    this.applied = entries[entries.length - 1].index;
    return out;
  }
  appliedIndex() {
    return this.applied;
  }
}

/** Rate of `streams` parallel loops of 4 KiB append + fdatasync, each on its own file in `folder`. */
export async function measureRawFsync(folder, durationMs, streams = 1) {
  const block = new Uint8Array(RAW_APPEND_BYTES).fill(7);
  const handles = [];
  for (let s = 0; s < streams; s++) handles.push(await open(join(folder, `raw-fsync-${s}.log`), "a"));
  let syncs = 0;
  const deadline = performance.now() + durationMs;
  const t0 = performance.now();
  try {
    await Promise.all(
      handles.map(async (handle) => {
        while (performance.now() < deadline) {
          await handle.write(block, 0, block.length);
          await handle.datasync();
          syncs++;
        }
      }),
    );
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
  return (syncs * 1000) / (performance.now() - t0);
}

async function startCluster(folder) {
  const network = new InProcessNetwork();
  const clock = new SystemClock();
  const nodes = [];
  for (const id of NODE_IDS) {
    const storage = await LevelStorage.open(join(folder, id), { clusterId: CLUSTER_ID, nodeId: id });
    const sm = new CounterStateMachine();
    const server = new RaftServer({
      id,
      clusterId: CLUSTER_ID,
      voters: NODE_IDS,
      clock,
      random: new CryptoRandom(),
      storage,
      transport: network.endpoint(id),
      stateMachine: sm,
      maxPendingProposals: 100_000,
    });
    nodes.push({ id, server, sm, storage });
  }
  await Promise.all(nodes.map((n) => n.server.start()));
  nodes[0].server.campaign();
  const deadline = performance.now() + LEADER_WAIT_MS;
  while (nodes[0].server.status().role !== "leader" && performance.now() < deadline) await sleep(5);
  if (nodes[0].server.status().role !== "leader") throw new Error("durability bench: n1 did not become leader");
  return nodes;
}

/** What the run needs at the start and end of the measured window. */
function sample(nodes) {
  return {
    atMs: performance.now(),
    applied: nodes.map((n) => n.sm.count),
    stats: nodes.map((n) => n.storage.stats()),
    terms: nodes.map((n) => n.server.status().term),
  };
}

/**
 * One level: a fresh cluster, `concurrency` closed-loop proposers, a warm-up, then `durationMs`
 * measured. Latencies count the calls that completed inside the window.
 */
export async function measureLevel(folder, concurrency, durationMs, warmUpMs) {
  const nodes = await startCluster(folder);
  const leader = nodes[0].server;
  const command = new Uint8Array(COMMAND_BYTES).fill(1);
  const latencies = [];
  let measuring = false;
  let stop = false;
  let failures = 0;
  let firstFailure;
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        await leader.propose(command, { timeoutMs: PROPOSE_TIMEOUT_MS });
        if (measuring) latencies.push(performance.now() - t0);
      } catch (error) {
        failures++;
        firstFailure ??= error;
        if (!stop) await sleep(1);
      }
    }
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const workers = Array.from({ length: concurrency }, worker);
  const termsAtStart = nodes.map((n) => n.server.status().term);
  await sleep(warmUpMs);
  const before = sample(nodes);
  measuring = true;
  delay.enable();
  await sleep(durationMs);
  delay.disable();
  measuring = false;
  const after = sample(nodes);
  stop = true;
  await Promise.allSettled(workers);
  const leaderAtEnd = leader.status().role === "leader";
  await Promise.all(nodes.map((n) => n.server.stop()));
  const seconds = (after.atMs - before.atMs) / 1000;
  const perNode = nodes.map((_, i) => ({
    applied: after.applied[i] - before.applied[i],
    batches: after.stats[i].batches - before.stats[i].batches,
    entries: after.stats[i].acknowledgedEntries - before.stats[i].acknowledgedEntries,
  }));
  const followerEntries = perNode[1].entries + perNode[2].entries;
  const followerBatches = perNode[1].batches + perNode[2].batches;
  return {
    concurrency,
    committedPerSecond: perNode[0].applied / seconds,
    appliedOnAllPerSecond: Math.min(...perNode.map((n) => n.applied)) / seconds,
    p50LatencyMs: percentile(latencies, 50),
    p99LatencyMs: percentile(latencies, 99),
    leaderEntriesPerFsync: perNode[0].entries / Math.max(1, perNode[0].batches),
    followerEntriesPerFsync: followerEntries / Math.max(1, followerBatches),
    fsyncsPerSecond: perNode.reduce((sum, n) => sum + n.batches, 0) / seconds,
    eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
    elections: unplannedElections(termsAtStart, after.terms, leaderAtEnd),
    failedProposals: failures,
    firstFailure: firstFailure === undefined ? undefined : String(firstFailure.message ?? firstFailure),
  };
}

/** The raw append + fdatasync rates with 1 and with 3 parallel streams. */
async function measureRawRates(folder, durationMs) {
  const oneStream = Math.round(await measureRawFsync(folder, durationMs, 1));
  const threeStreams = Math.round(await measureRawFsync(folder, durationMs, 3));
  process.stderr.write(`  raw 4 KiB append + fdatasync: ${oneStream}/s (1 stream), ${threeStreams}/s (3 streams)\n`);
  return { oneStream, threeStreams };
}

/**
 * Elections after n1 won the first one: every term increase is one (PreVote keeps failed
 * candidacies from raising terms); a leader that lost its role without one counts too.
 */
function unplannedElections(termsBefore, termsAfter, leaderAtEnd) {
  const termIncrease = Math.max(...termsAfter.map((term, i) => term - termsBefore[i]));
  return termIncrease > 0 ? termIncrease : leaderAtEnd ? 0 : 1;
}

/**
 * The whole section: the raw fsync rates, then each concurrency level `repeats` times (fresh
 * cluster each time); medians per level.
 */
export async function runDurabilityBench({ repeats, durationMs, warmUpMs, rawFsyncMs, concurrencies }) {
  const folder = await mkdtemp(join(tmpdir(), "raft-bench-durability-"));
  try {
    const rawBefore = await measureRawRates(folder, rawFsyncMs);
    const levels = [];
    for (const concurrency of concurrencies) {
      const runs = [];
      for (let r = 0; r < repeats; r++) {
        const runFolder = join(folder, `c${concurrency}-r${r}`);
        const run = await measureLevel(runFolder, concurrency, durationMs, warmUpMs);
        await rm(runFolder, { recursive: true, force: true });
        runs.push(run);
        process.stderr.write(
          `  durability c=${concurrency} run ${r + 1}/${repeats}: ${Math.round(run.committedPerSecond)}/s, ${round(run.leaderEntriesPerFsync)} entries/fsync, p99 ${round(run.p99LatencyMs)} ms${run.elections > 0 ? `, ${run.elections} ELECTION(S)` : ""}\n`,
        );
      }
      levels.push(medianLevel(concurrency, runs));
    }
    // Measured again at the end: on a shared disk the rate drifts, and the spread shows by how much.
    const rawAfter = await measureRawRates(folder, rawFsyncMs);
    return {
      rawFsyncPerSecond: Math.round(median([rawBefore.oneStream, rawAfter.oneStream])),
      rawFsyncPerSecond3Streams: Math.round(median([rawBefore.threeStreams, rawAfter.threeStreams])),
      rawBefore,
      rawAfter,
      levels,
    };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** Medians of each figure over the runs of one level; elections and failures are summed. */
function medianLevel(concurrency, runs) {
  const mid = (key, digits = 1) => round(median(runs.map((r) => r[key])), digits);
  return {
    concurrency,
    runs: runs.length,
    committedPerSecond: mid("committedPerSecond", 0),
    committedPerSecondRuns: runs.map((r) => Math.round(r.committedPerSecond)),
    appliedOnAllPerSecond: mid("appliedOnAllPerSecond", 0),
    p50LatencyMs: mid("p50LatencyMs", 2),
    p99LatencyMs: mid("p99LatencyMs", 2),
    leaderEntriesPerFsync: mid("leaderEntriesPerFsync"),
    followerEntriesPerFsync: mid("followerEntriesPerFsync"),
    fsyncsPerSecond: mid("fsyncsPerSecond", 0),
    eventLoopDelayP99Ms: mid("eventLoopDelayP99Ms", 2),
    elections: runs.reduce((s, r) => s + r.elections, 0),
    failedProposals: runs.reduce((s, r) => s + r.failedProposals, 0),
    firstFailure: runs.find((r) => r.firstFailure !== undefined)?.firstFailure,
  };
}

/** The printed report, with the targets at the highest level. */
export function durabilityReportLines(result) {
  const lines = [];
  lines.push(
    "Durability: in-process 3-node cluster, LevelStorage on disk (synced), 256-byte commands, closed-loop proposers:",
  );
  lines.push(
    `  raw 4 KiB append + fdatasync on the same disk: ${result.rawFsyncPerSecond}/s (1 stream), ${result.rawFsyncPerSecond3Streams}/s total (3 parallel streams, as the 3 nodes do); median of before (${result.rawBefore.oneStream}, ${result.rawBefore.threeStreams}) and after (${result.rawAfter.oneStream}, ${result.rawAfter.threeStreams})`,
  );
  lines.push(
    "  proposers  committed/s  applied-on-all/s  p50 ms   p99 ms  entries/fsync (leader, followers)  fsyncs/s (3 nodes)  loop p99 ms  elections  failed",
  );
  for (const l of result.levels) {
    lines.push(
      `  ${String(l.concurrency).padStart(9)}  ${String(l.committedPerSecond).padStart(11)}  ${String(l.appliedOnAllPerSecond).padStart(16)}  ${String(l.p50LatencyMs).padStart(6)}  ${String(l.p99LatencyMs).padStart(7)}  ${`${l.leaderEntriesPerFsync}, ${l.followerEntriesPerFsync}`.padStart(32)}  ${String(l.fsyncsPerSecond).padStart(18)}  ${String(l.eventLoopDelayP99Ms).padStart(11)}  ${String(l.elections).padStart(9)}  ${String(l.failedProposals).padStart(6)}`,
    );
  }
  const top = result.levels.at(-1);
  if (top !== undefined) {
    const verdict = (ok) => (ok ? "met" : "NOT MET");
    lines.push(`  targets at ${top.concurrency} proposers (${TARGET_SOURCE}):`);
    lines.push(
      `    entries per fsync  >= ${TARGET_ENTRIES_PER_FSYNC}: ${top.leaderEntriesPerFsync} on the leader, ${verdict(top.leaderEntriesPerFsync >= TARGET_ENTRIES_PER_FSYNC)}`,
    );
    lines.push(
      `    committed entries/s >= ${TARGET_COMMITTED_PER_SECOND}: ${top.committedPerSecond}, ${verdict(top.committedPerSecond >= TARGET_COMMITTED_PER_SECOND)}`,
    );
  }
  for (const l of result.levels) {
    if (l.elections > 0) {
      lines.push(
        `  !!! FAILED RUN: ${l.elections} unplanned election(s) at ${l.concurrency} proposers: the figures of that level are not valid`,
      );
    }
    if (l.failedProposals > 0) {
      lines.push(
        `  !!! ${l.failedProposals} proposal(s) failed at ${l.concurrency} proposers (first: ${l.firstFailure})`,
      );
    }
  }
  return lines;
}

/** True when the run had no unplanned election (the bench fails otherwise). */
export function durabilityRunValid(result) {
  return result.levels.every((l) => l.elections === 0);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
