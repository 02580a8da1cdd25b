import { describe, expect, it } from "vitest";
import type { Message, SnapshotRequest } from "../../src/core/types.js";
import { CoreCluster, entry, text } from "./harness.js";

function snap(index: number, term: number, over: Partial<SnapshotRequest> = {}): SnapshotRequest {
  return {
    type: "snap",
    from: "b",
    to: "a",
    term: 5,
    clusterId: "test",
    meta: { index, term, config: { voters: ["a", "b", "c"], outgoing: [], learners: [] } },
    ...over,
  };
}

describe("snapshots and compaction (thesis §5.3, rule 9)", () => {
  it("a follower behind the leader's compaction point is sent the snapshot, then catches up", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.filter = (m) => m.to !== "c" && m.from !== "c";
    for (let i = 0; i < 20; i++) c.propose("a", `v${i}`, i);
    c.drain();
    const meta = c.compact("a");
    expect(meta.index).toBeGreaterThan(10);
    expect(c.get("a").core.status().snapshotIndex).toBe(meta.index);
    c.propose("a", "after", 99);
    c.drain();
    c.filter = () => true;
    for (let i = 0; i < 10; i++) {
      c.tickAll();
      c.drain();
    }
    expect(c.installed).toEqual([{ node: "c", meta }]);
    const cNode = c.get("c");
    expect(cNode.snapshot).toEqual(meta);
    // After the snapshot, c applies only what follows it, and its log matches the leader's.
    expect(cNode.applied.filter((e) => e.type === "normal").map(text)).toEqual(["after"]);
    expect(cNode.core.status().commit).toBe(c.get("a").core.status().commit);
    expect(c.get("a").core.status().progress.c.state).toBe("replicate");
  });

  it("a snapshot at or below the commit index is never installed", () => {
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const a = c.add("a", ["a", "b", "c"], 1, {
      hardState: { term: 5, vote: "", commit: 3 },
      entries: [entry(1, 1), entry(2, 1), entry(3, 2)],
      applied: 3,
    });
    a.core.step(snap(2, 1));
    const rd = a.core.ready();
    expect(rd.snapshot).toBeUndefined();
    expect(a.core.status().lastIndex).toBe(3);
    expect(rd.messagesAfterPersist.find((m) => m.type === "appResp")).toMatchObject({ success: true, index: 3 });
  });

  it("a follower that holds the snapshot's last entry keeps its suffix", () => {
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const a = c.add("a", ["a", "b", "c"], 1, {
      hardState: { term: 5, vote: "", commit: 1 },
      entries: [entry(1, 1), entry(2, 2), entry(3, 2), entry(4, 3)],
      applied: 1,
    });
    a.core.step(snap(3, 2));
    const rd = a.core.ready();
    expect(rd.snapshot).toBeUndefined();
    expect(a.core.status()).toMatchObject({ lastIndex: 4, commit: 3 });
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2, 3]);
  });

  it("a follower with a divergent log discards it, installs the snapshot and takes its configuration", () => {
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const a = c.add("a", ["a", "b", "c"], 1, {
      hardState: { term: 5, vote: "", commit: 1 },
      entries: [entry(1, 1), entry(2, 2), entry(3, 2)],
      applied: 1,
    });
    const meta = { index: 3, term: 4, config: { voters: ["a", "b", "d"], outgoing: [], learners: ["e"] } };
    a.core.step(snap(3, 4, { meta }));
    const rd = a.core.ready();
    expect(rd.snapshot).toEqual(meta);
    expect(rd.committedEntries).toEqual([]);
    expect(a.core.status()).toMatchObject({
      lastIndex: 3,
      lastTerm: 4,
      commit: 3,
      snapshotIndex: 3,
      voters: ["a", "b", "d"],
      learners: ["e"],
    });
    expect(rd.messagesAfterPersist.find((m) => m.type === "appResp")).toMatchObject({ success: true, index: 3 });
  });

  it("compaction refuses entries that are not yet applied or a mismatched term", () => {
    const c = new CoreCluster(["a"]);
    c.elect("a");
    c.propose("a", "x");
    const a = c.get("a").core;
    const applied = a.status().applied;
    expect(
      a.compact({ index: applied + 1, term: a.status().term, config: { voters: ["a"], outgoing: [], learners: [] } }),
    ).toBe(false);
    expect(
      a.compact({ index: applied, term: a.status().term + 1, config: { voters: ["a"], outgoing: [], learners: [] } }),
    ).toBe(false);
    expect(a.status().snapshotIndex).toBe(0);
  });

  it("a restarted node resumes from its snapshot and the entries after it", () => {
    const c = new CoreCluster(["a"]);
    c.nodes.clear();
    const meta = { index: 10, term: 3, config: { voters: ["a", "b", "c"], outgoing: [], learners: [] } };
    const a = c.add("a", ["x"], 1, {
      hardState: { term: 4, vote: "", commit: 11 },
      snapshot: meta,
      entries: [entry(11, 4, "y")],
      applied: 10,
    });
    expect(a.core.status()).toMatchObject({ snapshotIndex: 10, lastIndex: 11, commit: 11, voters: ["a", "b", "c"] });
    expect(a.core.ready().committedEntries.map(text)).toEqual(["y"]);
  });

  it("malformed snapshot metadata is dropped", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    const a = c.get("a").core;
    a.step(snap(3, 9) as Message);
    a.step({
      ...snap(3, 2),
      meta: { index: 3, term: 2, config: { voters: [], outgoing: [], learners: [] } },
    } as Message);
    expect(a.dropCounters().malformed).toBe(2);
    expect(a.status().snapshotIndex).toBe(0);
  });
});
