import { Interpreter } from "./interpreter.js";
import { parseScript, renderScript, type Step } from "./script.js";

/** A step whose actual output differs from the output its file expects. */
export interface Mismatch {
  readonly file: string;
  /** Line of the command. */
  readonly line: number;
  /** Line of the first differing output line (where a missing line would go). */
  readonly firstDifferenceLine: number;
  readonly command: string;
  readonly expected: readonly string[];
  readonly actual: readonly string[];
}

export interface ScriptRun {
  readonly mismatches: readonly Mismatch[];
  /** The file's text with every output block replaced by the actual output. */
  readonly updatedText: string;
}

/** The one flag that turns checking into rewriting: `UPDATE_GOLDEN=1 pnpm exec vitest run test/golden`. */
export const UPDATE_FLAG = "UPDATE_GOLDEN";

/**
 * Runs a scenario from a fresh cluster and compares each step's output with the expected block.
 * Every step runs even after a mismatch (later steps see the same state either way), so one run
 * reports every difference. Parse and command errors throw `ScriptError` naming the line.
 * @example const run = runScript(readFileSync(path, "utf8"), "election.txt");
 */
export function runScript(text: string, file: string): ScriptRun {
  const script = parseScript(text, file);
  const interpreter = new Interpreter();
  const outputs: string[][] = [];
  const mismatches: Mismatch[] = [];
  for (const step of script.steps) {
    const actual = interpreter.run(step.command);
    outputs.push(actual);
    const mismatch = compare(step, actual);
    if (mismatch !== undefined) mismatches.push(mismatch);
  }
  return { mismatches, updatedText: renderScript(script, outputs) };
}

function compare(step: Step, actual: readonly string[]): Mismatch | undefined {
  const expected = step.expected;
  let i = 0;
  while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
  if (i === expected.length && i === actual.length) return undefined;
  const { file, line, text } = step.command;
  return { file, line, firstDifferenceLine: line + 1 + i, command: text, expected, actual };
}

/**
 * A report a reader can act on: where, which command, and a line diff (`-` expected, `+` actual).
 */
export function formatMismatch(m: Mismatch): string {
  const header = `${m.file}:${m.firstDifferenceLine}: output of "> ${m.command}" (line ${m.line}) differs:`;
  return [header, ...lineDiff(m.expected, m.actual)].join("\n");
}

/** All mismatches of a run, with the command that accepts the new output. */
export function formatMismatches(mismatches: readonly Mismatch[]): string {
  if (mismatches.length === 0) return "";
  return [
    ...mismatches.map(formatMismatch),
    `If the new output is right, accept it with: ${UPDATE_FLAG}=1 pnpm exec vitest run test/golden`,
  ].join("\n\n");
}

/**
 * A minimal line diff by longest common subsequence (blocks are a few dozen lines, so the
 * quadratic table is cheap): unchanged lines start with two spaces, removed with `- `, added `+ `.
 */
export function lineDiff(expected: readonly string[], actual: readonly string[]): string[] {
  const n = expected.length;
  const m = actual.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = expected[i] === actual[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      out.push(`  ${expected[i++]}`);
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push(`- ${expected[i++]}`);
    } else {
      out.push(`+ ${actual[j++]}`);
    }
  }
  return out;
}
