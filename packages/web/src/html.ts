/**
 * A tiny HTML template helper: every interpolated value is escaped unless it is already
 * {@link SafeHtml} (the output of `html` itself, or an explicit `raw` for trusted fragments).
 */

/** HTML known to be safe to emit as is. */
export class SafeHtml {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value;
  }
}

const escapes: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/**
 * Escapes text for an HTML text node or a quoted attribute value.
 *
 * @example
 * ```ts
 * escapeHtml(`<a href="x">`); // "&lt;a href=&quot;x&quot;&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (character) => escapes[character] ?? character);
}

/**
 * Marks a trusted fragment (a constant, or markup built by code) as safe. Never pass user input.
 *
 * @example
 * ```ts
 * html`<p>${raw("&nbsp;")}</p>`;
 * ```
 */
export function raw(trusted: string): SafeHtml {
  return new SafeHtml(trusted);
}

/**
 * Builds HTML from a template, escaping every interpolated value. Arrays render each item in turn;
 * `undefined`, `null` and `false` render nothing, so `${cond && html`...`}` works.
 *
 * @example
 * ```ts
 * html`<h1>${course.title}</h1><ul>${items.map((item) => html`<li>${item}</li>`)}</ul>`;
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: readonly unknown[]): SafeHtml {
  let out = strings[0] ?? "";
  for (let index = 0; index < values.length; index += 1) {
    out += render(values[index]);
    out += strings[index + 1] ?? "";
  }
  return new SafeHtml(out);
}

function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return "";
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/**
 * A URL path from literal segments and values, each value percent-encoded as one segment, so an id
 * like `../admin` or `a?b` cannot change where a link points.
 *
 * @example
 * ```ts
 * path`/courses/${id}/grades.csv`; // "/courses/c%2F1/grades.csv" for id "c/1"
 * ```
 */
export function path(strings: TemplateStringsArray, ...values: readonly string[]): string {
  let out = strings[0] ?? "";
  for (let index = 0; index < values.length; index += 1) {
    out += encodeURIComponent(values[index] ?? "");
    out += strings[index + 1] ?? "";
  }
  return out;
}
