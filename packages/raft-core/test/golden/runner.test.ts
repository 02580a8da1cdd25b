import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatMismatches, lineDiff, runScript } from "./runner.js";
import { parseScript, ScriptError } from "./script.js";

/** The golden runner itself: it must be able to fail, point at the line, and rewrite in place. */

const ELECTION = `# A one-node cluster elects itself: the candidate role never reaches a Ready.
> add-nodes a
a follower term=0 lead=- voter

> campaign a
a becomes leader term=1 lead=a
a hardstate term=1 vote=a commit=0
a persist [1@1 noop]
a hardstate term=1 vote=a commit=1
a apply [1@1 noop]
`;

describe("golden runner", () => {
  it("accepts a script whose expected output is right", () => {
    const run = runScript(ELECTION, "mem.txt");
    expect(run.mismatches).toEqual([]);
    expect(run.updatedText).toBe(ELECTION);
  });

  it("reports a wrong expected block with the file, the line of the first difference and a diff", () => {
    const wrong = ELECTION.replace("a hardstate term=1 vote=a commit=0", "a hardstate term=7 vote=a commit=0");
    const run = runScript(wrong, "mem.txt");
    expect(run.mismatches).toHaveLength(1);
    const [m] = run.mismatches;
    expect(m).toMatchObject({ file: "mem.txt", line: 5, firstDifferenceLine: 7, command: "campaign a" });
    const report = formatMismatches(run.mismatches);
    expect(report).toContain('mem.txt:7: output of "> campaign a" (line 5) differs:');
    expect(report).toContain("- a hardstate term=7 vote=a commit=0\n+ a hardstate term=1 vote=a commit=0");
    expect(report).toContain("UPDATE_GOLDEN=1 pnpm exec vitest run test/golden");
    // Regenerating restores the right text exactly, comments and blank lines included.
    expect(run.updatedText).toBe(ELECTION);
  });

  it("reports missing and surplus lines, and keeps running the steps after a mismatch", () => {
    const text = "> add-nodes a b\n\n> raft-state a\nsomething else\nextra line\n\n> raft-state b\n";
    const run = runScript(text, "mem.txt");
    expect(run.mismatches.map((m) => m.line)).toEqual([1, 3, 7]);
    expect(run.mismatches[0].firstDifferenceLine).toBe(2);
    expect(run.mismatches[1].firstDifferenceLine).toBe(4);
    expect(run.updatedText).toBe(
      "> add-nodes a b\na follower term=0 lead=- voter\nb follower term=0 lead=- voter\n\n" +
        "> raft-state a\na follower term=0 lead=- voter\n\n> raft-state b\nb follower term=0 lead=- voter\n",
    );
    expect(runScript(run.updatedText, "mem.txt").mismatches).toEqual([]);
  });

  it("prints ok for a command with nothing to show, so every block is visible", () => {
    const run = runScript("> add-nodes a b c\n\n> tick a\n", "mem.txt");
    expect(run.updatedText.endsWith("> tick a\nok\n")).toBe(true);
  });

  it("names the line of a stray line, an unknown command, a bad option and a core error", () => {
    expect(() => parseScript("> add-nodes a\n\nstray output\n", "mem.txt")).toThrow(/mem.txt:3: expected a command/);
    expect(() => runScript("# c\n> add-nodez a\n", "mem.txt")).toThrow(/mem.txt:2: unknown command add-nodez/);
    expect(() => runScript("> add-nodes a\n\n> deliver form=a\n", "mem.txt")).toThrow(
      /mem.txt:3: deliver: unknown option form= for deliver/,
    );
    expect(() => runScript("> campaign z\n", "mem.txt")).toThrow(/mem.txt:1: campaign: no node z/);
    expect(() => runScript("> add-nodes a election=2 heartbeat=2\n", "mem.txt")).toThrow(ScriptError);
  });

  it("parses quoted words and options", () => {
    const script = parseScript('> propose a "two words" x=1 "y=2"\n', "mem.txt");
    const { command } = script.steps[0];
    expect(command.args).toEqual(["a", "two words", "y=2"]);
    expect([...command.options]).toEqual([["x", "1"]]);
  });

  it("diffs lines with removals before additions", () => {
    expect(lineDiff(["a", "b", "c"], ["a", "x", "c", "d"])).toEqual(["  a", "- b", "+ x", "  c", "+ d"]);
    expect(lineDiff([], [])).toEqual([]);
  });

  it("runs the complete example in docs/golden-scenarios.md exactly as printed there", () => {
    const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "../../docs/golden-scenarios.md"), "utf8");
    const section = doc.slice(doc.indexOf("## A complete example"));
    const start = section.indexOf("```\n") + 4;
    const example = section.slice(start, section.indexOf("\n```", start) + 1);
    expect(example).toContain("> add-nodes a b");
    expect(runScript(example, "docs/golden-scenarios.md").mismatches).toEqual([]);
  });
});
