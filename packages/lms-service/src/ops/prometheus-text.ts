/** One sample of a metric: its labels (none for a plain value) and its value. */
export interface MetricSample {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric family in Prometheus' text exposition format 0.0.4. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly samples: readonly MetricSample[];
}

/** The content type Prometheus expects for the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Renders metric families as Prometheus text: `# HELP`, `# TYPE`, then one line per sample.
 * Label values are escaped (backslash, double quote, newline), so a method or peer name can never
 * break a line. Throws on an invalid metric or label name (a programming error).
 *
 * @example
 * renderPrometheusText([{ name: "x_total", help: "Xs.", type: "counter", samples: [{ value: 3 }] }]);
 * // "# HELP x_total Xs.\n# TYPE x_total counter\nx_total 3\n"
 */
export function renderPrometheusText(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!metricNamePattern.test(family.name)) throw new Error(`invalid metric name ${JSON.stringify(family.name)}`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples)
      lines.push(`${family.name}${renderLabels(sample.labels)} ${renderValue(sample.value)}`);
  }
  return `${lines.join("\n")}\n`;
}

function renderLabels(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return "";
  const parts = Object.entries(labels).map(([name, value]) => {
    if (!labelNamePattern.test(name)) throw new Error(`invalid label name ${JSON.stringify(name)}`);
    return `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
  });
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
