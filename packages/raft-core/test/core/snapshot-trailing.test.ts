import { describe, expect, it } from "vitest";
import type { SnapshotMeta } from "../../src/core/types.js";
import { CoreCluster } from "./harness.js";

function metaAtApplied(cluster: CoreCluster, id: string): SnapshotMeta {
  const core = cluster.get(id).core;
  const meta = core.snapshotMetaAt(core.status().applied);
  if (meta === undefined) throw new Error(`${id} has no snapshot meta at its applied index`);
  return meta;
}

function settle(cluster: CoreCluster, rounds = 10): void {
  for (let i = 0; i < rounds; i++) {
    cluster.tickAll();
    cluster.drain();
  }
}

describe("compaction with a trailing window (thesis §5.1, §5.3)", () => {
  it("keeps the entries behind the snapshot in memory, and a lagging follower gets the snapshot itself", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    c.filter = (m) => m.to !== "c" && m.from !== "c";
    for (let i = 0; i < 20; i++) c.propose("a", `v${i}`, i);
    c.drain();
    const a = c.get("a").core;
    const meta = metaAtApplied(c, "a");
    expect(a.compact(meta, meta.index - 5)).toBe(true);
    expect(a.status().snapshotIndex).toBe(meta.index - 5);
    expect(a.entryAt(meta.index - 5)).toBeUndefined();
    expect(a.entryAt(meta.index - 4)).toBeDefined();
    c.filter = () => true;
    settle(c);
    // c needed compacted entries: it is sent the stored snapshot (at meta.index), not the compaction point.
    expect(c.installed).toEqual([{ node: "c", meta }]);
    expect(c.get("c").core.status().commit).toBe(a.status().commit);
  });

  it("a follower behind the snapshot but inside the trailing window catches up with appends", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    for (let i = 0; i < 10; i++) c.propose("a", `v${i}`, i);
    c.drain();
    const behind = c.get("b").core.status().lastIndex;
    c.filter = (m) => m.to !== "b" && m.from !== "b";
    for (let i = 10; i < 13; i++) c.propose("a", `v${i}`, i);
    c.drain();
    const meta = metaAtApplied(c, "a");
    expect(meta.index).toBe(behind + 3);
    expect(c.get("a").core.compact(meta, meta.index - 5)).toBe(true);
    c.filter = () => true;
    settle(c);
    expect(c.installed).toEqual([]);
    expect(c.get("b").core.status().commit).toBe(c.get("a").core.status().commit);
  });

  it("refuses a compaction point past the snapshot and a snapshot not newer than the current one", () => {
    const c = new CoreCluster(["a", "b", "c"]);
    c.elect("a");
    for (let i = 0; i < 10; i++) c.propose("a", `v${i}`, i);
    c.drain();
    const a = c.get("a").core;
    const meta = metaAtApplied(c, "a");
    expect(a.compact(meta, meta.index + 1)).toBe(false);
    expect(a.status().snapshotIndex).toBe(0);
    expect(a.compact(meta, 4)).toBe(true);
    expect(a.compact(meta, 6)).toBe(false);
    expect(a.compact({ ...meta, index: meta.index - 1 }, 6)).toBe(false);
    expect(a.status().snapshotIndex).toBe(4);
    // A newer snapshot whose compaction point is below the current one only records the snapshot.
    c.propose("a", "more", 99);
    c.drain();
    const newer = metaAtApplied(c, "a");
    expect(a.compact(newer, 2)).toBe(true);
    expect(a.status().snapshotIndex).toBe(4);
    expect(a.entryAt(5)).toBeDefined();
  });
});
