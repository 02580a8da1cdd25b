import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, test } from "vitest";
import { collectionNames } from "../../src/domain/records.js";
import { LevelLmsStore } from "../../src/store/level-store.js";
import type { LmsStore } from "../../src/store/lms-store.js";
import { runStoreContract, type StoreFactory } from "./contract.js";

const opened: { store: LmsStore; dir: string }[] = [];

async function openAt(dir: string, syncEveryCommits?: number): Promise<LevelLmsStore> {
  const store = await LevelLmsStore.open(dir, { syncEveryCommits });
  opened.push({ store, dir });
  return store;
}

const factory: StoreFactory = {
  name: "LevelLmsStore (embedded)",
  open: async () => openAt(await mkdtemp(join(tmpdir(), "lms-level-"))),
  reopen: async (store) => {
    const entry = opened.find((candidate) => candidate.store === store);
    if (entry === undefined) throw new Error("unknown store");
    await store.close();
    opened.splice(opened.indexOf(entry), 1);
    return openAt(entry.dir);
  },
  cleanup: async () => {
    for (const { store, dir } of opened.splice(0)) {
      await store.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  },
};

runStoreContract(factory);

describe("LevelLmsStore specifics", () => {
  afterEach(() => factory.cleanup());

  test("collection names sort the same as their record keys (the snapshot order relies on it)", () => {
    for (let i = 1; i < collectionNames.length; i++) {
      expect(`${collectionNames[i - 1]}/` < `${collectionNames[i]}/`, collectionNames[i]).toBe(true);
      expect(collectionNames[i].startsWith(collectionNames[i - 1])).toBe(false);
    }
  });

  test("unsynced commits: durableIndex trails appliedIndex until the periodic sync", async () => {
    const store = await openAt(await mkdtemp(join(tmpdir(), "lms-level-")), 3);
    const write = (i: number) => [
      {
        collection: "courses" as const,
        key: `c${i}`,
        value: { courseId: `c${i}`, title: "t", description: "", ownerId: "o", createdAt: i },
      },
    ];
    await store.commit(write(1), 1);
    await store.commit(write(2), 2);
    expect([store.appliedIndex(), store.durableIndex()]).toEqual([2, 0]);
    await store.commit(write(3), 3);
    expect(store.durableIndex()).toBe(3);
    await store.commit(write(4), 4);
    expect(store.durableIndex()).toBe(3);
    await store.sync();
    expect(store.durableIndex()).toBe(4);
  });

  test("a restore interrupted by a crash leaves an empty store at index 0 after reopening", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lms-level-"));
    const store = await openAt(dir);
    await store.commit(
      [
        {
          collection: "courses",
          key: "c1",
          value: { courseId: "c1", title: "t", description: "", ownerId: "o", createdAt: 1 },
        },
      ],
      5,
    );
    await store.close();
    // What restore writes first, then a crash: the mark and half of the data.
    const db = new ClassicLevel<string, string>(dir);
    await db.put("m/restoring", "1");
    await db.put("d/courses/half", "{}");
    await db.close();
    const reopened = await openAt(dir);
    expect(reopened.appliedIndex()).toBe(0);
    expect(await reopened.list("courses", "")).toEqual([]);
  });

  test("a read racing a commit never leaves the older value in memory", async () => {
    const store = await openAt(await mkdtemp(join(tmpdir(), "lms-level-")));
    const course = (title: string) => ({ courseId: "c1", title, description: "", ownerId: "o", createdAt: 1 });
    await store.commit([{ collection: "courses", key: "c1", value: course("old") }], 1);
    for (let round = 2; round < 12; round++) {
      // Reads and a list start before the commit and finish after it: whatever they saw, the
      // reads after the commit must see the commit.
      const racing = [
        store.get("courses", "c1"),
        store.list("courses", ""),
        store.prefetch([{ collection: "courses", key: "c1" }]),
      ];
      await store.commit([{ collection: "courses", key: "c1", value: course(`v${round}`) }], round);
      await Promise.all(racing);
      expect((await store.get("courses", "c1"))?.title).toBe(`v${round}`);
      expect((await store.list("courses", ""))[0].value.title).toBe(`v${round}`);
    }
  });

  test("a cache far smaller than the data still answers every read exactly", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lms-level-"));
    const store = await LevelLmsStore.open(dir, { cacheBytes: 300 });
    opened.push({ store, dir });
    const course = (i: number) => ({ courseId: `c${i}`, title: `t${i}`, description: "", ownerId: "o", createdAt: i });
    for (let i = 1; i <= 40; i++) await store.commit([{ collection: "courses", key: `c${i}`, value: course(i) }], i);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 40; i >= 1; i--) expect((await store.get("courses", `c${i}`))?.title).toBe(`t${i}`);
      expect(await store.get("courses", "c41")).toBeUndefined();
    }
  });
});
