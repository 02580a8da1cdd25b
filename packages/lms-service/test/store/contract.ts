import { describe, expect, test } from "vitest";
import type { CourseRecord } from "../../src/domain/records.js";
import type { LmsStore, StoreWrite } from "../../src/store/lms-store.js";
import { MemoryLmsStore } from "../../src/store/memory-store.js";

/** How the contract suite gets stores of one implementation. */
export interface StoreFactory {
  readonly name: string;
  /** A new, empty store. */
  open(): Promise<LmsStore>;
  /** Closes `store` and opens the same data again (to check what survives a restart). */
  reopen(store: LmsStore): Promise<LmsStore>;
  /** Closes every store opened, at the end of each test. */
  cleanup(): Promise<void>;
}

const course = (courseId: string, title = "T"): CourseRecord => ({
  courseId,
  title,
  description: "",
  ownerId: "alice",
  createdAt: 1,
});
const put = (courseId: string, title = "T"): StoreWrite => ({
  collection: "courses",
  key: courseId,
  value: course(courseId, title),
});
const del = (courseId: string): StoreWrite => ({ collection: "courses", key: courseId, value: undefined });
const member = (key: string): StoreWrite => ({
  collection: "courseMembers",
  key,
  value: { courseId: key.split("/")[0], userId: key.split("/")[1], role: "student", since: 1, source: "instructor" },
});

async function bytesOf(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* streamOf(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/** The behaviour every `LmsStore` must have; run once per implementation. */
export function runStoreContract(factory: StoreFactory): void {
  describe(`LmsStore contract: ${factory.name}`, () => {
    const withStore = (name: string, body: (store: LmsStore) => Promise<void>) =>
      test(name, async () => {
        try {
          await body(await factory.open());
        } finally {
          await factory.cleanup();
        }
      });

    withStore("an empty store is at index 0 with nothing in it", async (store) => {
      expect(store.appliedIndex()).toBe(0);
      expect(await store.get("courses", "c1")).toBeUndefined();
      expect(await store.list("courses", "")).toEqual([]);
    });

    withStore("a commit lands its writes and its index together; reads are copies", async (store) => {
      await store.commit([put("c1"), put("c2"), del("c2"), put("c3", "old"), put("c3", "new")], 5);
      expect(store.appliedIndex()).toBe(5);
      expect(store.durableIndex()).toBeLessThanOrEqual(5);
      expect(await store.get("courses", "c1")).toEqual(course("c1"));
      expect(await store.get("courses", "c2")).toBeUndefined();
      expect((await store.get("courses", "c3"))?.title).toBe("new");
      const read = (await store.get("courses", "c1")) as { title: string };
      read.title = "mutated";
      expect((await store.get("courses", "c1"))?.title).toBe("T");
      await store.commit([del("c1")], 6);
      expect(await store.get("courses", "c1")).toBeUndefined();
      await store.sync();
      expect(store.durableIndex()).toBe(6);
    });

    withStore("a commit must move the index forward and changes nothing otherwise", async (store) => {
      await store.commit([put("c1")], 3);
      await expect(store.commit([put("c2")], 3)).rejects.toThrow();
      await expect(store.commit([put("c2")], 2)).rejects.toThrow();
      expect(store.appliedIndex()).toBe(3);
      expect(await store.get("courses", "c2")).toBeUndefined();
    });

    withStore("lists are prefix scans in key order with paging", async (store) => {
      await store.commit(["c1/s2", "c1/s1", "c10/s1", "c2/s1", "c1/s3"].map(member), 1);
      const c1 = await store.list("courseMembers", "c1/");
      expect(c1.map((entry) => entry.key)).toEqual(["c1/s1", "c1/s2", "c1/s3"]);
      expect(c1[0].value.userId).toBe("s1");
      expect((await store.list("courseMembers", "c1/", { limit: 2 })).map((e) => e.key)).toEqual(["c1/s1", "c1/s2"]);
      expect((await store.list("courseMembers", "c1/", { startAfter: "c1/s1" })).map((e) => e.key)).toEqual([
        "c1/s2",
        "c1/s3",
      ]);
      expect((await store.list("courseMembers", "")).length).toBe(5);
      expect(await store.list("courses", "c1/")).toEqual([]);
    });

    withStore("what was committed survives a reopen", async (store) => {
      await store.commit([put("c1")], 4);
      await store.sync();
      const reopened = await factory.reopen(store);
      expect(reopened.appliedIndex()).toBe(4);
      expect(await reopened.get("courses", "c1")).toEqual(course("c1"));
    });

    withStore("a snapshot shows the state at the call; later commits do not change it", async (store) => {
      await store.commit([put("c1"), member("c1/s1")], 7);
      const stream = store.snapshot();
      await store.commit([put("c2"), del("c1")], 8);
      const bytes = await bytesOf(stream);
      const text = bytes.toString();
      expect(text).toContain('"appliedIndex":7');
      expect(text).toContain('"k":"c1"');
      expect(text).not.toContain('"k":"c2"');
    });

    withStore("snapshot bytes equal the reference store's, and restore round-trips", async (store) => {
      const writes = [put("c1"), put("b"), member("c1/s1"), member("c1/s0")];
      await store.commit(writes, 9);
      const reference = new MemoryLmsStore();
      await reference.commit(writes, 9);
      const bytes = await bytesOf(store.snapshot());
      expect(bytes.equals(await bytesOf(reference.snapshot()))).toBe(true);
      const fresh = await factory.open();
      await fresh.commit([put("stale")], 2);
      expect(await fresh.restore(streamOf(bytes.subarray(0, 10), bytes.subarray(10)))).toBe(9);
      expect(fresh.appliedIndex()).toBe(9);
      expect(await fresh.get("courses", "stale")).toBeUndefined();
      expect((await bytesOf(fresh.snapshot())).equals(bytes)).toBe(true);
      await fresh.commit([put("after")], 10);
      expect(await fresh.get("courses", "after")).toBeDefined();
    });

    withStore("reads stay exact through prefetch, repeated reads, commits and deletes", async (store) => {
      await store.commit([put("c1", "one"), member("c1/s1"), member("c1/s2")], 1);
      await store.prefetch([
        { collection: "courses", key: "c1" },
        { collection: "courses", key: "absent" },
        { collection: "courseMembers", key: "c1/s1" },
      ]);
      expect((await store.get("courses", "c1"))?.title).toBe("one");
      expect(await store.get("courses", "absent")).toBeUndefined();
      // A copy each time: changing what a read returned never changes the next read.
      const first = (await store.get("courses", "c1")) as { title: string };
      first.title = "mutated";
      expect((await store.get("courses", "c1"))?.title).toBe("one");
      const listed = await store.list("courseMembers", "c1/");
      expect(listed.map((r) => r.key)).toEqual(["c1/s1", "c1/s2"]);
      (listed[0].value as { role: string }).role = "mutated";
      expect((await store.list("courseMembers", "c1/"))[0].value.role).toBe("student");
      // Commits replace, add and delete records that were read (and so may be held in memory).
      await store.commit(
        [put("c1", "two"), put("absent"), del("c1"), put("c1", "three"), { ...member("c1/s1"), value: undefined }],
        2,
      );
      expect((await store.get("courses", "c1"))?.title).toBe("three");
      expect(await store.get("courses", "absent")).toBeDefined();
      expect((await store.list("courseMembers", "c1/")).map((r) => r.key)).toEqual(["c1/s2"]);
      await store.commit([member("c1/s0")], 3);
      expect((await store.list("courseMembers", "c1/")).map((r) => r.key)).toEqual(["c1/s0", "c1/s2"]);
    });

    withStore("the revocation list is exact across commits, reopen and restore", async (store) => {
      const revoked = (tokenId: string): StoreWrite => ({
        collection: "revokedTokens",
        key: tokenId,
        value: { tokenId, userId: "u1", revokedAt: 5, expiresAt: 10 },
      });
      expect(await store.get("revokedTokens", "t1")).toBeUndefined();
      await store.commit([revoked("t1"), revoked("t2")], 1);
      expect((await store.get("revokedTokens", "t1"))?.userId).toBe("u1");
      await store.commit([{ collection: "revokedTokens", key: "t2", value: undefined }], 2);
      expect(await store.get("revokedTokens", "t2")).toBeUndefined();
      const reopened = await factory.reopen(store);
      expect((await reopened.get("revokedTokens", "t1"))?.tokenId).toBe("t1");
      expect(await reopened.get("revokedTokens", "t2")).toBeUndefined();
      const bytes = await bytesOf(reopened.snapshot());
      const target = await factory.open();
      await target.commit([revoked("stale")], 1);
      expect(await target.get("revokedTokens", "stale")).toBeDefined();
      await target.restore(streamOf(bytes));
      expect(await target.get("revokedTokens", "stale")).toBeUndefined();
      expect((await target.get("revokedTokens", "t1"))?.tokenId).toBe("t1");
    });

    withStore("a damaged snapshot stream is refused", async (store) => {
      await store.commit([put("c1"), put("c2")], 3);
      const bytes = await bytesOf(store.snapshot());
      const lines = bytes.toString().trimEnd().split("\n");
      const truncated = Buffer.from(`${lines.slice(0, -2).join("\n")}\n${lines[lines.length - 1]}\n`);
      const target = await factory.open();
      await expect(target.restore(streamOf(truncated))).rejects.toThrow(/records/);
      await expect(target.restore(streamOf(bytes.subarray(0, bytes.byteLength - 3)))).rejects.toThrow();
      await expect(target.restore(streamOf(Buffer.from('{"format":"other"}\n')))).rejects.toThrow(
        /lectern-lms-snapshot/,
      );
    });
  });
}
