// Preloaded into every LMS node the benchmark spawns (`node --import <this> dist/node/main.js`).
// It measures the node's own event-loop delay, which only the node can see, and answers the
// benchmark over the IPC channel. It also ties the node's life to the benchmark's: if the
// benchmark dies, the IPC channel closes and the node kills itself instead of lingering.
import { monitorEventLoopDelay } from "node:perf_hooks";

/** Sampling period of the delay histogram (coarse enough to cost nothing on the node). */
const samplingResolutionMs = 10;

if (typeof process.send === "function") {
  const delay = monitorEventLoopDelay({ resolution: samplingResolutionMs });
  delay.enable();
  process.on("message", (message) => {
    if (message?.type === "event-loop-reset") {
      delay.reset();
    } else if (message?.type === "event-loop-read") {
      process.send({
        type: "event-loop",
        requestId: message.requestId,
        p50Ms: delay.percentile(50) / 1e6,
        p99Ms: delay.percentile(99) / 1e6,
        maxMs: delay.max / 1e6,
      });
    }
  });
  process.on("disconnect", () => process.kill(process.pid, "SIGKILL"));
}
