import type { Command } from "./script.js";

/** A node id a script may use: no spaces, and none of the characters the format gives a meaning. */
const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

/**
 * Typed access to one command's arguments. Every option a command reads must be declared with
 * `allow`, so that a misspelt option is an error instead of being silently ignored.
 */
export class CommandArgs {
  private readonly allowed = new Set<string>();

  constructor(readonly command: Command) {}

  /** Declares the options this command understands and rejects any other. */
  allow(...names: string[]): this {
    for (const name of names) this.allowed.add(name);
    for (const key of this.command.options.keys()) {
      if (!this.allowed.has(key)) {
        const known = [...this.allowed].map((n) => `${n}=`).join(", ") || "none";
        throw new Error(`unknown option ${key}= for ${this.command.name} (known: ${known})`);
      }
    }
    return this;
  }

  get positional(): readonly string[] {
    return this.command.args;
  }

  has(name: string): boolean {
    return this.command.options.has(name);
  }

  string(name: string): string | undefined {
    return this.command.options.get(name);
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const raw = this.command.options.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`${name}= must be a non-negative integer, got ${raw}`);
    return value;
  }

  /** `on`/`off` (also `true`/`false`). */
  bool(name: string, fallback: boolean): boolean {
    const raw = this.command.options.get(name);
    if (raw === undefined) return fallback;
    if (raw === "on" || raw === "true") return true;
    if (raw === "off" || raw === "false") return false;
    throw new Error(`${name}= must be on or off, got ${raw}`);
  }

  /** A comma-separated list; `name=` with nothing after it is the empty list. */
  list(name: string): string[] | undefined {
    const raw = this.command.options.get(name);
    if (raw === undefined) return undefined;
    return raw === "" ? [] : raw.split(",");
  }

  /** A comma-separated list of node ids, checked for shape. */
  ids(name: string): string[] | undefined {
    const list = this.list(name);
    for (const id of list ?? []) checkNodeId(id);
    return list;
  }
}

/** Throws unless `id` can be used as a node id in a script. */
export function checkNodeId(id: string): string {
  if (!NODE_ID_PATTERN.test(id)) throw new Error(`bad node id ${JSON.stringify(id)} (use letters, digits, _ . -)`);
  return id;
}
