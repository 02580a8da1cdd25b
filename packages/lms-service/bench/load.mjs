// The load generator, one shape for every system: closed-loop clients (each its own client object,
// pinned to a different first node) and, for failover, an open-loop probe writing every 10 ms
// while the load runs and the leader is killed with SIGKILL.
import { percentile, round } from "../../raft-core/bench/stats.mjs";
import { sleep } from "./processes.mjs";

/** The failover probe sends one write per period, whatever the outcome of the earlier ones. */
export const probePeriodMs = 10;
/** Probe writes in flight at most (a write to a dead node waits for its deadline). */
const probeMaxInFlight = 200;
/** After a kill, the run goes on until the probe has this many acks in a row this recent... */
const recoveredAfterAcks = 20;
/** ...and then this long, so that the load's own gap is seen to end too. */
const settleAfterRecoveryMs = 500;

/** The largest term among the answers (undefined entries skipped). */
function maxTerm(terms) {
  return Math.max(0, ...Object.values(terms).filter((t) => t !== undefined));
}

/**
 * Closed loop: `concurrency` clients each send one operation, wait for its answer, and send the
 * next, for `warmUpMs` unmeasured and then `durationMs` measured. Counts the operations that
 * complete inside the measured window and their latencies; counts term changes (elections) over
 * the whole run.
 */
export async function runClosedLoop(target, { kind, concurrency, warmUpMs, durationMs, payloadBytes }) {
  const workers = Array.from({ length: concurrency }, (_, i) =>
    kind === "write" ? target.writer(i, payloadBytes) : kind === "localRead" ? target.localReader(i) : target.reader(i),
  );
  const termsBefore = await target.terms();
  const latencies = [];
  let errors = 0;
  let completed = 0;
  let stopped = false;
  const started = performance.now();
  const measureFrom = started + warmUpMs;
  const measureTo = measureFrom + durationMs;
  const loops = workers.map(async ({ op }) => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        await op();
        const t1 = performance.now();
        if (t1 >= measureFrom && t1 <= measureTo) {
          completed++;
          latencies.push(t1 - t0);
        }
      } catch (error) {
        errors++;
        if (errors <= 3)
          process.stderr.write(`    ${target.name}: ${kind} failed: ${error.details ?? error.message}\n`);
      }
    }
  });
  await sleep(warmUpMs);
  target.resetEventLoop();
  const cpuFrom = { nodes: target.cpu(), bench: process.cpuUsage() };
  await sleep(Math.max(0, measureTo - performance.now()));
  const elapsedS = (performance.now() - measureFrom) / 1000;
  const eventLoop = await target.eventLoop();
  const cpuTo = { nodes: target.cpu(), bench: process.cpuUsage(cpuFrom.bench) };
  stopped = true;
  await Promise.all(loops);
  for (const worker of workers) worker.close();
  const termsAfter = await target.terms();
  const nodeCpu = {};
  for (const id of Object.keys(cpuTo.nodes))
    nodeCpu[id] = round((cpuTo.nodes[id] - (cpuFrom.nodes[id] ?? 0)) / elapsedS, 2);
  return {
    system: target.name,
    kind,
    concurrency,
    opsPerSecond: Math.round(completed / elapsedS),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    errors,
    elections: maxTerm(termsAfter) - maxTerm(termsBefore),
    termsBefore,
    termsAfter,
    eventLoopP99Ms: Object.fromEntries(Object.entries(eventLoop).map(([id, e]) => [id, round(e.p99Ms, 1)])),
    eventLoopMaxMs: Object.fromEntries(Object.entries(eventLoop).map(([id, e]) => [id, round(e.maxMs, 1)])),
    nodeCpuCoresUsed: nodeCpu,
    benchCpuCoresUsed: round((cpuTo.bench.user + cpuTo.bench.system) / 1e6 / elapsedS, 2),
  };
}

/**
 * The longest time without an acknowledgement that spans `killAt`: from the last ack before it
 * (or the one at the start of the window) to each later ack. Infinity when nothing was
 * acknowledged after the kill.
 */
export function gapAcross(ackTimes, killAt) {
  const sorted = [...ackTimes].sort((a, b) => a - b);
  let gap = 0;
  let previous;
  let anyAfter = false;
  for (const t of sorted) {
    if (t >= killAt) {
      anyAfter = true;
      if (previous !== undefined) gap = Math.max(gap, t - previous);
    }
    previous = t;
  }
  return anyAfter ? gap : Number.POSITIVE_INFINITY;
}

/**
 * One failover trial: closed-loop load at `concurrency` plus a probe writing every 10 ms (first
 * to the leader), the leader killed with SIGKILL after `steadyMs`; measures the probe's and the
 * load's longest gap without an ack, then restarts the killed node and waits for it to catch up.
 */
export async function runFailoverTrial(target, { concurrency, payloadBytes, steadyMs, maxOutageMs }) {
  const leader = await target.leaderId();
  const termBefore = maxTerm(await target.terms());
  const workers = Array.from({ length: concurrency }, (_, i) => target.writer(i, payloadBytes));
  const probe = target.probeWriter(leader, payloadBytes);
  const loadAcks = [];
  const probeAcks = [];
  let loadErrors = 0;
  let probeErrors = 0;
  let stopped = false;
  const loops = workers.map(async ({ op }) => {
    while (!stopped) {
      try {
        await op();
        loadAcks.push(performance.now());
      } catch {
        loadErrors++;
      }
    }
  });
  const probeWrites = new Set();
  const probeTimer = setInterval(() => {
    if (probeWrites.size >= probeMaxInFlight) return;
    const write = probe.op().then(
      () => probeAcks.push(performance.now()),
      () => probeErrors++,
    );
    probeWrites.add(write);
    write.finally(() => probeWrites.delete(write));
  }, probePeriodMs);

  await sleep(steadyMs);
  const killAt = performance.now();
  await target.kill(leader);
  const deadline = killAt + maxOutageMs;
  for (;;) {
    const recent = probeAcks.filter((t) => t > killAt);
    if (recent.length >= recoveredAfterAcks && performance.now() - recent[recent.length - 1] < 5 * probePeriodMs) break;
    if (performance.now() > deadline) break;
    await sleep(probePeriodMs);
  }
  await sleep(settleAfterRecoveryMs);
  stopped = true;
  clearInterval(probeTimer);
  await Promise.all([...loops, ...probeWrites]);
  for (const worker of workers) worker.close();
  probe.close();
  const newLeader = await target.leaderId();
  const termAfter = maxTerm(await target.terms());
  const result = {
    system: target.name,
    killed: leader,
    newLeader,
    probeGapMs: round(gapAcross(probeAcks, killAt), 1),
    loadGapMs: round(gapAcross(loadAcks, killAt), 1),
    probeWrites: probeAcks.length,
    probeErrors,
    loadErrors,
    elections: termAfter - termBefore,
  };
  await target.restart(leader);
  await target.waitCaughtUp(leader);
  return result;
}
