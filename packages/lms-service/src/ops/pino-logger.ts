import type { Logger } from "@lectern/raft-core";
import { type DestinationStream, type Level, type Logger as Pino, pino } from "pino";

/** The `LOG_LEVEL` values a node accepts. */
export const NODE_LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type NodeLogLevel = (typeof NODE_LOG_LEVELS)[number];

/** True for a valid `LOG_LEVEL` value. */
export function isNodeLogLevel(value: unknown): value is NodeLogLevel {
  return typeof value === "string" && (NODE_LOG_LEVELS as readonly string[]).includes(value);
}

/** Where the current Raft term comes from; undefined while Raft has not started. */
export type TermSource = () => number | undefined;

export interface NodeLoggerOptions {
  readonly nodeId: string;
  readonly level?: NodeLogLevel;
  /** Default: stdout, written synchronously so a crash loses no line. */
  readonly destination?: DestinationStream;
}

/**
 * raft-core's `Logger` over a pino logger: one JSON object per line with `node` on every line and
 * the Raft `term` on every line once a term source is attached (fields given to a call win, so a
 * line about an older term keeps that term).
 *
 * @example
 * const logger = createNodeLogger({ nodeId: "n1" });
 * logger.attachTerm(() => raft.status().term);
 * logger.info({ index: 7 }, "applied"); // {"level":30,"time":...,"node":"n1","term":3,"index":7,"msg":"applied"}
 */
export class PinoRaftLogger implements Logger {
  private constructor(
    /** The pino logger underneath (for libraries that take a pino instance). */
    readonly pino: Pino,
    private readonly term: { source: TermSource },
    private readonly nodeId: string | undefined,
  ) {}

  /**
   * Wraps `root`, adding the term from the (later attached) term source to every line. `nodeId`
   * names the node `root` already carries, so a call's own `node` field equal to it is not repeated.
   */
  static over(root: Pino, nodeId?: string): PinoRaftLogger {
    const term: { source: TermSource } = { source: () => undefined };
    return new PinoRaftLogger(root, term, nodeId);
  }

  /** Makes every later line carry the term `source` returns (absent while it returns undefined). */
  attachTerm(source: TermSource): void {
    this.term.source = source;
  }

  /** A logger with more fixed fields, sharing this one's term source. */
  child(fields: Readonly<Record<string, unknown>>): PinoRaftLogger {
    return new PinoRaftLogger(this.pino.child(fields), this.term, this.nodeId);
  }

  debug(fields: Record<string, unknown>, message: string): void {
    this.write("debug", fields, message);
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.write("info", fields, message);
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.write("warn", fields, message);
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.write("error", fields, message);
  }

  private write(level: Level, fields: Record<string, unknown>, message: string): void {
    if (!this.pino.isLevelEnabled(level)) return;
    let term: number | undefined;
    try {
      term = this.term.source();
    } catch {
      term = undefined; // A status read during shutdown must not stop the line.
    }
    let line = fields;
    if (this.nodeId !== undefined && fields.node === this.nodeId) {
      const { node: _sameNode, ...rest } = fields;
      line = rest;
    }
    if (term !== undefined && !("term" in line)) line = { term, ...line };
    try {
      this.pino[level](line, message);
    } catch {
      // A closed stdout must not take the node down.
    }
  }
}

/**
 * The node's logger: pino with `node` on every line, ISO-free numeric `time` (pino's default), and
 * `err` fields serialised with pino's error serializer.
 */
export function createNodeLogger(options: NodeLoggerOptions): PinoRaftLogger {
  const root = pino(
    {
      level: options.level ?? "info",
      base: { node: options.nodeId },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  return PinoRaftLogger.over(root, options.nodeId);
}
