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
    await store.whenFlushed();
    expect([store.appliedIndex(), store.durableIndex()]).toEqual([2, 0]);
    await store.commit(write(3), 3);
    await store.whenFlushed();
    expect(store.durableIndex()).toBe(3);
    await store.commit(write(4), 4);
    await store.whenFlushed();
    expect(store.durableIndex()).toBe(3);
    await store.sync();
    expect(store.durableIndex()).toBe(4);
  });

  describe("writing behind", () => {
    const course = (id: string, title: string) => ({
      collection: "courses" as const,
      key: id,
      value: { courseId: id, title, description: "", ownerId: "o", createdAt: 1 },
    });
    const gone = (id: string) => ({ collection: "courses" as const, key: id, value: undefined });

    /** A store whose background writes wait for `release()`, recording every batch. */
    async function heldStore() {
      const batches: { appliedIndex: number; operations: (readonly [string, string | null])[] }[] = [];
      let open: () => void = () => {};
      let gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const dir = await mkdtemp(join(tmpdir(), "lms-level-"));
      const store = await LevelLmsStore.open(dir, {
        beforeFlush: async (batch) => {
          batches.push({ appliedIndex: batch.appliedIndex, operations: [...batch.operations] });
          await gate;
        },
      });
      opened.push({ store, dir });
      const release = () => {
        open();
        gate = Promise.resolve();
      };
      return { store, dir, batches, release };
    }

    test("a commit is read back at once, before the disk has it; the disk catches up in order", async () => {
      const { store, batches, release } = await heldStore();
      await store.commit([course("c1", "v1")], 1);
      await store.commit([course("c1", "v2"), course("c2", "x")], 2);
      await store.commit([gone("c2"), course("c3", "y")], 3);
      expect(store.appliedIndex()).toBe(3);
      expect(store.durableIndex()).toBe(0);
      expect((await store.get("courses", "c1"))?.title).toBe("v2");
      expect(await store.get("courses", "c2")).toBeUndefined();
      expect((await store.list("courses", "")).map((r) => [r.key, r.value.title])).toEqual([
        ["c1", "v2"],
        ["c3", "y"],
      ]);
      expect((await store.list("courses", "", { limit: 1 })).map((r) => r.key)).toEqual(["c1"]);
      release();
      await store.whenFlushed();
      // The first batch left while only commit 1 existed: it holds commit 1's value, never a later one.
      expect(batches[0]).toEqual({ appliedIndex: 1, operations: [["d/courses/c1", expect.stringContaining('"v1"')]] });
      expect(batches.at(-1)?.appliedIndex).toBe(3);
      await store.sync();
      expect(store.durableIndex()).toBe(3);
      const dir = opened.find((entry) => entry.store === store)?.dir as string;
      await store.close();
      opened.splice(
        opened.findIndex((entry) => entry.store === store),
        1,
      );
      const reopened = await openAt(dir);
      expect(reopened.appliedIndex()).toBe(3);
      expect((await reopened.list("courses", "")).map((r) => r.key)).toEqual(["c1", "c3"]);
    });

    test("no batch mixes a commit with a later one's writes, whatever the timing", async () => {
      const { store, batches, release } = await heldStore();
      // While the first batch is held, commits 2..5 rewrite the same key: the next batch must
      // carry exactly the state at its applied index.
      await store.commit([course("k", "1")], 1);
      for (let i = 2; i <= 5; i++) await store.commit([course("k", String(i)), course(`only${i}`, "x")], i);
      release();
      await store.whenFlushed();
      for (const batch of batches) {
        const k = batch.operations.find(([key]) => key === "d/courses/k");
        expect(k?.[1]).toContain(`"title":"${batch.appliedIndex}"`);
        const later = batch.operations.filter(
          ([key]) => /only(\d)/.test(key) && Number(key.slice(-1)) > batch.appliedIndex,
        );
        expect(later).toEqual([]);
      }
    });

    test("a snapshot taken while the disk is behind streams exactly the state at the call", async () => {
      const { store, release } = await heldStore();
      await store.commit([course("c1", "v1"), course("c2", "x")], 1);
      await store.commit([course("c1", "v2")], 2);
      const stream = store.snapshot();
      await store.commit([course("c1", "v3"), gone("c2"), course("c4", "z")], 3);
      release();
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(Buffer.from(chunk));
      const text = Buffer.concat(chunks).toString();
      expect(text).toContain('"appliedIndex":2');
      expect(text).toContain('"v2"');
      expect(text).toContain('"k":"c2"');
      expect(text).not.toContain('"v3"');
      expect(text).not.toContain('"k":"c4"');
      await store.whenFlushed();
      expect((await store.get("courses", "c1"))?.title).toBe("v3");
    });

    test("a failed background write fails every later write and sync, and reads still answer", async () => {
      const dir = await mkdtemp(join(tmpdir(), "lms-level-"));
      const store = await LevelLmsStore.open(dir, {
        beforeFlush: async () => {
          throw new Error("EIO: simulated disk failure");
        },
      });
      opened.push({ store, dir });
      await store.commit([course("c1", "v1")], 1);
      await expect(store.whenFlushed()).rejects.toThrow(/EIO/);
      await expect(store.commit([course("c2", "x")], 2)).rejects.toThrow(/EIO/);
      await expect(store.sync()).rejects.toThrow(/EIO/);
      expect(store.appliedIndex()).toBe(1);
      expect((await store.get("courses", "c1"))?.title).toBe("v1");
    });
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
