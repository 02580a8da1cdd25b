import { describe, expect, it } from "vitest";
import { CoreCluster } from "./harness.js";

describe("leadership transfer (thesis §3.10)", () => {
  it("hands leadership to an up-to-date voter within one round of messages", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.get("a").core.status().term;
    expect(c.get("a").core.transferLeadership("b")).toBeUndefined();
    c.drain();
    expect(c.get("b").core.status()).toMatchObject({ role: "leader", term: term + 1 });
    expect(c.get("a").core.status()).toMatchObject({ role: "follower", leader: "b" });
  });

  it("brings a lagging target up to date before TimeoutNow, and appends nothing meanwhile", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.filter = (m) => m.to !== "c";
    for (let i = 0; i < 5; i++) c.propose("a", `v${i}`, i);
    c.drain();
    const a = c.get("a").core;
    const lastBefore = a.status().lastIndex;
    let targetLastAtTimeoutNow = -1;
    c.filter = (m) => {
      if (m.type === "timeoutNow") targetLastAtTimeoutNow = c.get("c").core.status().lastIndex;
      return true;
    };
    expect(a.transferLeadership("c")).toBeUndefined();
    // §3.10: the old leader stops appending; its own proposal is held for the next leader.
    expect(c.propose("a", "during", 99)).toEqual({ kind: "forwarded", to: "c", held: true });
    expect(a.status().lastIndex).toBe(lastBefore);
    for (let i = 0; i < 10 && c.get("c").core.status().role !== "leader"; i++) {
      c.tickAll();
      c.drain();
    }
    const timeoutNow = c.delivered.filter((m) => m.type === "timeoutNow");
    expect(timeoutNow).toHaveLength(1);
    // When TimeoutNow arrived, c already had the leader's whole log.
    expect(targetLastAtTimeoutNow).toBe(lastBefore);
    expect(c.get("c").core.status().role).toBe("leader");
    const normal = c.get("c").applied.filter((e) => e.type === "normal");
    expect(normal.slice(0, 5).map((e) => e.requestId)).toEqual([0, 1, 2, 3, 4]);
  });

  it("is abandoned after one election timeout when the target does not answer", () => {
    const c = new CoreCluster(["a", "b", "c"], { electionTicks: 10 });
    c.elect("a");
    c.filter = (m) => m.to !== "c";
    const a = c.get("a").core;
    c.propose("a", "x");
    c.drain();
    a.transferLeadership("c");
    expect(a.transferTarget()).toBe("c");
    for (let i = 0; i < 10; i++) {
      a.tick();
      c.drain();
    }
    expect(a.transferTarget()).toBe("");
    expect(a.status().role).toBe("leader");
    expect(c.propose("a", "after")).toMatchObject({ kind: "appended" });
  });

  it("refuses a target that is not a voter, and on a follower", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    expect(c.get("a").core.transferLeadership("z")).toBe("not-a-voter");
    expect(c.get("a").core.transferLeadership("a")).toBe("already-leader");
    expect(c.get("b").core.transferLeadership("c")).toBe("not-leader");
  });

  it("a TimeoutNow campaign overrides leader stickiness but still needs an up-to-date log (§3.6.1)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.filter = (m) => m.to !== "c";
    c.propose("a", "x");
    c.drain();
    c.filter = () => true;
    // c lags; make it campaign as if told to: b (in lease) answers, but refuses c's stale log.
    const term = c.get("a").core.status().term;
    c.get("c").core.step({ type: "timeoutNow", from: "a", to: "c", term, clusterId: "test" });
    c.drain();
    expect(c.get("c").core.status().role).not.toBe("leader");
    const refusals = c.delivered.filter((m) => m.type === "voteResp" && m.to === "c" && !m.granted);
    expect(refusals.length).toBeGreaterThan(0);
  });
});
