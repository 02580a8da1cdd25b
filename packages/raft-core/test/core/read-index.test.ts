import { describe, expect, it } from "vitest";
import type { HeartbeatRequest, Message } from "../../src/core/types.js";
import { CoreCluster } from "./harness.js";

/** Collects every ReadState a node reports while the cluster drains. */
function readStatesOf(c: CoreCluster, id: string): { requestId: number; index: number }[] {
  const out: { requestId: number; index: number }[] = [];
  const node = c.get(id);
  const original = node.core.ready.bind(node.core);
  node.core.ready = () => {
    const rd = original();
    out.push(...rd.readStates);
    return rd;
  };
  return out;
}

describe("ReadIndex (thesis §6.4, rule 6)", () => {
  it("the leader serves a read at its commit index after a quorum heartbeat round", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.propose("a", "x");
    c.drain();
    const states = readStatesOf(c, "a");
    c.get("a").core.readIndex(7);
    c.drain();
    expect(states).toEqual([{ requestId: 7, index: c.get("a").core.status().commit }]);
  });

  it("the leader does not answer before an entry of its own term is committed", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    const states = readStatesOf(c, "a");
    // Elect a but hold back every append so its no-op cannot commit.
    c.filter = (m) => m.type !== "app";
    c.get("a").core.campaign();
    c.drain();
    expect(c.get("a").core.status().role).toBe("leader");
    c.get("a").core.readIndex(1);
    c.drain();
    expect(states).toEqual([]);
    c.filter = () => true;
    c.get("a").core.tick(); // let the appends flow again via heartbeats
    for (let i = 0; i < 10; i++) {
      c.tickAll();
      c.drain();
    }
    expect(states).toHaveLength(1);
    expect(states[0].index).toBeGreaterThanOrEqual(1);
  });

  it("acknowledgements of an older round never confirm a newer one", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const a = c.get("a").core;
    const states = readStatesOf(c, "a");
    a.readIndex(1);
    const first = c.cycle("a")?.out.filter((m): m is HeartbeatRequest => m.type === "heartbeat") ?? [];
    expect(first.length).toBe(2);
    const round1 = first[0].round;
    a.readIndex(2);
    const second = c.cycle("a")?.out.filter((m): m is HeartbeatRequest => m.type === "heartbeat") ?? [];
    const round2 = second[0].round;
    expect(round2).toBeGreaterThan(round1);
    const term = a.status().term;
    const ack = (from: string, round: number): Message => ({
      type: "heartbeatResp",
      from,
      to: "a",
      term,
      clusterId: "test",
      round,
    });
    a.step(ack("b", round1));
    c.cycle("a");
    expect(states.map((s) => s.requestId)).toEqual([1]);
    a.step(ack("c", round1));
    c.cycle("a");
    expect(states.map((s) => s.requestId)).toEqual([1]);
    a.step(ack("c", round2));
    c.cycle("a");
    expect(states.map((s) => s.requestId)).toEqual([1, 2]);
  });

  it("one heartbeat round serves a whole batch of reads", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const states = readStatesOf(c, "a");
    for (let i = 1; i <= 50; i++) c.get("a").core.readIndex(i);
    const heartbeats = (c.cycle("a")?.out ?? []).filter((m) => m.type === "heartbeat");
    expect(heartbeats).toHaveLength(2);
    for (const m of heartbeats) c.deliver(m);
    c.drain();
    expect(states).toHaveLength(50);
  });

  it("a follower's read is forwarded and answered with the leader's read index", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.propose("a", "x");
    c.drain();
    const states = readStatesOf(c, "b");
    c.get("b").core.readIndex(9);
    c.drain();
    expect(states).toEqual([{ requestId: 9, index: c.get("a").core.status().commit }]);
  });

  it("a read pending across a leadership change fails with index 0 (retryable)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const states = readStatesOf(c, "a");
    c.filter = (m) => m.type !== "heartbeatResp";
    c.get("a").core.readIndex(3);
    c.drain();
    expect(states).toEqual([]);
    const a = c.get("a").core;
    a.step({
      type: "appResp",
      from: "b",
      to: "a",
      term: a.status().term + 1,
      clusterId: "test",
      success: false,
      index: 0,
      hintIndex: 0,
      hintTerm: 0,
    });
    c.cycle("a");
    expect(states).toEqual([{ requestId: 3, index: 0 }]);
  });

  it("a forwarded read fails when the follower learns of a new leader", () => {
    // CheckQuorum off so that c's campaign is not ignored by leader stickiness.
    const c = new CoreCluster(["a", "b", "c"], { checkQuorum: false });
    c.elect("a");
    const states = readStatesOf(c, "b");
    c.filter = (m) => m.type !== "readIndexResp";
    c.get("b").core.readIndex(4);
    c.drain();
    c.filter = () => true;
    c.elect("c");
    expect(states).toEqual([{ requestId: 4, index: 0 }]);
  });

  it("a single-voter leader confirms reads without a heartbeat round", () => {
    const c = new CoreCluster(["a"]);
    c.elect("a");
    const states = readStatesOf(c, "a");
    c.get("a").core.readIndex(1);
    c.drain();
    expect(states).toEqual([{ requestId: 1, index: 1 }]);
  });
});

describe("determinism", () => {
  it("the same inputs produce the same messages", () => {
    const run = () => {
      const c = new CoreCluster(["a", "b", "c", "d", "e"], {}, 42);
      for (let i = 0; i < 300; i++) {
        c.tickAll();
        c.drain();
        if (i % 7 === 0 && c.leaders().length === 1) c.propose(c.leaders()[0], `v${i}`, i);
      }
      return JSON.stringify(c.delivered.map((m) => [m.type, m.from, m.to, m.term]));
    };
    expect(run()).toBe(run());
  });
});
