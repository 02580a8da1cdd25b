import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * True when the module at `moduleUrl` is the script node was started with (`node dist/node/main.js`),
 * false when another module imports it (the `lectern` command, a test). Symlinks are resolved, so a
 * linked path to the same file counts.
 *
 * @example
 * if (isEntryModule(import.meta.url)) void run();
 */
export function isEntryModule(moduleUrl: string, argv: readonly string[] = process.argv): boolean {
  const script = argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
