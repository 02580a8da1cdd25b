import { describe, expect, it } from "vitest";
import { type CoreConfig, DEFAULT_LEASE_DRIFT_PERCENT, resolveCoreConfig } from "../../src/core/config.js";
import { LeaderLease, MAX_LEASE_ROUNDS_TRACKED } from "../../src/core/lease.js";
import type { HeartbeatRequest, Message, VoteRequest } from "../../src/core/types.js";
import { CoreCluster, TestRandom } from "./harness.js";

const ELECTION_TICKS = 20;
const HEARTBEAT_TICKS = 2;
const DRIFT_TICKS = 2;
/** Lease duration of these tests: the election timeout shortened by the drift bound. */
const LEASE_TICKS = ELECTION_TICKS - DRIFT_TICKS;

/**
 * Three nodes in lease mode with "a" elected. A node in lease mode ignores campaigns for its
 * first election timeout (rule 7), so that much time passes, silently, before the election.
 */
function leaseCluster(overrides: Partial<CoreConfig> = {}): CoreCluster {
  const c = new CoreCluster(["a", "b", "c"], {
    readMode: "lease",
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: HEARTBEAT_TICKS,
    leaseDriftTicks: DRIFT_TICKS,
    ...overrides,
  });
  c.filter = () => false;
  c.tickAll(ELECTION_TICKS);
  c.drain();
  c.filter = () => true;
  c.elect("a");
  return c;
}

/** Runs one heartbeat interval on every node and delivers everything. */
function heartbeatRound(c: CoreCluster): void {
  c.tickAll(HEARTBEAT_TICKS);
  c.drain();
}

const heartbeatsIn = (messages: readonly Message[]) =>
  messages.filter((m): m is HeartbeatRequest => m.type === "heartbeat");

describe("lease reads (thesis §6.4.1, rule 7)", () => {
  it("serve a read at once from the commit index while a quorum acknowledged a recent heartbeat", () => {
    const c = leaseCluster();
    const a = c.get("a").core;
    heartbeatRound(c);
    expect(a.readLeaseTicks()).toBeGreaterThan(0);
    a.readIndex(7);
    const cycle = c.cycle("a");
    expect(cycle?.ready.readStates).toEqual([{ requestId: 7, index: a.status().commit }]);
    // No confirmation round was needed.
    expect(heartbeatsIn(cycle?.out ?? [])).toEqual([]);
  });

  it("fall back to a ReadIndex round before any heartbeat of this leadership was acknowledged", () => {
    const c = leaseCluster();
    const a = c.get("a").core;
    expect(a.readLeaseTicks()).toBe(0);
    a.readIndex(1);
    const cycle = c.cycle("a");
    expect(cycle?.ready.readStates).toEqual([]);
    expect(heartbeatsIn(cycle?.out ?? [])).toHaveLength(2);
    for (const m of cycle?.out ?? []) c.deliver(m);
    c.drain();
    expect(c.get("a").readStates).toEqual([{ requestId: 1, index: a.status().commit }]);
    // The read round's acknowledgements started a lease too.
    expect(a.readLeaseTicks()).toBe(LEASE_TICKS);
  });

  it("count from when the heartbeat was sent, not from when the acknowledgements arrived", () => {
    const c = leaseCluster();
    const a = c.get("a").core;
    a.tick();
    a.tick();
    const sent = heartbeatsIn(c.cycle("a")?.out ?? []);
    expect(sent).toHaveLength(2);
    // The acknowledgements come back five ticks later (heartbeats sent meanwhile are lost).
    for (let i = 0; i < 5; i++) {
      a.tick();
      c.cycle("a");
    }
    for (const m of sent) c.deliver(m);
    for (const id of ["b", "c"]) for (const m of c.cycle(id)?.out ?? []) c.deliver(m);
    expect(a.readLeaseTicks()).toBe(LEASE_TICKS - 5);
    for (let left = LEASE_TICKS - 5; left > 0; left--) {
      expect(a.readLeaseTicks()).toBe(left);
      a.tick();
      c.cycle("a");
    }
    expect(a.readLeaseTicks()).toBe(0);
    expect(a.status().role).toBe("leader");
    a.readIndex(3);
    const cycle = c.cycle("a");
    expect(cycle?.ready.readStates).toEqual([]);
    expect(heartbeatsIn(cycle?.out ?? []).every((m) => m.round > 0)).toBe(true);
  });

  it("answer a follower's forwarded read without a heartbeat round", () => {
    const c = leaseCluster();
    heartbeatRound(c);
    const before = c.delivered.length;
    c.get("b").core.readIndex(9);
    c.drain();
    expect(c.get("b").readStates).toEqual([{ requestId: 9, index: c.get("a").core.status().commit }]);
    expect(heartbeatsIn(c.delivered.slice(before))).toEqual([]);
  });

  it("wait for an entry of the leader's own term to commit (§6.4 step 1)", () => {
    const c = new CoreCluster(["a", "b", "c"], {
      readMode: "lease",
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      leaseDriftTicks: DRIFT_TICKS,
    });
    c.filter = () => false;
    c.tickAll(ELECTION_TICKS);
    c.drain();
    // Heartbeats flow, appends do not: the no-op of the new term cannot commit.
    c.filter = (m) => m.type !== "app";
    c.get("a").core.campaign();
    c.drain();
    const a = c.get("a").core;
    expect(a.status().role).toBe("leader");
    heartbeatRound(c);
    expect(a.readLeaseTicks()).toBe(0);
    a.readIndex(1);
    c.drain();
    expect(c.get("a").readStates).toEqual([]);
  });

  it("stop when a transfer starts, and come back after it is abandoned before any TimeoutNow", () => {
    const c = leaseCluster();
    const a = c.get("a").core;
    heartbeatRound(c);
    // c lags behind, so the transfer waits for it to catch up and sends no TimeoutNow.
    c.filter = (m) => m.to !== "c" && m.from !== "c";
    c.propose("a", "x", 1);
    c.drain();
    expect(a.readLeaseTicks()).toBeGreaterThan(0);
    expect(a.transferLeadership("c")).toBeUndefined();
    expect(a.readLeaseTicks()).toBe(0);
    a.readIndex(1);
    const cycle = c.cycle("a");
    expect(cycle?.ready.readStates).toEqual([]);
    for (const m of cycle?.out ?? []) c.deliver(m);
    c.drain();
    // The ReadIndex fallback still answers (b acknowledged the round).
    expect(c.get("a").readStates).toEqual([{ requestId: 1, index: a.status().commit }]);
    for (let i = 0; i < ELECTION_TICKS; i++) heartbeatRound(c);
    expect(a.transferTarget()).toBe("");
    expect(c.delivered.some((m) => m.type === "timeoutNow")).toBe(false);
    expect(a.readLeaseTicks()).toBeGreaterThan(0);
  });

  it("stay revoked for the rest of the term once a TimeoutNow left (it may still arrive)", () => {
    const c = leaseCluster();
    const a = c.get("a").core;
    heartbeatRound(c);
    c.filter = (m) => m.type !== "timeoutNow";
    expect(a.transferLeadership("b")).toBeUndefined();
    c.drain();
    for (let i = 0; i < ELECTION_TICKS; i++) heartbeatRound(c);
    expect(a.transferTarget()).toBe("");
    expect(a.status().role).toBe("leader");
    expect(a.readLeaseTicks()).toBe(0);
    a.readIndex(5);
    const cycle = c.cycle("a");
    expect(cycle?.ready.readStates).toEqual([]);
    expect(heartbeatsIn(cycle?.out ?? [])).toHaveLength(2);
  });

  it("make a node that just started ignore campaigns for one election timeout (it may have acked before a restart)", () => {
    const vote: VoteRequest = {
      type: "vote",
      from: "b",
      to: "a",
      term: 1,
      clusterId: "test",
      preVote: false,
      transfer: false,
      lastLogIndex: 0,
      lastLogTerm: 0,
    };
    const lease = new CoreCluster(["a", "b", "c"], { readMode: "lease", electionTicks: ELECTION_TICKS });
    const a = lease.get("a").core;
    a.step(vote);
    expect(a.dropCounters()["in-lease"]).toBe(1);
    expect(a.status().term).toBe(0);
    for (let i = 0; i < ELECTION_TICKS; i++) a.tick();
    a.step({ ...vote, term: 2 });
    expect(a.status()).toMatchObject({ term: 2, vote: "b" });
    // Without lease reads a fresh node votes at once.
    const plain = new CoreCluster(["a", "b", "c"], { electionTicks: ELECTION_TICKS });
    plain.get("a").core.step(vote);
    expect(plain.get("a").core.status()).toMatchObject({ term: 1, vote: "b" });
  });

  it("a single-voter leader holds the lease on its own", () => {
    const c = new CoreCluster(["a"], { readMode: "lease" });
    c.elect("a");
    c.get("a").core.readIndex(1);
    expect(c.cycle("a")?.ready.readStates).toEqual([{ requestId: 1, index: 1 }]);
  });
});

describe("lease read settings (rule 7)", () => {
  const base = { id: "a", clusterId: "t", voters: ["a"], random: new TestRandom(1) };

  it("are refused without CheckQuorum, naming the setting", () => {
    expect(() => resolveCoreConfig({ ...base, readMode: "lease", checkQuorum: false })).toThrow(/checkQuorum/);
    expect(resolveCoreConfig({ ...base, readMode: "read-index", checkQuorum: false }).readMode).toBe("read-index");
  });

  it("default to ReadIndex, with a drift bound of 10% of the election timeout (at least one tick)", () => {
    expect(DEFAULT_LEASE_DRIFT_PERCENT).toBe(10);
    expect(resolveCoreConfig(base)).toMatchObject({ readMode: "read-index", leaseDriftTicks: 3 });
    expect(resolveCoreConfig({ ...base, electionTicks: 25, heartbeatTicks: 2 }).leaseDriftTicks).toBe(3);
    expect(resolveCoreConfig({ ...base, electionTicks: 4, heartbeatTicks: 1 }).leaseDriftTicks).toBe(1);
  });

  it("need a drift bound of at least one tick and below the election timeout", () => {
    expect(() => resolveCoreConfig({ ...base, readMode: "lease", leaseDriftTicks: 0 })).toThrow(/leaseDriftTicks/);
    expect(() => resolveCoreConfig({ ...base, electionTicks: 10, leaseDriftTicks: 10 })).toThrow(/leaseDriftTicks/);
    expect(resolveCoreConfig({ ...base, electionTicks: 10, leaseDriftTicks: 9 }).leaseDriftTicks).toBe(9);
  });

  it("reject an unknown read mode", () => {
    expect(() => resolveCoreConfig({ ...base, readMode: "stale" as "lease" })).toThrow(/readMode/);
  });
});

describe("LeaderLease", () => {
  const three = { incoming: ["a", "b", "c"], outgoing: [] };

  it("holds from the send tick of the newest round a quorum acknowledged", () => {
    const lease = new LeaderLease(10);
    lease.recordSent(1); // tick 0
    lease.tick();
    lease.tick();
    lease.recordSent(2); // tick 2
    lease.recordAck("b", 2);
    expect(lease.remainingTicks(three, "a")).toBe(10);
    for (let i = 0; i < 3; i++) lease.tick();
    expect(lease.remainingTicks(three, "a")).toBe(7);
    // An older round acknowledged later never moves the contact back.
    lease.recordAck("b", 1);
    expect(lease.remainingTicks(three, "a")).toBe(7);
    for (let i = 0; i < 7; i++) lease.tick();
    expect(lease.remainingTicks(three, "a")).toBe(0);
  });

  it("needs both majorities of a joint configuration (thesis §4.3)", () => {
    const joint = { incoming: ["a", "b", "c"], outgoing: ["c", "d", "e"] };
    const lease = new LeaderLease(10);
    lease.recordSent(1);
    lease.recordAck("b", 1);
    expect(lease.isValid(joint, "a")).toBe(false);
    lease.recordAck("d", 1);
    expect(lease.isValid(joint, "a")).toBe(false);
    lease.recordAck("c", 1);
    expect(lease.isValid(joint, "a")).toBe(true);
  });

  it("forgets rounds too old to extend the lease, and caps how many it tracks", () => {
    const lease = new LeaderLease(3);
    lease.recordSent(1);
    for (let i = 0; i < 3; i++) lease.tick();
    lease.recordAck("b", 1);
    expect(lease.isValid(three, "a")).toBe(false);
    for (let r = 2; r < 2 + MAX_LEASE_ROUNDS_TRACKED + 1; r++) lease.recordSent(r);
    // Round 2 was evicted by the cap: its ack counts for nothing.
    lease.recordAck("c", 2);
    expect(lease.isValid(three, "a")).toBe(false);
    lease.recordAck("c", 3);
    expect(lease.isValid(three, "a")).toBe(true);
  });

  it("is gone for good once revoked", () => {
    const lease = new LeaderLease(10);
    lease.recordSent(1);
    lease.recordAck("b", 1);
    expect(lease.isValid(three, "a")).toBe(true);
    lease.revoke();
    lease.recordSent(2);
    lease.recordAck("b", 2);
    expect(lease.isValid(three, "a")).toBe(false);
  });
});
