/**
 * The golden scenario file format: parsing a file into commands with their expected output, and
 * writing it back with new outputs. The format is documented in docs/golden-scenarios.md.
 *
 * A file is a sequence of lines:
 * - `> name arg key=value ...` is a command;
 * - the lines directly after a command, up to a blank line, a comment, another command or the end
 *   of the file, are that command's expected output;
 * - `# ...` lines are comments and blank lines separate steps; both are kept as they are when the
 *   file is rewritten.
 */

/** A scenario file that cannot be parsed or run; the message names the file and line. */
export class ScriptError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = "ScriptError";
  }
}

/** One parsed command line. */
export interface Command {
  readonly name: string;
  /** Positional arguments in order (node ids, proposal data, the `|` of a partition). */
  readonly args: readonly string[];
  /** `key=value` arguments. */
  readonly options: ReadonlyMap<string, string>;
  /** The command as written, without the leading `> `. */
  readonly text: string;
  readonly file: string;
  /** 1-based line number of the command in its file. */
  readonly line: number;
}

/** A command and the output the file expects from it. */
export interface Step {
  readonly command: Command;
  /** The command line exactly as written, kept when the file is rewritten. */
  readonly source: string;
  readonly expected: readonly string[];
}

/** The file as a sequence of verbatim lines and steps, so it can be written back in place. */
export type Segment = { readonly kind: "text"; readonly line: string } | { readonly kind: "step"; readonly step: Step };

export interface Script {
  readonly file: string;
  readonly segments: readonly Segment[];
  readonly steps: readonly Step[];
}

const COMMAND_PREFIX = ">";
const COMMENT_PREFIX = "#";

/**
 * Parses a scenario file's text. Throws {@link ScriptError} naming the line of anything that is
 * not a command, an output line, a comment or a blank line.
 * @example const script = parseScript(readFileSync(path, "utf8"), "election.txt");
 */
export function parseScript(text: string, file: string): Script {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const segments: Segment[] = [];
  const steps: Step[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.startsWith(COMMAND_PREFIX)) {
      if (line.trim() !== "" && !line.startsWith(COMMENT_PREFIX)) {
        throw new ScriptError(
          file,
          i + 1,
          `expected a command ("> name ..."), a comment ("# ...") or a blank line, got ${JSON.stringify(line)}; ` +
            "an output block must follow its command without a blank line",
        );
      }
      segments.push({ kind: "text", line });
      i++;
      continue;
    }
    const command = parseCommand(line.slice(COMMAND_PREFIX.length).trim(), file, i + 1);
    const expected: string[] = [];
    i++;
    while (i < lines.length && isOutputLine(lines[i])) expected.push(lines[i++].trimEnd());
    const step: Step = { command, source: line, expected };
    segments.push({ kind: "step", step });
    steps.push(step);
  }
  return { file, segments, steps };
}

function isOutputLine(line: string): boolean {
  return line.trim() !== "" && !line.startsWith(COMMAND_PREFIX) && !line.startsWith(COMMENT_PREFIX);
}

/** Splits a command into words; `"..."` quotes a word with spaces (JSON string escapes apply). */
export function parseCommand(text: string, file: string, line: number): Command {
  const words = tokenize(text, file, line);
  if (words.length === 0) throw new ScriptError(file, line, "empty command");
  const [first, ...rest] = words;
  if (first.quoted) throw new ScriptError(file, line, "a command name cannot be quoted");
  const args: string[] = [];
  const options = new Map<string, string>();
  for (const word of rest) {
    const eq = word.quoted ? -1 : word.value.indexOf("=");
    if (eq <= 0) {
      args.push(word.value);
      continue;
    }
    const key = word.value.slice(0, eq);
    if (options.has(key)) throw new ScriptError(file, line, `option ${key}= given twice`);
    options.set(key, word.value.slice(eq + 1));
  }
  return { name: first.value, args, options, text, file, line };
}

interface Word {
  readonly value: string;
  readonly quoted: boolean;
}

function tokenize(text: string, file: string, line: number): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === " " || text[i] === "\t") {
      i++;
      continue;
    }
    if (text[i] === '"') {
      const end = closingQuote(text, i);
      if (end < 0) throw new ScriptError(file, line, "unterminated quoted word");
      try {
        words.push({ value: JSON.parse(text.slice(i, end + 1)) as string, quoted: true });
      } catch {
        throw new ScriptError(file, line, `bad quoted word ${text.slice(i, end + 1)}`);
      }
      i = end + 1;
      continue;
    }
    let end = i;
    while (end < text.length && text[end] !== " " && text[end] !== "\t") end++;
    words.push({ value: text.slice(i, end), quoted: false });
    i = end;
  }
  return words;
}

function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

/**
 * The file's text with every step's output replaced by `outputs` (same order as `script.steps`);
 * comments, blank lines and commands are kept verbatim.
 */
export function renderScript(script: Script, outputs: readonly (readonly string[])[]): string {
  if (outputs.length !== script.steps.length) {
    throw new Error(`renderScript: ${script.steps.length} steps but ${outputs.length} outputs`);
  }
  const lines: string[] = [];
  let stepIndex = 0;
  for (const segment of script.segments) {
    if (segment.kind === "text") {
      lines.push(segment.line);
      continue;
    }
    lines.push(segment.step.source);
    lines.push(...outputs[stepIndex++]);
  }
  return lines.join("\n");
}
