import { describe, expect, it } from "vitest";
import { JsonLineLogger } from "../../src/node/json-logger.js";
import { clusterIdFor, formatAddress } from "../../src/node/lms-node.js";

describe("node parts", () => {
  it("logs one JSON object per line with the fixed fields, above the level only", () => {
    const lines: string[] = [];
    const logger = new JsonLineLogger(
      { node: "n1" },
      "info",
      (line) => lines.push(line),
      () => 42,
    );
    logger.debug({ a: 1 }, "hidden");
    logger.child({ term: 3 }).warn({ err: new Error("boom") }, "became follower");
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith("\n")).toBe(true);
    expect(JSON.parse(lines[0])).toEqual({
      level: 40,
      time: 42,
      node: "n1",
      term: 3,
      err: { name: "Error", message: "boom" },
      msg: "became follower",
    });
  });

  it("survives fields it cannot serialise", () => {
    const lines: string[] = [];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    new JsonLineLogger({}, "debug", (line) => lines.push(line)).error({ cyclic }, "still logged");
    expect(JSON.parse(lines[0]).msg).toBe("still logged");
  });

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
