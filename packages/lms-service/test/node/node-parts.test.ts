import { describe, expect, it } from "vitest";
import { clusterIdFor, formatAddress } from "../../src/node/lms-node.js";

describe("node parts", () => {
  it("derives one cluster id per cluster secret", () => {
    const secret = "s".repeat(40);
    expect(clusterIdFor(secret)).toBe(clusterIdFor(secret));
    expect(clusterIdFor(secret)).not.toBe(clusterIdFor(`${secret}x`));
    expect(clusterIdFor(secret)).toMatch(/^lectern-[0-9a-f]{16}$/);
  });

  it("formats addresses, bracketing IPv6 hosts", () => {
    expect(formatAddress({ host: "127.0.0.1", port: 7001 })).toBe("127.0.0.1:7001");
    expect(formatAddress({ host: "::1", port: 7002 })).toBe("[::1]:7002");
  });
});
