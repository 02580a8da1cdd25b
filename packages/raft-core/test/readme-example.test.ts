import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));

describe("the README's example", () => {
  it("is examples/quickstart.ts verbatim", () => {
    const example = readFileSync(join(here, "../examples/quickstart.ts"), "utf8");
    const readme = readFileSync(join(here, "../../../README.md"), "utf8");
    expect(readme).toContain(example.trim());
  });

  it("runs: a proposal on a follower is applied and read back through another node", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    try {
      await import("../examples/quickstart.js");
    } finally {
      spy.mockRestore();
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^result 5, node c sees 5, leader [abc]$/);
  });
});
