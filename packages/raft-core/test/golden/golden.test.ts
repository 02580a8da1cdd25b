import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatMismatches, runScript, UPDATE_FLAG } from "./runner.js";

/**
 * Runs every scenario in test/golden/scenarios (docs/golden-scenarios.md). With UPDATE_GOLDEN=1 the
 * files are rewritten with the actual output instead; review the diff before committing it.
 */
const scenarioDir = join(dirname(fileURLToPath(import.meta.url)), "scenarios");
const files = readdirSync(scenarioDir)
  .filter((name) => name.endsWith(".txt"))
  .sort();
const update = process.env[UPDATE_FLAG] === "1";

describe("golden scenarios", () => {
  it("finds the scenario files", () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  for (const name of files) {
    it(name, () => {
      const path = join(scenarioDir, name);
      const text = readFileSync(path, "utf8");
      const run = runScript(text, `test/golden/scenarios/${name}`);
      if (update) {
        if (run.updatedText !== text) writeFileSync(path, run.updatedText);
        return;
      }
      const report = formatMismatches(run.mismatches);
      if (report !== "") throw new Error(`\n${report}`);
      expect(run.updatedText).toBe(text);
    });
  }
});
