import { describe, expect, it } from "vitest";
import { CoreCluster } from "./harness.js";

/** Builds a cluster of a, b, c with a as leader, plus any extra nodes that know only a, b, c. */
function clusterWith(extra: string[] = []): CoreCluster {
  const c = new CoreCluster(["a", "b", "c"]);
  let seed = 10;
  for (const id of extra) c.add(id, ["a", "b", "c"], seed++);
  c.elect("a");
  return c;
}

function settle(c: CoreCluster, ticks = 30): void {
  for (let i = 0; i < ticks; i++) {
    c.tickAll();
    c.drain();
  }
}

describe("membership changes by joint consensus (thesis §4.3, rule 8)", () => {
  it("adds a voter through C_old,new then C_new, and the new member takes part", () => {
    const c = clusterWith(["d"]);
    const a = c.get("a").core;
    expect(a.proposeMembership({ voters: ["a", "b", "c", "d"], learners: [] }, 1)).toMatchObject({ kind: "appended" });
    c.drain();
    const configs = c.get("d").applied.filter((e) => e.type === "config");
    expect(configs).toHaveLength(2); // joint, then the automatic final entry
    for (const n of c.nodes.values()) {
      expect(n.core.status()).toMatchObject({ voters: ["a", "b", "c", "d"], outgoingVoters: [] });
    }
    expect(a.status().progress.d.match).toBe(a.status().lastIndex);
  });

  it("joint configurations need both majorities to commit", () => {
    const c = clusterWith(["d", "e"]);
    const a = c.get("a").core;
    // Move from {a,b,c} to {a,d,e}. b and c get the joint entry but nothing after it.
    a.proposeMembership({ voters: ["a", "d", "e"], learners: [] }, 1);
    const jointIndex = a.status().lastIndex;
    c.filter = (m) => !(m.type === "app" && ["b", "c"].includes(m.to) && m.entries.some((e) => e.index > jointIndex));
    c.drain();
    const joint = a.status();
    expect(joint).toMatchObject({ voters: ["a", "d", "e"], outgoingVoters: ["a", "b", "c"] });
    // C_new's entry is held by a, d and e: a majority of the new half only, so not committed.
    expect(joint.lastIndex).toBe(jointIndex + 1);
    expect(joint.commit).toBe(jointIndex);
    c.filter = () => true;
    settle(c, 10);
    expect(a.status()).toMatchObject({ voters: ["a", "d", "e"], outgoingVoters: [] });
    expect(a.status().commit).toBeGreaterThan(jointIndex);
  });

  it("refuses a change before the leader commits an entry of its term, and while one is pending", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.filter = (m) => m.type !== "app";
    c.get("a").core.campaign();
    c.drain();
    const a = c.get("a").core;
    expect(a.status().role).toBe("leader");
    expect(a.proposeMembership({ voters: ["a", "b"], learners: [] }, 1)).toMatchObject({ reason: "config-not-ready" });
    c.filter = () => true;
    settle(c, 10);
    expect(a.proposeMembership({ voters: ["a", "b", "c"], learners: ["l"] }, 2)).toMatchObject({ kind: "appended" });
    expect(a.proposeMembership({ voters: ["a", "b"], learners: [] }, 3)).toMatchObject({ reason: "config-pending" });
  });

  it("a leader removed from the configuration steps down once C_new applies, and the rest elect a leader", () => {
    const c = clusterWith();
    const a = c.get("a").core;
    a.proposeMembership({ voters: ["b", "c"], learners: [] }, 1);
    c.drain();
    expect(a.status().role).toBe("follower");
    settle(c, 120);
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect(["b", "c"]).toContain(leaders[0]);
    // The removed node never campaigns again.
    const term = a.status().term;
    for (let i = 0; i < 200; i++) a.tick();
    expect(a.status().term).toBe(term);
  });

  it("a learner receives the log but its acknowledgements never count toward commit", () => {
    const c = clusterWith(["l"]);
    const a = c.get("a").core;
    a.proposeMembership({ voters: ["a", "b", "c"], learners: ["l"] }, 1);
    c.drain();
    expect(a.status().learners).toEqual(["l"]);
    c.propose("a", "x");
    c.drain();
    expect(c.get("l").applied.some((e) => e.type === "normal")).toBe(true);
    // With b and c cut off, only a and the learner hold a new entry: not a majority of voters.
    c.filter = (m) => !["b", "c"].includes(m.to);
    c.propose("a", "y");
    c.drain();
    expect(a.status().commit).toBeLessThan(a.status().lastIndex);
    expect(c.get("l").core.status().lastIndex).toBe(a.status().lastIndex);
    for (let i = 0; i < 200; i++) c.get("l").core.tick();
    expect(c.get("l").core.status().role).toBe("follower");
  });

  it("promotes a caught-up learner to voter", () => {
    const c = clusterWith(["l"]);
    const a = c.get("a").core;
    a.proposeMembership({ voters: ["a", "b", "c"], learners: ["l"] }, 1);
    c.drain();
    a.proposeMembership({ voters: ["a", "b", "c", "l"], learners: [], addresses: { l: "127.0.0.1:7004" } }, 2);
    c.drain();
    expect(a.status()).toMatchObject({
      voters: ["a", "b", "c", "l"],
      learners: [],
      addresses: { l: "127.0.0.1:7004" },
    });
    expect(a.status().progress.l.isLearner).toBe(false);
  });

  it("a restarted node re-applies configuration entries from its log", () => {
    const c = clusterWith(["d"]);
    c.get("a").core.proposeMembership({ voters: ["a", "b", "c", "d"], learners: [] }, 1);
    c.drain();
    const d = c.get("d");
    c.nodes.delete("d");
    const restarted = c.add("d", ["a", "b", "c"], 99, { hardState: d.hard, entries: d.log, applied: d.hard.commit });
    expect(restarted.core.status().voters).toEqual(["a", "b", "c", "d"]);
  });

  it("raw configuration proposals are refused, locally and when forwarded", () => {
    const c = clusterWith();
    const a = c.get("a").core;
    expect(a.propose({ data: new Uint8Array([1]), type: "config", origin: "a", requestId: 1 })).toMatchObject({
      reason: "invalid-config",
    });
    a.step({
      type: "prop",
      from: "b",
      to: "a",
      term: a.status().term,
      clusterId: "test",
      proposals: [{ data: new Uint8Array([1]), type: "config", origin: "b", requestId: 2 }],
    });
    expect(a.dropCounters().malformed).toBe(1);
  });
});
