import { describe, expect, it } from "vitest";
import { NodeClock } from "../../src/sim/node-clock.js";
import { runSimulation } from "../../src/sim/simulation.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";

/**
 * Lease reads (thesis §6.4.1, design rule 7) in the simulator: the same runtime with
 * `readMode: "lease"`, nodes whose clocks run at different rates, and the linearizability checker
 * over every client read. The core's pathology test shows the stale read a lease without
 * CheckQuorum allows; here the property is that with CheckQuorum and drift inside the bound
 * (`leaseDriftTicks`, 10% of the election timeout by default) no read is ever stale.
 */
describe("lease reads in the simulator", () => {
  it("serve reads without ReadIndex heartbeat rounds (fewer messages for the same workload)", async () => {
    const common = { seed: 3, nodes: 3, ticks: 600, faults: "none", rate: 300 } as const;
    const lease = await runSimulation({ ...common, readMode: "lease" });
    const readIndex = await runSimulation({ ...common, readMode: "read-index" });
    expect(lease.ok).toBe(true);
    expect(readIndex.ok).toBe(true);
    expect(lease.stats.messages.sent).toBeLessThan(readIndex.stats.messages.sent * 0.8);
  }, 60_000);

  it.each([1, 2, 3, 4])(
    "stay linearizable under faults with every clock off by up to 3 percent (seed %i)",
    async (seed) => {
      const result = await runSimulation({
        seed,
        nodes: 3,
        ticks: 1_500,
        faults: "standard",
        rate: 150,
        readMode: "lease",
        clockDriftPermille: 30,
      });
      expect(result.violations).toEqual([]);
      expect(result.ok).toBe(true);
    },
    60_000,
  );

  it("a node clock running at half speed fires its timers late and reads half the elapsed time", async () => {
    const shared = new VirtualClock();
    const slow = new NodeClock(shared, () => undefined, 500);
    const fired: number[] = [];
    slow.setTimer(100, () => fired.push(shared.now()));
    await shared.runUntil(150);
    expect(fired).toEqual([]);
    await shared.runUntil(250);
    expect(fired).toEqual([200]);
    expect(slow.now()).toBe(125);
  });

  it("refuses a drift setting outside [0, 900] permille and an unknown read mode", async () => {
    await expect(runSimulation({ seed: 1, clockDriftPermille: 950 })).rejects.toThrow(/clockDriftPermille/);
    await expect(runSimulation({ seed: 1, readMode: "eventual" as never })).rejects.toThrow(/readMode/);
  });
});
