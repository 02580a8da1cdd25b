import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { DEFAULT_ELECTION_TICKS } from "../../src/core/config.js";
import type { AppendRequest, AppendResponse, Message, ProposeReject, ProposeRequest } from "../../src/core/types.js";
import { CoreCluster, entry, text } from "./harness.js";

function append(over: Partial<AppendRequest>): AppendRequest {
  return {
    type: "app",
    from: "b",
    to: "a",
    term: 2,
    clusterId: "test",
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [],
    leaderCommit: 0,
    ...over,
  };
}

describe("log replication (§3.5)", () => {
  it("a proposal on the leader commits and applies on every node", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    expect(c.propose("a", "x=1")).toMatchObject({ kind: "appended" });
    c.drain();
    for (const n of c.nodes.values()) expect(n.applied.filter((e) => e.type === "normal").map(text)).toEqual(["x=1"]);
  });

  it("many proposals in one Ready share one append per follower (batching)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    for (let i = 0; i < 100; i++) c.propose("a", `v${i}`, i);
    const out = c.cycle("a")?.out ?? [];
    const appends = out.filter((m): m is AppendRequest => m.type === "app");
    expect(appends).toHaveLength(2);
    expect(appends.every((m) => m.entries.length === 100)).toBe(true);
  });

  it("a follower forwards proposals to the leader, which appends them with origin and request id", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    expect(c.propose("b", "from-b", 42)).toEqual({ kind: "forwarded", to: "a" });
    c.drain();
    const applied = c.get("b").applied.find((e) => e.type === "normal");
    expect(applied).toMatchObject({ origin: "b", requestId: 42 });
  });

  it("forwarding can be switched off: a follower refuses with the leader hint", () => {
    const c = new CoreCluster(["a", "b", "c"], { forwardProposals: false });
    c.elect("a");
    expect(c.propose("b", "x")).toEqual({ kind: "rejected", reason: "not-leader", leaderHint: "a" });
  });

  it("the leader counts itself only for entries durable on its own disk (thesis §10.2.1)", () => {
    const c = new CoreCluster(["a"]);
    const a = c.get("a");
    a.core.campaign();
    const rd = a.core.ready();
    expect(rd.entries).toHaveLength(1);
    expect(a.core.status().commit).toBe(0);
    a.core.advance(rd);
    expect(a.core.status().commit).toBe(1);
  });

  it("rule 3: a follower commits min(leaderCommit, last index of this message)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    const a = c.get("a");
    a.core.step(append({ entries: [entry(1, 2, "x"), entry(2, 2, "y")], leaderCommit: 10 }));
    expect(a.core.status().commit).toBe(2);
    a.core.step(append({ prevLogIndex: 0, entries: [entry(1, 2, "x")], leaderCommit: 10 }));
    expect(a.core.status().commit).toBe(2);
    expect(a.core.status().lastIndex).toBe(2);
  });

  it("rule 3: a stale, shorter append never truncates the follower's log", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    const a = c.get("a");
    a.core.step(append({ entries: [entry(1, 2), entry(2, 2), entry(3, 2)] }));
    a.core.step(append({ entries: [entry(1, 2)] }));
    expect(a.core.status().lastIndex).toBe(3);
  });

  it("rule 4: truncating a conflicting suffix and appending arrive in one Ready (one write)", () => {
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const a = c.add("a", ["a", "b", "c"], 1, {
      hardState: { term: 2, vote: "", commit: 1 },
      entries: [entry(1, 1), entry(2, 2, "old"), entry(3, 2, "old")],
      applied: 1,
    });
    a.core.step(
      append({ from: "c", term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 3, "new")], leaderCommit: 1 }),
    );
    const rd = a.core.ready();
    expect(rd.entries.map((e) => [e.index, e.term])).toEqual([[2, 3]]);
    expect(rd.hardState?.term).toBe(3);
    expect(a.core.status().lastIndex).toBe(2);
  });

  it("an append below the commit index changes nothing and reports the commit index", () => {
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const a = c.add("a", ["a", "b", "c"], 1, {
      hardState: { term: 2, vote: "", commit: 2 },
      entries: [entry(1, 1), entry(2, 2)],
      applied: 2,
    });
    a.core.step(append({ term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 3)] }));
    expect(a.core.status()).toMatchObject({ lastTerm: 2, lastIndex: 2, commit: 2 });
    const reply = a.core.ready().messagesAfterPersist.find((m) => m.type === "appResp");
    expect(reply).toMatchObject({ success: true, index: 2 });
  });

  it("rule 5: an append carries at least one entry even above maxMessageBytes", () => {
    const c = new CoreCluster(["a", "b", "c"], { maxMessageBytes: 10 });
    c.elect("a");
    c.propose("a", "x".repeat(100));
    c.propose("a", "y".repeat(100));
    const appends = (c.cycle("a")?.out ?? []).filter((m): m is AppendRequest => m.type === "app");
    expect(appends.length).toBeGreaterThan(0);
    for (const m of appends) expect(m.entries).toHaveLength(1);
    for (const m of appends) c.deliver(m);
    c.drain();
    expect(c.get("c").applied.filter((e) => e.type === "normal")).toHaveLength(2);
  });

  it("rule 5: a proposal above maxEntryBytes is refused", () => {
    const c = new CoreCluster(["a"], { maxEntryBytes: 8 });
    c.elect("a");
    expect(c.propose("a", "123456789")).toMatchObject({ kind: "rejected", reason: "too-large" });
    expect(c.propose("a", "12345678")).toMatchObject({ kind: "appended" });
  });

  it("§3.6.2 / Figure 3.7: an old-term entry is not committed by counting replicas", () => {
    // a leads term 2 with entry (2,2) only on itself; a new leader of term 3 must not commit (2,2)
    // merely because a majority stores it, only together with an entry of its own term.
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const log = [entry(1, 1), entry(2, 2)];
    const a = c.add("a", ["a", "b", "c"], 1, {
      hardState: { term: 3, vote: "a", commit: 1 },
      entries: log,
      applied: 1,
    });
    c.add("b", ["a", "b", "c"], 2, { hardState: { term: 3, vote: "a", commit: 1 }, entries: log, applied: 1 });
    c.add("c", ["a", "b", "c"], 3, { hardState: { term: 2, vote: "", commit: 1 }, entries: [entry(1, 1)], applied: 1 });
    // Hold back every append so only votes flow: the no-op of term 4 is never replicated.
    c.filter = (m) => m.type !== "app";
    a.core.campaign();
    c.drain();
    expect(a.core.status().role).toBe("leader");
    // Pretend b reports it stores index 2 (of term 2): a majority {a, b} holds it.
    a.core.step({
      type: "appResp",
      from: "b",
      to: "a",
      term: a.core.status().term,
      clusterId: "test",
      success: true,
      index: 2,
      hintIndex: 0,
      hintTerm: 0,
    });
    expect(a.core.status().commit).toBe(1);
    a.core.step({
      type: "appResp",
      from: "b",
      to: "a",
      term: a.core.status().term,
      clusterId: "test",
      success: true,
      index: 3,
      hintIndex: 0,
      hintTerm: 0,
    });
    expect(a.core.status().commit).toBe(3);
  });

  it("rule 3: matchIndex never decreases and stale responses change nothing", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    for (let i = 0; i < 5; i++) c.propose("a", `v${i}`, i);
    c.drain();
    const a = c.get("a").core;
    const before = a.status().progress.b;
    const term = a.status().term;
    a.step({
      type: "appResp",
      from: "b",
      to: "a",
      term,
      clusterId: "test",
      success: true,
      index: 1,
      hintIndex: 0,
      hintTerm: 0,
    });
    a.step({
      type: "appResp",
      from: "b",
      to: "a",
      term,
      clusterId: "test",
      success: false,
      index: 2,
      hintIndex: 0,
      hintTerm: 0,
    });
    const after = a.status().progress.b;
    expect(after.match).toBe(before.match);
    expect(after.next).toBeGreaterThan(after.match);
    expect(after.next).toBeGreaterThanOrEqual(before.match + 1);
  });

  it("conflict hints let a divergent follower catch up in few round trips (thesis §5.4.2 optimisation)", () => {
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const leaderLog = [entry(1, 1)];
    for (let i = 2; i <= 60; i++) leaderLog.push(entry(i, 4, `l${i}`));
    const followerLog = [entry(1, 1)];
    for (let i = 2; i <= 80; i++) followerLog.push(entry(i, 2, `f${i}`));
    c.add("a", ["a", "b", "c"], 1, { hardState: { term: 4, vote: "a", commit: 1 }, entries: leaderLog, applied: 1 });
    c.add("b", ["a", "b", "c"], 2, { hardState: { term: 4, vote: "a", commit: 1 }, entries: leaderLog, applied: 1 });
    c.add("c", ["a", "b", "c"], 3, { hardState: { term: 3, vote: "", commit: 1 }, entries: followerLog, applied: 1 });
    c.elect("a");
    c.drain();
    const rejections = c.delivered.filter((m) => m.type === "appResp" && m.from === "c" && !m.success);
    expect(rejections.length).toBeLessThanOrEqual(2);
    const cLog = c.get("c").log;
    expect(cLog.length).toBe(c.get("a").log.length);
    expect(cLog.map((e) => e.term)).toEqual(c.get("a").log.map((e) => e.term));
  });

  it("flow control: at most maxInflightMessages appends are unacknowledged per follower", () => {
    const c = new CoreCluster(["a", "b", "c"], { maxInflightMessages: 3, maxMessageBytes: 8 });
    c.elect("a");
    const a = c.get("a").core;
    for (let i = 0; i < 10; i++) a.propose({ data: new Uint8Array(8), origin: "a", requestId: i });
    const out = c.cycle("a")?.out ?? [];
    const toB = out.filter((m) => m.type === "app" && m.to === "b");
    expect(toB).toHaveLength(3);
    expect(a.status().progress.b.inflight).toBe(3);
    for (const m of out) c.deliver(m);
    c.drain();
    expect(c.get("b").log).toHaveLength(c.get("a").log.length);
  });

  test.prop([fc.array(fc.anything(), { maxLength: 30 })], { numRuns: 200 })(
    "malformed input never throws and never changes state",
    (junk) => {
      const c = new CoreCluster(["a", "b", "c"]);
      c.elect("a");
      const before = JSON.stringify(c.get("b").core.status());
      for (const value of junk) c.get("b").core.step(value as Message);
      expect(JSON.stringify(c.get("b").core.status())).toBe(before);
    },
  );

  test.prop(
    [
      fc.record({
        term: fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 60)),
        prevLogIndex: fc.oneof(fc.integer({ min: -5, max: 50 }), fc.constant(Number.NaN)),
        badEntryTerm: fc.integer({ min: 3, max: 100 }),
      }),
    ],
    { numRuns: 200 },
  )("impossible appends are dropped as malformed with a reason", ({ term, prevLogIndex, badEntryTerm }) => {
    const c = new CoreCluster(["a", "b", "c"]);
    const a = c.get("a").core;
    // An entry whose term is above the message's own term cannot come from a correct leader.
    a.step(append({ term: 2, entries: [entry(1, badEntryTerm)] }));
    a.step(append({ term, prevLogIndex }) as AppendRequest);
    expect(a.dropCounters().malformed).toBeGreaterThanOrEqual(1);
    expect(a.status().lastIndex).toBe(0);
  });

  it("a deposed leader hearing a higher term in a response steps down (§3.3)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const a = c.get("a").core;
    const term = a.status().term;
    const resp: AppendResponse = {
      type: "appResp",
      from: "b",
      to: "a",
      term: term + 1,
      clusterId: "test",
      success: false,
      index: 0,
      hintIndex: 0,
      hintTerm: 0,
    };
    a.step(resp);
    expect(a.status()).toMatchObject({ role: "follower", term: term + 1 });
  });
});

describe("forwarded proposals", () => {
  it("a duplicated forwarding message is appended only once", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.propose("b", "once", 5);
    const props = (c.cycle("b")?.out ?? []).filter((m) => m.type === "prop");
    expect(props).toHaveLength(1);
    c.deliver(props[0]);
    c.deliver(props[0]);
    c.drain();
    const copies = c.get("a").log.filter((e) => e.origin === "b" && e.requestId === 5);
    expect(copies).toHaveLength(1);
  });

  it("a duplicate of a proposal it appended while leading is not refused after stepping down (a refusal means 'not applied')", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.propose("b", "kept", 5);
    c.propose("b", "fresh", 6);
    const props = (c.cycle("b")?.out ?? []).filter((m) => m.type === "prop");
    expect(props).toHaveLength(1);
    const [prop] = props as ProposeRequest[];
    // Only the first proposal reaches a while it leads; then a steps down.
    c.deliver({ ...prop, proposals: prop.proposals.filter((p) => p.requestId === 5) });
    const a = c.get("a").core;
    const term = a.status().term;
    // CheckQuorum: no acknowledgement for an election timeout, so a steps down in the same term
    // (a message of an older term would simply be dropped as stale).
    for (let i = 0; i < 2 * DEFAULT_ELECTION_TICKS && a.status().role === "leader"; i++) a.tick();
    expect(a.status()).toMatchObject({ role: "follower", term });
    c.cycle("a");
    // The network now delivers the whole message again (a duplicate of 5, and 6 for the first time).
    a.step(prop);
    const rejects = (c.cycle("a")?.out ?? []).filter((m): m is ProposeReject => m.type === "propReject");
    expect(rejects.flatMap((m) => m.requestIds)).toEqual([6]);
  });
});

describe("lost messages", () => {
  it("a follower whose appends were lost catches up from heartbeats alone (no new proposals)", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.filter = (m) => !(m.type === "app" && m.to === "c");
    for (let i = 0; i < 5; i++) c.propose("a", `v${i}`, i);
    c.drain();
    expect(c.get("c").core.status().lastIndex).toBeLessThan(c.get("a").core.status().lastIndex);
    c.filter = () => true;
    for (let i = 0; i < 12; i++) {
      c.tickAll();
      c.drain();
    }
    expect(c.get("c").core.status().lastIndex).toBe(c.get("a").core.status().lastIndex);
    expect(c.get("c").applied.filter((e) => e.type === "normal")).toHaveLength(5);
  });
});

describe("durability before counting (thesis §10.2.1)", () => {
  it("the leader does not count its own entry toward a quorum until its write is durable", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    const a = c.get("a").core;
    c.propose("a", "x");
    const rd = a.ready(); // the leader's write of "x" is now in flight, not yet durable
    const index = a.status().lastIndex;
    const toB = rd.messages.filter((m) => m.type === "app" && m.to === "b");
    for (const m of toB) c.deliver(m);
    const reply = c.cycle("b")?.out.filter((m) => m.type === "appResp") ?? [];
    expect(reply).toHaveLength(1);
    a.step(reply[0]);
    // Only b holds "x" durably: one copy of three is no majority.
    expect(a.status().commit).toBeLessThan(index);
    a.advance(rd);
    expect(a.status().commit).toBe(index);
  });
});
