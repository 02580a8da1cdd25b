import { describe, expect, test } from "vitest";
import { ListCache, listKeyOf, maxCachedListRecords } from "../../src/store/list-cache.js";
import { RecordCache } from "../../src/store/record-cache.js";

describe("RecordCache", () => {
  test("answers what was set (a text or a known absence) and nothing else", () => {
    const cache = new RecordCache(10_000);
    cache.set("a", "{}");
    cache.set("b", null);
    expect(cache.get("a")).toBe("{}");
    expect(cache.get("b")).toBeNull();
    expect(cache.get("c")).toBeUndefined();
    cache.set("a", '{"x":1}');
    expect(cache.get("a")).toBe('{"x":1}');
    cache.forget("a");
    expect(cache.get("a")).toBeUndefined();
  });

  test("stays within its byte bound, keeping entries read since the last eviction pass", () => {
    // Each entry costs 1 (key) + 10 (text) + 64 overhead = 75 bytes: four fit in 300.
    const cache = new RecordCache(300);
    for (const key of ["a", "b", "c", "d"]) cache.set(key, "0123456789");
    expect(cache.size()).toBe(4);
    cache.get("a");
    cache.set("e", "0123456789");
    expect(cache.size()).toBe(4);
    expect(cache.get("a")).toBe("0123456789");
    expect(cache.get("b")).toBeUndefined();
    // An entry larger than the whole bound is never held.
    cache.set("huge", "x".repeat(400));
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.size()).toBeLessThanOrEqual(4);
  });

  test("clear forgets everything", () => {
    const cache = new RecordCache();
    cache.set("a", "1");
    cache.clear();
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size()).toBe(0);
  });
});

describe("ListCache", () => {
  const entries = [["d/courses/c1", "{}"]] as const;
  const listKey = listKeyOf("courses", "", undefined, 10);

  test("a change to the collection retires its lists; changes elsewhere do not", () => {
    const cache = new ListCache();
    cache.set("courses", listKey, cache.generationOf("courses"), entries);
    expect(cache.get("courses", listKey)).toEqual(entries);
    cache.changed("notes");
    expect(cache.get("courses", listKey)).toEqual(entries);
    cache.changed("courses");
    expect(cache.get("courses", listKey)).toBeUndefined();
  });

  test("a result read across a change is not kept", () => {
    const cache = new ListCache();
    const generation = cache.generationOf("courses");
    cache.changed("courses");
    cache.set("courses", listKey, generation, entries);
    expect(cache.get("courses", listKey)).toBeUndefined();
  });

  test("long results are not kept, the number of lists is bounded, clear retires all", () => {
    const cache = new ListCache(2);
    const long = Array.from({ length: maxCachedListRecords + 1 }, (_, i) => [`k${i}`, "{}"] as const);
    cache.set("courses", listKey, cache.generationOf("courses"), long);
    expect(cache.get("courses", listKey)).toBeUndefined();
    const keys = [1, 2, 3].map((limit) => listKeyOf("courses", "", undefined, limit));
    for (const key of keys) cache.set("courses", key, cache.generationOf("courses"), entries);
    expect(cache.get("courses", keys[0])).toBeUndefined();
    expect(cache.get("courses", keys[2])).toEqual(entries);
    cache.clear();
    expect(cache.get("courses", keys[2])).toBeUndefined();
  });

  test("list keys tell apart a missing start from an empty one", () => {
    expect(listKeyOf("courses", "a", undefined, 5)).not.toBe(listKeyOf("courses", "a", "", 5));
  });
});
