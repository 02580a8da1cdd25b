import type { Logger } from "@lectern/raft-core";

export type LogLevel = "debug" | "info" | "warn" | "error";

const levelRank: Readonly<Record<LogLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

/** True for a valid `LOG_LEVEL` value. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && Object.hasOwn(levelRank, value);
}

/**
 * raft-core's `Logger` writing one JSON object per line, shaped like pino's output (`level` as a
 * number, `time` in ms, `msg`), with fixed fields such as the node id on every line. raft-core adds
 * the term itself. Logging never throws: a field that cannot be serialised is replaced.
 *
 * @example
 * const logger = new JsonLineLogger({ node: "n1" });
 * logger.info({ term: 3 }, "became leader"); // {"level":30,"time":...,"node":"n1","term":3,"msg":"became leader"}
 */
export class JsonLineLogger implements Logger {
  constructor(
    private readonly fields: Readonly<Record<string, unknown>> = {},
    private readonly minimum: LogLevel = "info",
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
    private readonly now: () => number = Date.now,
  ) {}

  /** A logger with more fixed fields. */
  child(fields: Readonly<Record<string, unknown>>): JsonLineLogger {
    return new JsonLineLogger({ ...this.fields, ...fields }, this.minimum, this.write, this.now);
  }

  debug(fields: Record<string, unknown>, message: string): void {
    this.log("debug", fields, message);
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.log("info", fields, message);
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.log("warn", fields, message);
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.log("error", fields, message);
  }

  private log(level: LogLevel, fields: Record<string, unknown>, message: string): void {
    if (levelRank[level] < levelRank[this.minimum]) return;
    const record = { level: levelRank[level], time: this.now(), ...this.fields, ...fields, msg: message };
    let line: string;
    try {
      line = JSON.stringify(record, errorReplacer);
    } catch {
      line = JSON.stringify({
        level: levelRank[level],
        time: record.time,
        ...this.fields,
        msg: message,
        logError: "unserialisable fields",
      });
    }
    try {
      this.write(`${line}\n`);
    } catch {
      // A closed stdout must not take the node down.
    }
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error)
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === "bigint") return value.toString();
  return value;
}
