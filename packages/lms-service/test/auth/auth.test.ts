import { createSigner } from "fast-jwt";
import { describe, expect, it } from "vitest";
import { LOGIN_WINDOW_MS, LoginLimiter, MAX_FAILED_LOGINS } from "../../src/auth/login-limiter.js";
import { hashPassword, passwordProblem, verifyPassword } from "../../src/auth/passwords.js";
import {
  AuthenticationError,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_LIFETIME_MS,
  TokenService,
} from "../../src/auth/tokens.js";

const SECRET = "s".repeat(40);

describe("passwords (scrypt)", () => {
  it("hashes with a fresh salt into a self-describing string and verifies only the right password", async () => {
    const [a, b] = await Promise.all([hashPassword("correct horse"), hashPassword("correct horse")]);
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(a).not.toBe(b); // salted
    expect(await verifyPassword("correct horse", a)).toBe(true);
    expect(await verifyPassword("correct horsf", a)).toBe(false);
    expect(a).not.toContain("correct");
  });

  it("never matches a malformed or hostile stored hash", async () => {
    for (const stored of ["", "plain", "scrypt$1$2$3", "scrypt$999999999$8$1$AA$AA", "bcrypt$1$1$1$AA$AA"]) {
      expect(await verifyPassword("anything", stored)).toBe(false);
    }
  });

  it("names what is wrong with a password", () => {
    expect(passwordProblem("short")).toMatch(/at least 8/);
    expect(passwordProblem("x".repeat(300))).toMatch(/at most/);
    expect(passwordProblem(42)).toMatch(/string/);
    expect(passwordProblem("long enough")).toBeUndefined();
  });
});

describe("TokenService (HS256 JWT shared by all nodes)", () => {
  const user = { userId: "u1", username: "ada", role: "student" as const };

  it("a token issued by one node is accepted by another with the same secret", () => {
    const { token, principal } = new TokenService(SECRET).issue(user);
    const other = new TokenService(SECRET);
    expect(other.authenticate(token)).toEqual(principal);
  });

  it("refuses a missing, forged, tampered, expired or revoked token with UNAUTHENTICATED", () => {
    let now = 1_800_000_000_000;
    const revoked = new Set<string>();
    const service = new TokenService(
      SECRET,
      (id) => revoked.has(id),
      () => now,
    );
    const { token, principal } = service.issue(user);
    const forged = new TokenService("f".repeat(40)).issue({ ...user, role: "admin" }).token;
    const [header, payload, signature] = token.split(".");
    const elevated = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), role: "admin" }),
    ).toString("base64url");
    const noneAlg = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${payload}.`;
    for (const bad of [undefined, "", "abc", forged, `${header}.${elevated}.${signature}`, noneAlg, "x".repeat(5000)]) {
      expect(() => service.authenticate(bad)).toThrow(AuthenticationError);
    }
    // Wrong audience, signed with the right secret.
    const foreign = createSigner({ key: SECRET, iss: TOKEN_ISSUER, aud: "other" })({
      sub: "u1",
      jti: "j",
      role: "admin",
      name: "x",
    });
    expect(() => service.authenticate(foreign)).toThrow(/not valid/);
    expect(service.authenticate(token).userId).toBe("u1");
    revoked.add(principal.tokenId);
    expect(() => service.authenticate(token)).toThrow(/logged out/);
    revoked.clear();
    now += TOKEN_LIFETIME_MS + 1_000;
    expect(() => service.authenticate(token)).toThrow(/expired/);
    void TOKEN_AUDIENCE;
  });

  it("refuses a short secret", () => {
    expect(() => new TokenService("short")).toThrow(/32 characters/);
  });
});

describe("LoginLimiter", () => {
  it("refuses after MAX_FAILED_LOGINS failures until the window passed; success clears the user", () => {
    let now = 0;
    const limiter = new LoginLimiter(() => now);
    const keys = ["user:ada", "ip:127.0.0.1"];
    for (let i = 0; i < MAX_FAILED_LOGINS; i++) {
      expect(limiter.retryAfterMs(keys)).toBe(0);
      limiter.recordFailure(keys);
    }
    expect(limiter.retryAfterMs(keys)).toBe(LOGIN_WINDOW_MS);
    expect(limiter.retryAfterMs(["ip:127.0.0.1"])).toBeGreaterThan(0); // the address is limited too
    now += LOGIN_WINDOW_MS;
    expect(limiter.retryAfterMs(keys)).toBe(0);
    limiter.recordFailure(["user:bob"]);
    limiter.recordSuccess("user:bob");
    expect(limiter.retryAfterMs(["user:bob"])).toBe(0);
  });
});
