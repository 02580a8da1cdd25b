import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  describeFault,
  type Fault,
  FaultScheduleError,
  generateSchedule,
  parseSchedule,
  scheduleToJson,
  sortSchedule,
  validateSchedule,
} from "../../src/sim/fault-schedule.js";
import { faultScheduleArbitrary } from "../../src/sim/fault-schedule-arbitrary.js";
import { Prng } from "../../src/sim/prng.js";
import { parseScenario, scenarioToJson } from "../../src/sim/scenario-file.js";
import { clusterNodeIds } from "../../src/sim/sim-cluster.js";

const nodes = clusterNodeIds(5);

function generate(seed: number, profile: "none" | "standard" | "heavy", durationMs = 30_000): Fault[] {
  return generateSchedule(Prng.fromSeed(seed).fork("faults"), { nodes, durationMs, profile });
}

describe("generateSchedule", () => {
  it("is a function of the stream: same seed, same schedule; another seed, another schedule", () => {
    expect(generate(7, "standard")).toEqual(generate(7, "standard"));
    expect(generate(7, "standard")).not.toEqual(generate(8, "standard"));
  });

  it("generates nothing for the 'none' profile", () => {
    expect(generate(1, "none")).toEqual([]);
  });

  it("keeps every fault inside the safety phase, in time order, naming only cluster nodes", () => {
    for (const profile of ["standard", "heavy"] as const) {
      for (let seed = 1; seed <= 20; seed++) {
        const schedule = generate(seed, profile, 10_000);
        expect(schedule.length).toBeGreaterThan(0);
        for (let i = 0; i < schedule.length; i++) {
          const fault = schedule[i] as Fault;
          expect(fault.atMs).toBeGreaterThanOrEqual(0);
          expect(fault.atMs).toBeLessThan(10_000);
          if (i > 0) expect(fault.atMs).toBeGreaterThanOrEqual((schedule[i - 1] as Fault).atMs);
        }
        // Valid by the same rules a scenario file must follow.
        expect(validateSchedule(JSON.parse(scheduleToJson(schedule)), { nodes })).toEqual(schedule);
      }
    }
  });

  it("'standard' includes whole-cluster crashes and crashes timed between a write and its sync", () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) for (const fault of generate(seed, "standard")) kinds.add(fault.kind);
    for (const kind of ["crash", "crash-during-write", "restart", "crash-all", "restart-all", "partition", "heal"]) {
      expect(kinds).toContain(kind);
    }
    for (const kind of ["isolate", "cut", "loss", "duplicate"]) expect(kinds).toContain(kind);
  });

  it("follows every crash with a restart of the same node (when the phase lasts long enough)", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const schedule = generate(seed, "standard", 1_000_000);
      schedule.forEach((fault, i) => {
        if (fault.kind !== "crash" && fault.kind !== "crash-during-write") return;
        // A crash near the end may have its restart clipped: the convergence phase restarts it.
        if (fault.atMs > 1_000_000 - 10_000) return;
        const restarted = schedule.slice(i + 1).some((later) => later.kind === "restart" && later.node === fault.node);
        expect(restarted, `seed ${seed}: ${describeFault(fault)} at ${fault.atMs} ms is never undone`).toBe(true);
      });
    }
  });

  it("'heavy' crashes a majority at once in some schedule; 'standard' never crashes more than a minority node by node", () => {
    const maxDown = (schedule: readonly Fault[]) => {
      const down = new Set<string>();
      let most = 0;
      for (const fault of schedule) {
        if (fault.kind === "crash" || fault.kind === "crash-during-write") down.add(fault.node);
        if (fault.kind === "restart") down.delete(fault.node);
        if (fault.kind === "restart-all") down.clear();
        most = Math.max(most, down.size);
      }
      return most;
    };
    let heavyMost = 0;
    for (let seed = 1; seed <= 30; seed++) {
      heavyMost = Math.max(heavyMost, maxDown(generate(seed, "heavy")));
      expect(maxDown(generate(seed, "standard"))).toBeLessThanOrEqual(2);
    }
    expect(heavyMost).toBeGreaterThanOrEqual(3);
  });

  it("'heavy' tears writes and flips bits on crashed nodes, on at most a minority; 'standard' does neither", () => {
    const heavyKinds = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const heavy = generate(seed, "heavy");
      for (const fault of heavy) heavyKinds.add(fault.kind);
      const flipped = new Set(heavy.flatMap((fault) => (fault.kind === "bit-flip" ? [fault.node] : [])));
      expect(flipped.size).toBeLessThanOrEqual(2);
      heavy.forEach((fault, i) => {
        if (fault.kind !== "bit-flip") return;
        // The flip lands while the node is down (crashed at the same instant), so its restart finds it.
        expect(heavy[i - 1]).toEqual({ atMs: fault.atMs, kind: "crash", node: fault.node });
      });
      for (const fault of generate(seed, "standard")) expect(["torn-write", "bit-flip"]).not.toContain(fault.kind);
    }
    expect(heavyKinds).toContain("torn-write");
    expect(heavyKinds).toContain("bit-flip");
    // A 3-node cluster tolerates one damaged disk; a 2-node cluster none.
    for (let seed = 1; seed <= 40; seed++) {
      const three = generateSchedule(Prng.fromSeed(seed).fork("faults"), {
        nodes: clusterNodeIds(3),
        durationMs: 30_000,
        profile: "heavy",
      });
      expect(new Set(three.flatMap((f) => (f.kind === "bit-flip" ? [f.node] : []))).size).toBeLessThanOrEqual(1);
      const two = generateSchedule(Prng.fromSeed(seed).fork("faults"), {
        nodes: clusterNodeIds(2),
        durationMs: 30_000,
        profile: "heavy",
      });
      expect(two.some((f) => f.kind === "bit-flip")).toBe(false);
    }
  });

  it("rejects an unknown profile with a clear error", () => {
    expect(() => generate(1, "chaos" as "heavy")).toThrow(/unknown fault profile "chaos"/);
  });
});

describe("schedule JSON", () => {
  const sample: Fault[] = [
    { atMs: 10, kind: "crash", node: "n1" },
    { atMs: 10, kind: "restart", node: "n1" },
    {
      atMs: 20,
      kind: "partition",
      groups: [
        ["n1", "n2"],
        ["n3", "n4", "n5"],
      ],
    },
    { atMs: 30, kind: "cut", from: "n2", to: "n3" },
    { atMs: 40, kind: "loss", perMillion: 50_000 },
    { atMs: 50, kind: "heal" },
    { atMs: 60, kind: "crash-all" },
    { atMs: 70, kind: "restart-all" },
    { atMs: 80, kind: "crash-during-write", node: "n4" },
    { atMs: 90, kind: "isolate", node: "n5" },
    { atMs: 95, kind: "duplicate", perMillion: 0 },
    { atMs: 96, kind: "torn-write", node: "n2" },
    { atMs: 97, kind: "bit-flip", node: "n3" },
  ];

  it("round-trips every fault kind", () => {
    expect(parseSchedule(scheduleToJson(sample), { nodes })).toEqual(sample);
    expect(scheduleToJson([])).toBe("[]");
  });

  it("sorts by time and keeps list order at equal times", () => {
    const shuffled: Fault[] = [sample[2] as Fault, sample[0] as Fault, sample[1] as Fault];
    expect(sortSchedule(shuffled)).toEqual([sample[0], sample[1], sample[2]]);
    expect(validateSchedule([sample[1], sample[0]], { nodes })).toEqual([sample[1], sample[0]]);
  });

  it.each([
    ["not an array", { atMs: 1 }, /schedule: expected an array/],
    ["an unknown kind", [{ atMs: 1, kind: "meteor" }], /schedule\[0\]\.kind: must be one of/],
    ["a negative time", [{ atMs: -1, kind: "heal" }], /schedule\[0\]\.atMs: must be a non-negative integer/],
    ["a fractional time", [{ atMs: 1.5, kind: "heal" }], /schedule\[0\]\.atMs/],
    ["a node outside the cluster", [{ atMs: 1, kind: "crash", node: "n9" }], /schedule\[0\]\.node: "n9" is not a node/],
    ["a missing node", [{ atMs: 1, kind: "restart" }], /schedule\[0\]\.node: undefined is not a node/],
    ["an unknown field", [{ atMs: 1, kind: "heal", node: "n1" }], /unknown field "node" for a heal fault/],
    ["a loss above one million", [{ atMs: 1, kind: "loss", perMillion: 2_000_000 }], /perMillion: must be an integer/],
    ["a cut from a node to itself", [{ atMs: 1, kind: "cut", from: "n1", to: "n1" }], /two different nodes/],
    [
      "a node in two groups",
      [{ atMs: 1, kind: "partition", groups: [["n1"], ["n1", "n2"]] }],
      /groups\[1\]\[0\]: n1 is in more than one group/,
    ],
    ["the second fault bad", [{ atMs: 1, kind: "heal" }, { atMs: 2 }], /schedule\[1\]\.kind/],
  ])("rejects %s, naming the field", (_what, value, message) => {
    expect(() => validateSchedule(value, { nodes })).toThrow(FaultScheduleError);
    expect(() => validateSchedule(value, { nodes })).toThrow(message);
  });

  it("rejects text that is not JSON", () => {
    expect(() => parseSchedule("[{", { nodes })).toThrow(/schedule: not JSON/);
  });
});

describe("scenario files", () => {
  it("round-trip seed, size, length, rate and schedule", () => {
    const scenario = {
      seed: 42,
      nodes: 5,
      ticks: 300,
      rate: 50,
      schedule: [{ atMs: 5, kind: "crash", node: "n3" }] as Fault[],
    };
    expect(parseScenario(scenarioToJson(scenario))).toEqual(scenario);
    const withSnapshots = { ...scenario, snapshotEveryEntries: 10, snapshotTrailingEntries: 0 };
    expect(parseScenario(scenarioToJson(withSnapshots))).toEqual(withSnapshots);
    const withoutRate = { seed: -3, nodes: 3, ticks: 10, schedule: [] };
    expect(parseScenario(scenarioToJson(withoutRate))).toEqual(withoutRate);
  });

  it.each([
    ["a missing seed", { nodes: 3, ticks: 10, schedule: [] }, /scenario\.seed: must be a safe integer/],
    [
      "too many nodes",
      { seed: 1, nodes: 10, ticks: 10, schedule: [] },
      /scenario\.nodes: must be an integer in \[1, 9\]/,
    ],
    ["zero ticks", { seed: 1, nodes: 3, ticks: 0, schedule: [] }, /scenario\.ticks: must be a positive integer/],
    ["an unknown field", { seed: 1, nodes: 3, ticks: 5, schedule: [], extra: 1 }, /unknown field "extra"/],
    [
      "a negative snapshot interval",
      { seed: 1, nodes: 3, ticks: 5, snapshotEveryEntries: -1, schedule: [] },
      /scenario\.snapshotEveryEntries: must be a non-negative integer/,
    ],
    [
      "a node beyond the cluster size",
      { seed: 1, nodes: 3, ticks: 5, schedule: [{ atMs: 1, kind: "crash", node: "n4" }] },
      /"n4" is not a node/,
    ],
  ])("rejects %s", (_what, value, message) => {
    expect(() => parseScenario(JSON.stringify(value))).toThrow(message);
  });
});

describe("faultScheduleArbitrary", () => {
  it("generates only valid, sorted schedules inside the phase", () => {
    fc.assert(
      fc.property(faultScheduleArbitrary(nodes, 2_000), (schedule) => {
        expect(validateSchedule(JSON.parse(scheduleToJson(schedule)), { nodes })).toEqual(schedule);
        for (const fault of schedule) expect(fault.atMs).toBeLessThan(2_000);
      }),
      { numRuns: 200, seed: 1 },
    );
  });

  it("generates torn writes, and bit flips on crashed nodes followed by their restart", () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(faultScheduleArbitrary(nodes, 2_000), (schedule) => {
        schedule.forEach((fault, i) => {
          kinds.add(fault.kind);
          if (fault.kind !== "bit-flip") return;
          const crashed = schedule
            .slice(0, i)
            .some((f) => f.kind === "crash" && f.node === fault.node && f.atMs === fault.atMs);
          expect(crashed).toBe(true);
        });
      }),
      { numRuns: 200, seed: 2 },
    );
    expect(kinds).toContain("torn-write");
    expect(kinds).toContain("bit-flip");
  });

  it("shrinks a failing schedule to the single episode that matters", () => {
    const failure = fc.check(
      fc.property(faultScheduleArbitrary(nodes, 2_000), (schedule) => !schedule.some((f) => f.kind === "crash-all")),
      { numRuns: 500, seed: 3 },
    );
    expect(failure.failed).toBe(true);
    const shrunk = (failure.counterexample as [Fault[]])[0];
    expect(shrunk.map((fault) => fault.kind)).toEqual(["crash-all", "restart-all"]);
    expect(shrunk[0]?.atMs).toBe(0);
  });
});
