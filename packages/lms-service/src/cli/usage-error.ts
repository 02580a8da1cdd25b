/** Exit code of a `lectern` command given flags it does not understand (the usual CLI convention). */
export const usageExitCode = 2;

/**
 * A command line the `lectern` command cannot run: an unknown command or flag, a flag without its
 * value, or a setting out of range. The message says what was wrong; `helpCommand` is what to run
 * for the accepted flags.
 */
export class UsageError extends Error {
  /** Stable across module copies, where `instanceof` can fail. */
  readonly code = "USAGE";

  constructor(
    message: string,
    readonly helpCommand: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** True for a {@link UsageError} (also one from another copy of this module). */
export function isUsageError(error: unknown): error is UsageError {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "USAGE";
}

/**
 * Prints `error` for an operator and ends the process: exit code {@link usageExitCode} for a usage
 * error (with a pointer to the help), 1 for anything else.
 */
export function exitOnUsageError(error: unknown): never {
  if (isUsageError(error)) {
    process.stderr.write(`lectern: ${error.message}\nRun "${error.helpCommand}" to see what it accepts.\n`);
    process.exit(usageExitCode);
  }
  process.stderr.write(`lectern: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
