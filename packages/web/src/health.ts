/** One thing the web front depends on, e.g. an LMS node, and whether it answered. */
export interface HealthCheck {
  readonly name: string;
  readonly ok: boolean;
  /** Why a check failed, shown after its name. */
  readonly detail?: string;
}

/**
 * Renders the plain-text body of a health endpoint: a first line `healthy` or `unhealthy` with the
 * number of failed checks, then one line per check in the order given. Line breaks inside names
 * and details become spaces, so a check cannot forge extra lines.
 *
 * @example
 * ```ts
 * renderHealth([{ name: "node n1", ok: true }, { name: "node n2", ok: false, detail: "unreachable" }]);
 * // "unhealthy: 1 of 2 checks failed\nok   node n1\nFAIL node n2: unreachable\n"
 * ```
 */
export function renderHealth(checks: readonly HealthCheck[]): string {
  const failed = checks.filter((check) => !check.ok).length;
  const headline =
    failed === 0
      ? `healthy: ${checks.length} ${plural(checks.length, "check")} passed`
      : `unhealthy: ${failed} of ${checks.length} ${plural(checks.length, "check")} failed`;
  const lines = checks.map((check) => {
    const name = oneLine(check.name);
    if (check.ok) return `ok   ${name}`;
    return check.detail === undefined ? `FAIL ${name}` : `FAIL ${name}: ${oneLine(check.detail)}`;
  });
  return `${[headline, ...lines].join("\n")}\n`;
}

function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, " ");
}

function plural(count: number, noun: string): string {
  return count === 1 ? noun : `${noun}s`;
}
