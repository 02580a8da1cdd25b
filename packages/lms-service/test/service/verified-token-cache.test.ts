import { expect, test } from "vitest";
import type { Principal } from "../../src/auth/tokens.js";
import { VerifiedTokenCache } from "../../src/service/verified-token-cache.js";

const principal = (tokenId: string, expiresAtMs: number): Principal => ({
  userId: "u1",
  username: "ann",
  role: "student",
  tokenId,
  expiresAtMs,
});

test("a verified token is answered until its expiry, never after", () => {
  const cache = new VerifiedTokenCache();
  cache.add("jwt-1", principal("t1", 1_000));
  expect(cache.get("jwt-1", 999)?.tokenId).toBe("t1");
  expect(cache.get("jwt-2", 999)).toBeUndefined();
  expect(cache.get("jwt-1", 1_000)).toBeUndefined();
  // An expired entry is dropped, so the caller verifies again (and gets the expiry error).
  expect(cache.size()).toBe(0);
});

test("holds at most its bound, dropping the oldest verified first", () => {
  const cache = new VerifiedTokenCache(2);
  cache.add("a", principal("ta", 10));
  cache.add("b", principal("tb", 10));
  cache.add("c", principal("tc", 10));
  expect(cache.size()).toBe(2);
  expect(cache.get("a", 0)).toBeUndefined();
  expect(cache.get("c", 0)?.tokenId).toBe("tc");
});
