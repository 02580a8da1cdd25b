import { describe, expect, test } from "vitest";
import type { ReadMode } from "../../src/core/config.js";
import type { Clock } from "../../src/runtime/clock.js";
import { RaftServer } from "../../src/runtime/raft-server.js";
import { ListStateMachine, LocalNetwork, ManualClock, SeededRandom, TEST_TIMING, TestStorage } from "./helpers.js";

/**
 * With lease reads, the leader's lease is counted in ticks, so ticks must keep pace with real time
 * (design rule 7): an event loop that stalls (a long GC pause, a starved process) must not make the
 * lease last longer in real time. The runtime catches up the missed tick periods at the next timer;
 * without lease reads it delivers one tick per timer as before.
 */
async function clusterWithStallableLeader(readMode: ReadMode) {
  const clock = new ManualClock();
  const network = new LocalNetwork(clock);
  let stalledMs = 0;
  // Node a's view of time: the shared clock plus however long its event loop "stalled".
  const stallable: Clock = {
    now: () => clock.now() + stalledMs,
    setTimer: (delayMs, fn) => clock.setTimer(delayMs, fn),
    cancelTimer: (handle) => clock.cancelTimer(handle),
  };
  const ids = ["a", "b", "c"];
  const servers = ids.map(
    (id, i) =>
      new RaftServer<number>({
        id,
        clusterId: "test",
        voters: ids,
        random: new SeededRandom(31 + i),
        clock: id === "a" ? stallable : clock,
        storage: new TestStorage(),
        transport: network.transport(id),
        stateMachine: new ListStateMachine(),
        ...TEST_TIMING,
        readMode,
      }),
  );
  for (const server of servers) await server.start();
  const a = servers[0];
  a.campaign();
  for (let i = 0; i < 500 && a.status().role !== "leader"; i++) await clock.advance(1);
  expect(a.status().role).toBe("leader");
  await clock.advance(50);
  return {
    a,
    stall: (ms: number) => {
      stalledMs += ms;
    },
    clock,
    stopAll: () => Promise.all(servers.map((s) => s.stop())),
  };
}

describe("tick catch-up after an event-loop stall (lease reads, rule 7)", () => {
  test("with lease reads, a leader whose loop stalled for several election timeouts gets the missed ticks and steps down (CheckQuorum)", async () => {
    const { a, stall, clock, stopAll } = await clusterWithStallableLeader("lease");
    // 10 election timeouts pass for a without a single tick delivered.
    stall(TEST_TIMING.tickMs * TEST_TIMING.electionTicks * 10);
    await clock.advance(TEST_TIMING.tickMs);
    // The caught-up ticks ran the CheckQuorum deadline before any acknowledgement could arrive:
    // the lease is gone with the leadership, so no stale lease read is possible.
    expect(a.status().role).not.toBe("leader");
    await stopAll();
  });

  test("without lease reads one tick is delivered per timer, as before (no catch-up)", async () => {
    const { a, stall, clock, stopAll } = await clusterWithStallableLeader("read-index");
    stall(TEST_TIMING.tickMs * TEST_TIMING.electionTicks * 10);
    await clock.advance(TEST_TIMING.tickMs);
    expect(a.status().role).toBe("leader");
    await stopAll();
  });
});
