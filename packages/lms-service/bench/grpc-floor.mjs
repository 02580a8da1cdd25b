// `pnpm bench` (lms-service part): the floor the RPC stack itself sets on this machine. A bare
// grpc-js server process with the nodes' server options answers one unary method that echoes a
// 256-byte message, and closed-loop clients in this process, with the LMS client's channel
// options, call it at concurrency 64 — the shape of run.mjs's c=64 workloads with no LMS, no Raft
// and no disk. Prints calls/s, p50/p99 and the CPU each side spends per call (server from /proc,
// client from process.cpuUsage). Whatever a node does per call comes on top of the server's
// figure, and the load generator of run.mjs pays at least the client's, so these bound what the
// cluster benchmark can reach on the same cores.
//
// Usage: node bench/grpc-floor.mjs [--quick] [--json]   (run.mjs also runs it between its sections)
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client, credentials, Server, ServerCredentials } from "@grpc/grpc-js";
import { median, percentile, round } from "../../raft-core/bench/stats.mjs";
import { clientChannelOptions, nodeServerOptions } from "../dist/transport/grpc-options.js";
import { cpuSeconds, sleep, spawnLogged, stopGently } from "./processes.mjs";

const PAYLOAD_BYTES = 256;
const CONCURRENCY = 64;
const METHOD_PATH = "/lectern.bench.Floor/Echo";
const identity = (bytes) => bytes;
const echoService = {
  echo: {
    path: METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const invokedDirectly = process.argv[1] === fileURLToPath(import.meta.url);
if (invokedDirectly && process.argv[2] === "--serve") {
  // The server process: answers every call with its own request, tells the parent its port.
  const server = new Server(nodeServerOptions());
  server.addService(echoService, { echo: (call, callback) => callback(null, call.request) });
  server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    process.send({ port });
  });
  process.on("disconnect", () => process.exit(0));
} else if (invokedDirectly) {
  const args = process.argv.slice(2);
  const summary = await runGrpcFloor({ quick: args.includes("--quick") });
  console.log(args.includes("--json") ? JSON.stringify(summary) : grpcFloorLines(summary).join("\n"));
}

/** Measures the floor (see the head of this file); progress on stderr. */
export async function runGrpcFloor({ quick }) {
  const rounds = quick ? 1 : 3;
  const durationMs = quick ? 2_000 : 5_000;
  const warmUpMs = quick ? 500 : 1_000;
  const root = await mkdtemp(join(tmpdir(), "lectern-grpc-floor-"));
  const child = spawnLogged(process.execPath, [fileURLToPath(import.meta.url), "--serve"], {
    env: process.env,
    logFile: join(root, "server.log"),
    ipc: true,
  });
  const { port } = await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.exited.then(({ code, signal }) => reject(new Error(`the echo server exited (${code ?? signal})`)));
  });
  // One channel per client, as run.mjs gives each load client its own LmsClient.
  const clients = Array.from(
    { length: CONCURRENCY },
    () => new Client(`127.0.0.1:${port}`, credentials.createInsecure(), clientChannelOptions()),
  );
  const payload = Buffer.alloc(PAYLOAD_BYTES, 120);
  const call = (client) =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        METHOD_PATH,
        identity,
        identity,
        payload,
        { deadline: Date.now() + 5_000 },
        (error, response) => (error ? reject(error) : resolve(response)),
      ),
    );

  const results = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      const latencies = [];
      let stopped = false;
      let completed = 0;
      const started = performance.now();
      const measureFrom = started + warmUpMs;
      const measureTo = measureFrom + durationMs;
      const loops = clients.map(async (client) => {
        while (!stopped) {
          const t0 = performance.now();
          await call(client);
          const t1 = performance.now();
          if (t1 >= measureFrom && t1 <= measureTo) {
            completed++;
            latencies.push(t1 - t0);
          }
        }
      });
      await sleep(warmUpMs);
      const serverFrom = cpuSeconds(child.pid);
      const clientFrom = process.cpuUsage();
      await sleep(Math.max(0, measureTo - performance.now()));
      const serverCpu = cpuSeconds(child.pid) - serverFrom;
      const clientUsage = process.cpuUsage(clientFrom);
      const elapsedS = (performance.now() - measureFrom) / 1000;
      stopped = true;
      await Promise.all(loops);
      const result = {
        callsPerSecond: Math.round(completed / elapsedS),
        p50Ms: round(percentile(latencies, 50), 2),
        p99Ms: round(percentile(latencies, 99), 2),
        serverCpuUsPerCall: round((serverCpu * 1e6) / completed, 0),
        clientCpuUsPerCall: round((clientUsage.user + clientUsage.system) / completed, 0),
        serverCoresUsed: round(serverCpu / elapsedS, 2),
        clientCoresUsed: round((clientUsage.user + clientUsage.system) / 1e6 / elapsedS, 2),
      };
      results.push(result);
      process.stderr.write(
        `  [grpc floor ${r}/${rounds}] ${result.callsPerSecond} calls/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, server ${result.serverCpuUsPerCall} µs/call, client ${result.clientCpuUsPerCall} µs/call\n`,
      );
    }
  } finally {
    for (const client of clients) client.close();
    await stopGently(child);
    await rm(root, { recursive: true, force: true });
  }
  const summary = {
    concurrency: CONCURRENCY,
    payloadBytes: PAYLOAD_BYTES,
    rounds,
    durationMs,
    callsPerSecond: Math.round(median(results.map((r) => r.callsPerSecond))),
    p50Ms: round(median(results.map((r) => r.p50Ms)), 2),
    p99Ms: round(median(results.map((r) => r.p99Ms)), 2),
    serverCpuUsPerCall: Math.round(median(results.map((r) => r.serverCpuUsPerCall))),
    clientCpuUsPerCall: Math.round(median(results.map((r) => r.clientCpuUsPerCall))),
    serverCoresUsed: round(median(results.map((r) => r.serverCoresUsed)), 2),
    clientCoresUsed: round(median(results.map((r) => r.clientCoresUsed)), 2),
    runs: results,
  };
  return summary;
}

export function grpcFloorLines(summary) {
  return [
    `gRPC floor: a bare grpc-js echo of ${summary.payloadBytes} bytes, one server process, ${summary.concurrency} closed-loop clients (median of ${summary.rounds} run(s) of ${summary.durationMs / 1000} s)`,
    `  ${summary.callsPerSecond} calls/s, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms`,
    `  CPU per call: server ${summary.serverCpuUsPerCall} µs (${summary.serverCoresUsed} cores), client ${summary.clientCpuUsPerCall} µs (${summary.clientCoresUsed} cores)`,
    "  (an LMS node pays at least the server's figure for every client call it serves, the load generator at least the client's)",
  ];
}
