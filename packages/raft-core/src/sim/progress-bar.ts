/** Width of the bar itself, in characters. */
const DEFAULT_BAR_WIDTH_CHARS = 30;
/** Without a terminal, a plain line is printed each time progress crosses another multiple of this. */
const DEFAULT_LINE_EVERY_PERCENT = 10;

export interface ProgressBarOptions {
  /** Units of work in all (seeds, virtual milliseconds...). */
  readonly total: number;
  /** Where the bar goes (stderr in the CLI). */
  readonly write: (text: string) => void;
  /** True for a terminal: the bar redraws in place; otherwise plain lines every few percent. */
  readonly isTty: boolean;
  /** Printed before the bar, e.g. "search". */
  readonly label: string;
  readonly barWidthChars?: number;
  readonly lineEveryPercent?: number;
}

/**
 * A progress display for long CLI runs. On a terminal it redraws one line in place
 * (`search [#########.....] 450/1000  45%  2 failing`); in a log file or CI it prints a plain line
 * each time another `lineEveryPercent` of the work is done, so logs stay short.
 *
 * @example
 * const bar = new ProgressBar({ total: 100, write: (s) => process.stderr.write(s), isTty: true, label: "search" });
 * bar.update(40, "0 failing");
 * bar.finish("done");
 */
export class ProgressBar {
  private readonly total: number;
  private readonly write: (text: string) => void;
  private readonly isTty: boolean;
  private readonly label: string;
  private readonly barWidthChars: number;
  private readonly lineEveryPercent: number;
  private nextLinePercent: number;
  private lastLineLength = 0;

  constructor(options: ProgressBarOptions) {
    this.total = Math.max(1, options.total);
    this.write = options.write;
    this.isTty = options.isTty;
    this.label = options.label;
    this.barWidthChars = options.barWidthChars ?? DEFAULT_BAR_WIDTH_CHARS;
    this.lineEveryPercent = options.lineEveryPercent ?? DEFAULT_LINE_EVERY_PERCENT;
    this.nextLinePercent = this.lineEveryPercent;
  }

  /** Shows that `done` of `total` units are finished; `detail` follows the figures. */
  update(done: number, detail = ""): void {
    const percent = Math.min(100, Math.floor((done * 100) / this.total));
    if (this.isTty) {
      this.redraw(this.render(done, percent, detail));
      return;
    }
    if (percent < this.nextLinePercent) return;
    while (this.nextLinePercent <= percent) this.nextLinePercent += this.lineEveryPercent;
    this.write(`${this.label}: ${done}/${this.total} (${percent}%)${detail ? `  ${detail}` : ""}\n`);
  }

  /** Ends the display: on a terminal the bar line is cleared, and `summary` (if any) is printed. */
  finish(summary = ""): void {
    if (this.isTty && this.lastLineLength > 0) this.redraw("");
    if (this.isTty) this.write("\r");
    if (summary !== "") this.write(`${summary}\n`);
  }

  private render(done: number, percent: number, detail: string): string {
    const filled = Math.min(this.barWidthChars, Math.floor((done * this.barWidthChars) / this.total));
    const bar = "#".repeat(filled) + ".".repeat(this.barWidthChars - filled);
    return `${this.label} [${bar}] ${done}/${this.total} ${String(percent).padStart(3)}%${detail ? `  ${detail}` : ""}`;
  }

  /** Overwrites the current terminal line, padding with spaces when the new text is shorter. */
  private redraw(line: string): void {
    const padding = this.lastLineLength > line.length ? " ".repeat(this.lastLineLength - line.length) : "";
    this.write(`\r${line}${padding}`);
    this.lastLineLength = line.length;
  }
}
