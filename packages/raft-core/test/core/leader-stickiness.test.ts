import { describe, expect, it } from "vitest";
import type { CoreConfig } from "../../src/core/config.js";
import type { VoteRequest } from "../../src/core/types.js";
import { CoreCluster } from "./harness.js";

const ELECTION_TICKS = 10;

/** a leads a, b, c; every node holds the same log. */
function ledByA(overrides: Partial<CoreConfig> = {}) {
  const c = new CoreCluster(["a", "b", "c"], { electionTicks: ELECTION_TICKS, heartbeatTicks: 2, ...overrides });
  c.elect("a");
  const a = c.get("a").core.status();
  const campaign = (over: Partial<VoteRequest> = {}): VoteRequest => ({
    type: "vote",
    from: "c",
    to: "b",
    term: a.term + 1,
    clusterId: "test",
    preVote: false,
    transfer: false,
    lastLogIndex: a.lastIndex,
    lastLogTerm: a.lastTerm,
    ...over,
  });
  return { c, term: a.term, campaign };
}

describe("leader stickiness: votes are ignored while a leader is known (thesis §4.2.3)", () => {
  it("a follower ignores an up-to-date campaign within the minimum election timeout, then grants it", () => {
    const { c, term, campaign } = ledByA();
    const b = c.get("b").core;
    b.step(campaign());
    b.step(campaign({ preVote: true }));
    expect(b.status()).toMatchObject({ term, vote: "a", leader: "a" });
    expect(b.dropCounters()["in-lease"]).toBe(2);
    expect(b.hasReady()).toBe(false);
    // Still inside the minimum election timeout after the last word from a.
    for (let i = 0; i < ELECTION_TICKS - 1; i++) b.tick();
    b.step(campaign());
    expect(b.status().term).toBe(term);
    // One more silent tick: the leader may be gone, so the campaign counts.
    b.tick();
    b.step(campaign());
    expect(b.status()).toMatchObject({ term: term + 1, vote: "c" });
    const answers = b.ready().messagesAfterPersist.filter((m) => m.type === "voteResp" && !m.preVote);
    expect(answers).toMatchObject([{ to: "c", term: term + 1, granted: true }]);
  });

  it("the leader itself ignores a campaign from a node that cannot hear it", () => {
    const { c, term, campaign } = ledByA();
    const a = c.get("a").core;
    a.step(campaign({ to: "a" }));
    expect(a.status()).toMatchObject({ role: "leader", term });
  });

  it("a TimeoutNow campaign is invited: it bypasses stickiness and is granted to an up-to-date log", () => {
    const { c, term, campaign } = ledByA();
    const b = c.get("b").core;
    b.step(campaign({ transfer: true }));
    expect(b.status()).toMatchObject({ term: term + 1, vote: "c" });
    expect(b.ready().messagesAfterPersist).toMatchObject([{ type: "voteResp", to: "c", granted: true }]);
  });

  it("a TimeoutNow campaign still needs an up-to-date log (§3.6.1)", () => {
    const { c, term, campaign } = ledByA();
    const b = c.get("b").core;
    b.step(campaign({ transfer: true, lastLogIndex: 0, lastLogTerm: 0 }));
    // The term moves (the campaign is real) but the vote is refused.
    expect(b.status()).toMatchObject({ term: term + 1, vote: "" });
    expect(b.ready().messagesAfterPersist).toMatchObject([{ type: "voteResp", to: "c", granted: false }]);
  });

  it("is part of CheckQuorum (as in etcd): without it a follower grants at once", () => {
    const { c, term, campaign } = ledByA({ checkQuorum: false });
    const b = c.get("b").core;
    b.step(campaign());
    expect(b.status()).toMatchObject({ term: term + 1, vote: "c" });
  });
});
