import { describe, expect, it } from "vitest";
import type { CoreConfig } from "../../src/core/config.js";
import type { Message, ProposeRequest } from "../../src/core/types.js";
import { CoreCluster, text } from "./harness.js";

/** A three-node cluster led by "a" with every entry committed everywhere. */
function ledByA(overrides: Partial<CoreConfig> = {}): CoreCluster {
  const c = new CoreCluster(["a", "b", "c"], { electionTicks: 10, heartbeatTicks: 2, ...overrides });
  c.elect("a");
  c.propose("a", "before", 1);
  c.drain();
  return c;
}

/** Ticks the whole cluster, draining after each tick, until `done` or `maxTicks`. */
function tickUntil(c: CoreCluster, done: () => boolean, maxTicks = 100): void {
  for (let i = 0; i < maxTicks && !done(); i++) {
    c.tickAll();
    c.drain();
  }
}

describe("proposals during a leadership transfer (thesis §3.10)", () => {
  it("are held, then forwarded to the new leader in order, each appended exactly once", () => {
    const c = ledByA();
    const a = c.get("a").core;
    const lastBefore = a.status().lastIndex;
    expect(a.transferLeadership("b")).toBeUndefined();
    for (let id = 10; id < 13; id++) {
      expect(c.propose("a", `held-${id}`, id)).toEqual({ kind: "forwarded", to: "b", held: true });
    }
    // Not appended here: the target must be able to catch up with a log that stops growing.
    expect(a.status().lastIndex).toBe(lastBefore);
    expect(a.heldProposalCount()).toBe(3);
    c.drain();
    expect(c.get("b").core.status().role).toBe("leader");
    expect(a.heldProposalCount()).toBe(0);
    // The held proposals left a in one "prop" message to the new leader, with a's origin and ids.
    const props = c.delivered.filter((m): m is ProposeRequest => m.type === "prop" && m.from === "a");
    expect(props).toHaveLength(1);
    expect(props[0].to).toBe("b");
    expect(props[0].proposals.map((p) => [p.origin, p.requestId])).toEqual([
      ["a", 10],
      ["a", 11],
      ["a", 12],
    ]);
    c.tickAll();
    c.drain();
    for (const id of ["a", "b", "c"]) {
      const held = c.get(id).applied.filter((e) => e.type === "normal" && text(e).startsWith("held-"));
      expect(held.map((e) => [e.origin, e.requestId, e.term])).toEqual([
        ["a", 10, a.status().term],
        ["a", 11, a.status().term],
        ["a", 12, a.status().term],
      ]);
    }
    expect(c.get("a").rejected).toEqual([]);
  });

  it("are refused with the old leader as hint when the transfer aborts after one election timeout", () => {
    const c = ledByA();
    const a = c.get("a").core;
    c.filter = (m) => m.to !== "c" && m.from !== "c";
    expect(a.transferLeadership("c")).toBeUndefined();
    expect(c.propose("a", "held", 20)).toMatchObject({ kind: "forwarded", held: true });
    // One tick short of the election timeout the transfer still runs and still holds.
    for (let i = 0; i < 9; i++) {
      a.tick();
      c.drain();
    }
    expect(a.transferTarget()).toBe("c");
    expect(a.heldProposalCount()).toBe(1);
    a.tick();
    c.drain();
    expect(a.transferTarget()).toBe("");
    expect(a.status().role).toBe("leader");
    expect(c.get("a").rejected).toEqual([{ requestIds: [20], leaderHint: "a" }]);
    // Writes resume on the leader that stayed.
    expect(c.propose("a", "after", 21)).toMatchObject({ kind: "appended" });
  });

  it("are refused when a configuration change removes the transfer target", () => {
    const c = ledByA();
    const a = c.get("a").core;
    c.filter = (m) => m.type !== "timeoutNow";
    // The target must lag so the transfer is still running when the change applies.
    expect(a.proposeMembership({ voters: ["a", "b"], learners: [] }, 30)).toMatchObject({ kind: "appended" });
    expect(a.transferLeadership("c")).toBeUndefined();
    expect(c.propose("a", "held", 31)).toMatchObject({ kind: "forwarded", held: true });
    // No tick: the change commits and applies within the drain, long before the transfer could time out.
    c.drain();
    expect(a.transferTarget()).toBe("");
    expect(a.status().voters).toEqual(["a", "b"]);
    expect(c.get("a").rejected).toEqual([{ requestIds: [31], leaderHint: "a" }]);
  });

  it("are bounded by maxTransferHeldProposals: the next one is refused at once, hinting the target", () => {
    const c = ledByA({ maxTransferHeldProposals: 2 });
    c.get("a").core.transferLeadership("c");
    c.filter = () => false;
    expect(c.propose("a", "x", 1)).toMatchObject({ kind: "forwarded", held: true });
    expect(c.propose("a", "y", 2)).toMatchObject({ kind: "forwarded", held: true });
    expect(c.propose("a", "z", 3)).toEqual({ kind: "rejected", reason: "transferring", leaderHint: "c" });
  });

  it("are bounded in bytes by maxUncommittedBytes, together with the uncommitted entries", () => {
    const c = ledByA({ maxUncommittedBytes: 10 });
    const a = c.get("a").core;
    c.filter = () => false;
    // 6 uncommitted bytes (appends are dropped), then a transfer.
    expect(c.propose("a", "sixsix", 1)).toMatchObject({ kind: "appended" });
    c.drain();
    a.transferLeadership("c");
    expect(c.propose("a", "four", 2)).toMatchObject({ kind: "forwarded", held: true });
    expect(c.propose("a", "1", 3)).toEqual({ kind: "rejected", reason: "transferring", leaderHint: "c" });
  });

  it("are refused at once when forwarding is off (there is nowhere to send them later)", () => {
    const c = ledByA({ forwardProposals: false });
    c.get("a").core.transferLeadership("b");
    expect(c.propose("a", "x", 1)).toEqual({ kind: "rejected", reason: "transferring", leaderHint: "b" });
    expect(c.get("a").core.heldProposalCount()).toBe(0);
  });

  it("a follower's forwarded proposal is refused at once with the target as hint (only its origin may relay it)", () => {
    const c = ledByA();
    c.filter = (m) => m.type !== "timeoutNow" && !(m.type === "app" && m.to === "c");
    c.propose("a", "lag", 2);
    c.drain();
    c.get("a").core.transferLeadership("c");
    expect(c.propose("b", "from-b", 40)).toEqual({ kind: "forwarded", to: "a" });
    c.drain();
    const refusals = c.delivered.filter((m: Message) => m.type === "propReject");
    expect(refusals).toMatchObject([{ from: "a", to: "b", requestIds: [40], leaderHint: "c" }]);
    expect(c.get("b").rejected).toEqual([{ requestIds: [40], leaderHint: "c" }]);
  });

  it("are refused with no hint when the old leader must campaign itself (no leader appeared)", () => {
    const c = ledByA();
    const a = c.get("a").core;
    // The target campaigns, a steps down and votes, but a never hears from any new leader.
    c.filter = (m) => !(m.to === "a" && (m.type === "app" || m.type === "heartbeat"));
    a.transferLeadership("c");
    expect(c.propose("a", "held", 50)).toMatchObject({ kind: "forwarded", held: true });
    c.drain();
    expect(a.status()).toMatchObject({ role: "follower", leader: "" });
    expect(a.heldProposalCount()).toBe(1);
    tickUntil(c, () => c.get("a").rejected.length > 0, 40);
    expect(c.get("a").rejected).toEqual([{ requestIds: [50], leaderHint: "" }]);
    expect(c.delivered.some((m) => m.type === "prop" && m.from === "a")).toBe(false);
  });
});
