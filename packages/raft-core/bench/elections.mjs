// Election time after a leader crash, and leadership transfer time, in the deterministic simulator
// (virtual time, so the machine's load does not change the figures). Issue 4's benchmark:
// distributions over many seeds at the default timeouts, compared with the Raft paper
// (Ongaro & Ousterhout 2014, §9.3 and Figure 16: 5 servers, 150-300 ms timeouts, the leader
// crashed uniformly within its heartbeat interval; worst case 513 ms over 1,000 trials).
import { DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS, DEFAULT_TICK_MS } from "../dist/index.js";
import {
  DEFAULT_MAX_LATENCY_MS,
  DEFAULT_MAX_SYNC_MS,
  DEFAULT_MIN_LATENCY_MS,
  DEFAULT_MIN_SYNC_MS,
  DEFAULT_SIM_ELECTION_TICKS,
  DEFAULT_SIM_HEARTBEAT_TICKS,
  DEFAULT_SIM_TICK_MS,
  Prng,
  ProgressBar,
  SimCluster,
  SimNetwork,
  VirtualClock,
} from "../dist/sim/index.js";
import { percentile } from "./stats.mjs";

/** A measurement that has not finished after this much virtual time counts as "not finished". */
export const MEASURE_BOUND_MS = 10_000;
/** Virtual time the cluster runs with a stable leader before a transfer or a crash. */
const STABLE_LEADER_MS = 500;
/** The paper's worst case over 1,000 trials with 150-300 ms timeouts (Figure 16). */
export const PAPER_WORST_CASE_MS = 513;
const PAPER_MIN_TIMEOUT_MS = 150;
const HISTOGRAM_BAR_CHARS = 40;
const HISTOGRAM_ROWS = 16;
/** Rows cover the values up to this percentile; the rest share one last row. */
const HISTOGRAM_CLIP_PERCENTILE = 99;

/**
 * The only check the simulator's SafetyChecker would add that matters here (that class is not
 * exported): Election Safety, at most one leader per term (Raft paper, §5.2, Figure 3).
 */
class ElectionSafetyChecker {
  leaderOfTerm = new Map();
  violations = [];
  observe(view, atMs) {
    const status = view.status();
    if (status.role !== "leader") return;
    const known = this.leaderOfTerm.get(status.term);
    if (known === undefined) this.leaderOfTerm.set(status.term, status.id);
    else if (known !== status.id) {
      this.violations.push(`two leaders in term ${status.term}: ${known} and ${status.id} at ${atMs} ms`);
    }
  }
  forget() {}
  observeApplied() {}
}

/**
 * The leader of a term later than `afterTerm` that a majority of the whole cluster (the leader
 * included) reports, as last observed; "" while there is none.
 */
function leaderKnownByMajority(cluster, afterTerm) {
  const majority = (cluster.ids.length >> 1) + 1;
  for (const id of cluster.ids) {
    const status = cluster.lastStatus(id);
    if (status?.role !== "leader" || status.term <= afterTerm) continue;
    let followers = 0;
    for (const other of cluster.ids) {
      const seen = cluster.lastStatus(other);
      if (seen?.leader === id && seen.term === status.term) followers++;
    }
    if (followers >= majority) return id;
  }
  return "";
}

/** Runs until every node agrees on one leader, then a while longer plus a random part of a heartbeat. */
async function settleLeader(run) {
  const { clock, cluster, hooks, choices, timing } = run;
  const agreed = await clock.runWhile(() => cluster.agreedLeader() === "", clock.now() + MEASURE_BOUND_MS, hooks);
  if (!agreed) return "";
  // The paper crashed the leader uniformly within its heartbeat interval; so do we (and before a transfer).
  await clock.runFor(STABLE_LEADER_MS + choices.nextInt(timing.heartbeatMs), hooks);
  return cluster.agreedLeader();
}

/** Leadership transfer (thesis §3.10) to a random follower: virtual ms until the target is leader, or null. */
async function measureTransfer(run) {
  const { clock, cluster, hooks, choices } = run;
  const leader = await settleLeader(run);
  if (leader === "") return { ms: null, detail: `no stable leader before the transfer (${cluster.describeRoles()})` };
  const followers = cluster.ids.filter((id) => id !== leader);
  const target = followers[choices.nextInt(followers.length)];
  const startMs = clock.now();
  let refusal;
  cluster
    .server(leader)
    .transferLeadership(target)
    .catch((error) => {
      refusal = error;
    });
  const done = await clock.runWhile(
    () => cluster.lastStatus(target)?.role !== "leader",
    startMs + MEASURE_BOUND_MS,
    hooks,
  );
  if (done) return { ms: clock.now() - startMs };
  return { ms: null, detail: `transfer ${leader} -> ${target}: ${refusal?.message ?? "target never led"}` };
}

/** Crashes a stable leader: virtual ms until a new leader is known by a majority, or null. */
async function measureElection(run) {
  const { clock, cluster, hooks } = run;
  const leader = await settleLeader(run);
  if (leader === "") return { ms: null, detail: `no stable leader before the crash (${cluster.describeRoles()})` };
  const oldTerm = cluster.lastStatus(leader).term;
  const startMs = clock.now();
  cluster.crash(leader);
  const done = await clock.runWhile(
    () => leaderKnownByMajority(cluster, oldTerm) === "",
    startMs + MEASURE_BOUND_MS,
    hooks,
  );
  if (done) return { ms: clock.now() - startMs };
  return { ms: null, detail: `after crashing ${leader}: ${cluster.describeRoles()}` };
}

/**
 * One seed: a fresh cluster, a transfer, then a leader crash. With `connectionResets` the network
 * reports a crashed node's reset connections to its peers, as TCP does for a dead process.
 */
async function runTrial(seed, nodes, timing, connectionResets = false) {
  const root = Prng.fromSeed(seed);
  const clock = new VirtualClock({ permuteWith: root.fork("scheduler") });
  const network = new SimNetwork(clock, root.fork("network"), { reportUnreachable: connectionResets });
  const checker = new ElectionSafetyChecker();
  const cluster = new SimCluster({
    clock,
    prng: root,
    network,
    checker,
    nodes,
    tickMs: timing.tickMs,
    electionTicks: timing.electionTicks,
    heartbeatTicks: timing.heartbeatTicks,
  });
  const run = {
    clock,
    cluster,
    choices: root.fork("bench:elections"),
    timing,
    hooks: { onInstant: () => cluster.observe() },
  };
  await cluster.startAll();
  cluster.observe();
  const transfer = await measureTransfer(run);
  const election = await measureElection(run);
  const failures = cluster.failures().map((f) => `${f.node}: ${f.detail}`);
  return { transfer, election, violations: [...checker.violations, ...failures] };
}

/** The timing of one scenario in ms, from ticks. */
function timingOf(tickMs, electionTicks, heartbeatTicks) {
  return {
    tickMs,
    electionTicks,
    heartbeatTicks,
    heartbeatMs: tickMs * heartbeatTicks,
    minTimeoutMs: tickMs * electionTicks,
    maxTimeoutMs: 2 * tickMs * electionTicks,
  };
}

/** Summary of one distribution of virtual ms (null = not finished within the bound). */
function summarize(values) {
  const finished = values.filter((v) => v !== null);
  return {
    trials: values.length,
    unfinished: values.length - finished.length,
    p50Ms: percentile(finished, 50),
    p99Ms: percentile(finished, 99),
    maxMs: finished.length === 0 ? Number.NaN : Math.max(...finished),
    values: finished,
  };
}

/**
 * Runs `seeds` trials per scenario. Scenarios: 5 and 3 nodes at the defaults, and (when
 * `paperTimeouts`) 5 nodes at the paper's 150-300 ms timeouts with a 75 ms heartbeat.
 * @returns one result per scenario with the transfer and election distributions.
 */
export async function runElectionBench({ seeds, paperTimeouts = false, firstSeed = 1 }) {
  if (
    DEFAULT_SIM_TICK_MS !== DEFAULT_TICK_MS ||
    DEFAULT_SIM_ELECTION_TICKS !== DEFAULT_ELECTION_TICKS ||
    DEFAULT_SIM_HEARTBEAT_TICKS !== DEFAULT_HEARTBEAT_TICKS
  ) {
    throw new Error(
      "the simulator's default timing differs from the runtime's: the bench would not measure the defaults",
    );
  }
  const defaults = timingOf(DEFAULT_TICK_MS, DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS);
  const scenarios = [
    { name: "5 nodes, defaults", nodes: 5, timing: defaults },
    { name: "3 nodes, defaults", nodes: 3, timing: defaults },
    // A killed process's connections are reset at once; followers then campaign early.
    { name: "3 nodes, defaults, connection resets", nodes: 3, timing: defaults, connectionResets: true },
  ];
  // 150-300 ms: 30 election ticks of 5 ms; the paper's heartbeat was half the minimum timeout (75 ms).
  if (paperTimeouts) scenarios.push({ name: "5 nodes, paper timeouts", nodes: 5, timing: timingOf(5, 30, 15) });
  const results = [];
  for (const scenario of scenarios) {
    const bar = new ProgressBar({
      total: seeds,
      label: `  elections ${scenario.name}`,
      write: (text) => process.stderr.write(text),
      isTty: process.stderr.isTTY === true,
    });
    const transfers = [];
    const elections = [];
    const problems = [];
    const violations = [];
    const t0 = performance.now();
    for (let i = 0; i < seeds; i++) {
      const seed = firstSeed + i;
      const trial = await runTrial(seed, scenario.nodes, scenario.timing, scenario.connectionResets === true);
      transfers.push(trial.transfer.ms);
      elections.push(trial.election.ms);
      for (const v of trial.violations) violations.push(`seed ${seed}: ${v}`);
      if (trial.transfer.ms === null) problems.push(`seed ${seed}: ${trial.transfer.detail}`);
      if (trial.election.ms === null) problems.push(`seed ${seed}: ${trial.election.detail}`);
      bar.update(i + 1, `${problems.length} unfinished, ${violations.length} violations`);
    }
    const wallMs = performance.now() - t0;
    bar.finish(`  elections ${scenario.name}: ${seeds} seeds in ${(wallMs / 1000).toFixed(1)} s`);
    results.push({
      name: scenario.name,
      nodes: scenario.nodes,
      timing: scenario.timing,
      seeds: { first: firstSeed, count: seeds },
      electionAfterCrash: summarize(elections),
      leadershipTransfer: summarize(transfers),
      problems,
      violations,
      wallMs: Math.round(wallMs),
    });
  }
  return results;
}

/**
 * A CDF-style histogram: one row per bucket from the minimum to the 99th percentile, then one row
 * for the tail above it; the bar for the count, then the cumulative share.
 */
export function histogramLines(values) {
  if (values.length === 0) return ["    (no finished trials)"];
  const sorted = [...values].sort((a, b) => a - b);
  const low = sorted[0];
  const high = Math.max(percentile(sorted, HISTOGRAM_CLIP_PERCENTILE), low + 1);
  const step = niceStep((high - low + 1) / HISTOGRAM_ROWS);
  const start = Math.floor(low / step) * step;
  const rows = Math.floor((high - start) / step) + 1;
  const counts = new Array(rows + 1).fill(0);
  for (const v of sorted) counts[Math.min(rows, Math.floor((v - start) / step))]++;
  const most = Math.max(...counts);
  const lines = [];
  let cumulative = 0;
  for (let row = 0; row <= rows; row++) {
    const count = counts[row];
    if (row === rows && count === 0) break;
    cumulative += count;
    const from = start + row * step;
    const label = row === rows ? `>= ${from} ms` : `${from}-${from + step - 1} ms`;
    const bar = "#".repeat(Math.ceil((count * HISTOGRAM_BAR_CHARS) / most));
    const share = ((cumulative * 100) / sorted.length).toFixed(1);
    lines.push(
      `    ${label.padStart(14)} |${bar.padEnd(HISTOGRAM_BAR_CHARS)}| ${String(count).padStart(5)}  ${share.padStart(5)}%`,
    );
  }
  return lines;
}

/** 1, 2, 5, 10, 20, 50... at or above `raw`. */
function niceStep(raw) {
  let step = 1;
  for (;;) {
    for (const m of [1, 2, 5]) if (m * step >= raw) return m * step;
    step *= 10;
  }
}

/** The printed report. */
export function electionReportLines(results) {
  const lines = [];
  lines.push(
    `Elections in the simulator (virtual time; ${DEFAULT_MIN_LATENCY_MS}-${DEFAULT_MAX_LATENCY_MS} ms one-way latency, ${DEFAULT_MIN_SYNC_MS}-${DEFAULT_MAX_SYNC_MS} ms disk sync; PreVote and CheckQuorum on):`,
  );
  lines.push(
    `  Raft paper (Figure 16): 5 servers, 150-300 ms timeouts, worst case ${PAPER_WORST_CASE_MS} ms over 1,000 trials (${(PAPER_WORST_CASE_MS / PAPER_MIN_TIMEOUT_MS).toFixed(2)}x the minimum timeout).`,
  );
  lines.push(
    "  scenario                  timeouts (heartbeat)       measure                   trials  p50 ms  p99 ms  max ms  max/min timeout  not finished",
  );
  for (const r of results) {
    const t = r.timing;
    const timeouts = `${t.minTimeoutMs}-${t.maxTimeoutMs} ms (${t.heartbeatMs} ms)`;
    for (const [measure, s] of [
      ["election after crash", r.electionAfterCrash],
      ["leadership transfer", r.leadershipTransfer],
    ]) {
      lines.push(
        `  ${r.name.padEnd(24)}  ${timeouts.padEnd(25)}  ${measure.padEnd(24)}  ${String(s.trials).padStart(6)}  ${String(s.p50Ms).padStart(6)}  ${String(s.p99Ms).padStart(6)}  ${String(s.maxMs).padStart(6)}  ${(s.maxMs / t.minTimeoutMs).toFixed(2).padStart(15)}  ${String(s.unfinished).padStart(12)}`,
      );
    }
  }
  for (const r of results) {
    lines.push(`\n  Election after a leader crash, ${r.name} (${r.electionAfterCrash.trials} seeds):`);
    lines.push(...histogramLines(r.electionAfterCrash.values));
    lines.push(`  Leadership transfer, ${r.name}:`);
    lines.push(...histogramLines(r.leadershipTransfer.values));
  }
  const listed = (title, items) => {
    if (items.length === 0) return;
    lines.push(`\n  !!! ${items.length} ${title}:`);
    for (const item of items.slice(0, 20)) lines.push(`  !!! ${item}`);
    if (items.length > 20) lines.push(`  !!! ... and ${items.length - 20} more (in the JSON)`);
  };
  listed(
    `measurement(s) not finished within ${MEASURE_BOUND_MS} ms`,
    results.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`)),
  );
  listed(
    "VIOLATION(S): two leaders in a term, or a node that stopped by itself",
    results.flatMap((r) => r.violations.map((v) => `${r.name}: ${v}`)),
  );
  return lines;
}

/** True when no trial saw two leaders in a term or a node fail (unfinished measurements are reported, not failures). */
export function electionRunValid(results) {
  return results.every((r) => r.violations.length === 0);
}
