import { describe, expect, it } from "vitest";
import type { Message, VoteRequest } from "../../src/core/types.js";
import { CoreCluster, entry } from "./harness.js";

function voteRequest(over: Partial<VoteRequest>): VoteRequest {
  return {
    type: "vote",
    from: "b",
    to: "a",
    term: 1,
    clusterId: "test",
    preVote: false,
    transfer: false,
    lastLogIndex: 0,
    lastLogTerm: 0,
    ...over,
  };
}

describe("leader election (§3.4)", () => {
  it("a 3-node cluster elects exactly one leader by ticking", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    for (let i = 0; i < 200 && c.leaders().length === 0; i++) {
      c.tickAll();
      c.drain();
    }
    expect(c.leaders()).toHaveLength(1);
    const term = c.get(c.leaders()[0]).core.status().term;
    for (const n of c.nodes.values()) expect(n.core.status().term).toBe(term);
  });

  it("randomized timeouts differ between nodes and fall in [T, 2T) (§3.4)", () => {
    const c = new CoreCluster(["a", "b", "c", "d", "e"], { preVote: false, checkQuorum: false, electionTicks: 10 });
    c.filter = () => false; // nobody hears anybody: each node times out on its own schedule
    const firstCampaign = new Map<string, number>();
    for (let t = 1; t <= 40; t++) {
      c.tickAll();
      for (const n of c.nodes.values()) {
        if (!firstCampaign.has(n.core.id) && n.core.status().term > 0) firstCampaign.set(n.core.id, t);
      }
    }
    const ticks = [...firstCampaign.values()];
    expect(ticks).toHaveLength(5);
    for (const t of ticks) {
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThan(20);
    }
    expect(new Set(ticks).size).toBeGreaterThan(1);
  });

  it("rule 1: a vote is refused to a candidate whose log is less up to date (§3.6.1)", () => {
    const c = new CoreCluster(["a"], { checkQuorum: false });
    c.nodes.clear();
    const a = c.add("a", ["a", "b", "c"], 1, {
      hardState: { term: 2, vote: "", commit: 0 },
      entries: [entry(1, 1), entry(2, 2)],
      applied: 0,
    });
    a.core.step(voteRequest({ term: 3, lastLogIndex: 5, lastLogTerm: 1 }));
    const rd = a.core.ready();
    const resp = rd.messagesAfterPersist.find((m) => m.type === "voteResp");
    expect(resp).toMatchObject({ granted: false });
    a.core.advance(rd);
    a.core.step(voteRequest({ term: 3, from: "c", lastLogIndex: 2, lastLogTerm: 2 }));
    const rd2 = a.core.ready();
    expect(rd2.messagesAfterPersist.find((m) => m.type === "voteResp")).toMatchObject({ granted: true, to: "c" });
  });

  it("rule 1: the vote is persisted before the reply may leave (§3.8)", () => {
    const c = new CoreCluster(["a", "b", "c"], { checkQuorum: false });
    const a = c.get("a");
    a.core.step(voteRequest({ term: 1 }));
    const rd = a.core.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: "b", commit: 0 });
    expect(rd.messages.some((m) => m.type === "voteResp")).toBe(false);
    expect(rd.messagesAfterPersist.filter((m) => m.type === "voteResp")).toHaveLength(1);
  });

  it("grants at most one vote per term (§3.4)", () => {
    const c = new CoreCluster(["a", "b", "c"], { checkQuorum: false });
    const a = c.get("a");
    a.core.step(voteRequest({ term: 1, from: "b" }));
    a.core.step(voteRequest({ term: 1, from: "c" }));
    const votes = a.core.ready().messagesAfterPersist.filter((m) => m.type === "voteResp");
    expect(votes.map((v) => [v.to, v.type === "voteResp" && v.granted])).toEqual([
      ["b", true],
      ["c", false],
    ]);
  });

  it("rule 2: a PreVote never changes the receiver's term or vote (thesis §9.6)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    const a = c.get("a");
    a.core.step(voteRequest({ term: 5, preVote: true }));
    const rd = a.core.ready();
    expect(a.core.status().term).toBe(0);
    expect(a.core.status().vote).toBe("");
    expect(rd.hardState).toBeUndefined();
    expect(rd.messagesAfterPersist.find((m) => m.type === "voteResp")).toMatchObject({
      granted: true,
      preVote: true,
      term: 5,
    });
  });

  it("rule 2: with PreVote, a partitioned node does not inflate its term (thesis §9.6)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.get("a").core.status().term;
    c.filter = (m) => m.from !== "c" && m.to !== "c";
    for (let i = 0; i < 300; i++) {
      c.tickAll();
      c.drain();
    }
    expect(c.get("c").core.status().term).toBe(term);
    c.filter = () => true;
    for (let i = 0; i < 20; i++) {
      c.tickAll();
      c.drain();
    }
    expect(c.get("a").core.status()).toMatchObject({ role: "leader", term });
  });

  it("without PreVote, the same partition makes the rejoining node depose the leader", () => {
    const c = new CoreCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
    c.elect("a");
    const term = c.get("a").core.status().term;
    c.filter = (m) => m.from !== "c" && m.to !== "c";
    for (let i = 0; i < 300; i++) {
      c.tickAll();
      c.drain();
    }
    expect(c.get("c").core.status().term).toBeGreaterThan(term + 2);
    c.filter = () => true;
    for (let i = 0; i < 60; i++) {
      c.tickAll();
      c.drain();
    }
    // The rejoining node's inflated term forced an election the healthy leader did not need.
    expect(c.get("a").core.status().term).toBeGreaterThan(term + 2);
  });

  it("rule 2: learners never campaign", () => {
    const c = new CoreCluster(["a", "b"], {}, 3);
    c.nodes.clear();
    const l = c.add("l", ["a", "b"], 9);
    for (let i = 0; i < 200; i++) l.core.tick();
    expect(l.core.status().term).toBe(0);
    expect(l.core.hasReady()).toBe(false);
  });

  it("rule 2: votes from non-voters do not count toward an election", () => {
    const c = new CoreCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
    const a = c.get("a");
    a.core.campaign();
    a.core.ready();
    for (const from of ["x", "y"]) {
      a.core.step({ type: "voteResp", from, to: "a", term: 1, clusterId: "test", preVote: false, granted: true });
    }
    expect(a.core.status().role).toBe("candidate");
    a.core.step({ type: "voteResp", from: "b", to: "a", term: 1, clusterId: "test", preVote: false, granted: true });
    expect(a.core.status().role).toBe("leader");
  });

  it("CheckQuorum: a leader cut off from its quorum steps down within an election timeout (thesis §6.2)", () => {
    const c = new CoreCluster(["a", "b", "c"], { electionTicks: 10 });
    c.elect("a");
    c.filter = (m) => m.from !== "a" && m.to !== "a";
    let ticks = 0;
    while (c.get("a").core.status().role === "leader" && ticks < 100) {
      c.tickAll();
      c.drain();
      ticks++;
    }
    expect(c.get("a").core.status().role).toBe("follower");
    expect(ticks).toBeLessThanOrEqual(20);
  });

  it("CheckQuorum off: the isolated leader stays leader (the check is what steps it down)", () => {
    const c = new CoreCluster(["a", "b", "c"], { electionTicks: 10, checkQuorum: false });
    c.elect("a");
    c.filter = (m) => m.from !== "a" && m.to !== "a";
    for (let i = 0; i < 100; i++) {
      c.get("a").core.tick();
      c.drain();
    }
    expect(c.get("a").core.status().role).toBe("leader");
  });

  it("leader stickiness: a vote request is ignored while a leader is live (thesis §4.2.3)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const b = c.get("b");
    const term = b.core.status().term;
    b.core.step(voteRequest({ from: "c", to: "b", term: term + 1, lastLogIndex: 10, lastLogTerm: term }));
    expect(b.core.status().term).toBe(term);
    expect(b.core.dropCounters()["in-lease"]).toBe(1);
  });

  it("a new leader appends a no-op of its term (§6.4)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const s = c.get("a").core.status();
    const noop = c.get("a").log[s.lastIndex - 1];
    expect(noop).toMatchObject({ type: "noop", term: s.term });
    for (const n of c.nodes.values()) expect(n.applied.at(-1)).toMatchObject({ type: "noop", term: s.term });
  });

  it("messages of the wrong cluster are dropped and counted (rule 10)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    const a = c.get("a");
    a.core.step({ ...voteRequest({ term: 7 }), clusterId: "other" } as Message);
    expect(a.core.status().term).toBe(0);
    expect(a.core.dropCounters()["wrong-cluster"]).toBe(1);
  });
});

describe("stepping down", () => {
  it("a leader that steps down with an unflushed broadcast has nothing left to do (no busy loop)", () => {
    const c = new CoreCluster(["a", "b", "c"], { electionTicks: 10 });
    c.elect("a");
    const a = c.get("a").core;
    c.filter = () => false;
    a.propose({ data: new Uint8Array([1]), origin: "a", requestId: 1 });
    for (let i = 0; i < 25; i++) a.tick(); // CheckQuorum steps it down before the next ready()
    expect(a.status().role).toBe("follower");
    a.advance(a.ready());
    expect(a.hasReady()).toBe(false);
  });
});
