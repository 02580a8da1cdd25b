// In-process 3-node cluster through the public RaftServer.propose(): one command per entry, each
// with its own promise, resolved after apply on the leader; counted once applied on all 3 nodes.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { CryptoRandom, MemoryStorage, RaftServer, SystemClock } from "../dist/index.js";

/** Passes messages by reference to the peer's handler on a later microtask (no copy, no encoding). */
class InProcessNetwork {
  handlers = new Map();
  endpoint(id) {
    const net = this;
    return {
      start(handler) {
        net.handlers.set(id, handler);
      },
      send(m) {
        const h = net.handlers.get(m.to);
        if (h) queueMicrotask(() => h.onMessage(m));
      },
      async stop() {
        net.handlers.delete(id);
      },
    };
  }
}

/** Counts applied entries; O(1) per entry. */
class CountingStateMachine {
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

async function startCluster() {
  const ids = ["n1", "n2", "n3"];
  const net = new InProcessNetwork();
  const clock = new SystemClock();
  const nodes = ids.map((id) => {
    const sm = new CountingStateMachine();
    const server = new RaftServer({
      id,
      clusterId: "bench",
      voters: ids,
      clock,
      random: new CryptoRandom(),
      storage: new MemoryStorage(),
      transport: net.endpoint(id),
      stateMachine: sm,
      maxPendingProposals: 100_000,
    });
    return { id, server, sm };
  });
  await Promise.all(nodes.map((n) => n.server.start()));
  nodes[0].server.campaign();
  for (let i = 0; i < 500; i++) {
    if (nodes[0].server.status().role === "leader") break;
    await new Promise((r) => setTimeout(r, 5));
  }
  if (nodes[0].server.status().role !== "leader") throw new Error("no leader");
  return nodes;
}

/** Runs `concurrency` proposers for `durationMs`; returns committed entries/s (applied on all 3). */
export async function measureThroughput(concurrency, durationMs) {
  const nodes = await startCluster();
  const leader = nodes[0].server;
  const command = new Uint8Array(16);
  const startTerm = leader.status().term;
  const before = Math.min(...nodes.map((n) => n.sm.count));
  let stop = false;
  const t0 = performance.now();
  const workers = [];
  for (let w = 0; w < concurrency; w++) {
    workers.push(
      (async () => {
        while (!stop) await leader.propose(command, { timeoutMs: 10_000 });
      })(),
    );
  }
  await new Promise((r) => setTimeout(r, durationMs));
  stop = true;
  const elapsed = performance.now() - t0;
  const committed = Math.min(...nodes.map((n) => n.sm.count)) - before;
  await Promise.allSettled(workers);
  const elections = leader.status().term - startTerm;
  await Promise.all(nodes.map((n) => n.server.stop()));
  return { perSecond: (committed * 1000) / elapsed, elections };
}

export async function runThroughputBench({ repeats, durationMs, concurrencies }) {
  const results = [];
  for (const c of concurrencies) {
    const runs = [];
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    let elections = 0;
    for (let r = 0; r < repeats; r++) {
      const res = await measureThroughput(c, durationMs);
      runs.push(res.perSecond);
      elections += res.elections;
      process.stderr.write(`  throughput c=${c} run ${r + 1}/${repeats}: ${Math.round(res.perSecond)}/s\n`);
    }
    delay.disable();
    results.push({
      concurrency: c,
      runs: runs.map(Math.round),
      medianPerSecond: Math.round([...runs].sort((a, b) => a - b)[runs.length >> 1]),
      unplannedElections: elections,
      eventLoopDelayP99Ms: Math.round(delay.percentile(99) / 1e4) / 100,
    });
  }
  return results;
}
