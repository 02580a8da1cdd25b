import { html, type SafeHtml } from "../html.js";

/** A time as a `<time>` element in UTC (the server does not know the reader's zone); 0 shows `empty`. */
export function timeTag(ms: number, empty = "—"): SafeHtml {
  if (ms === 0 || !Number.isFinite(ms)) return html`${empty}`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace("T", " ")} UTC</time>`;
}

/** A byte count a person can read: 812 B, 14.2 KiB, 3.1 MiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Points without trailing zeros: 7, 7.5, 7.25. */
export function formatPoints(points: number): string {
  return String(Math.round(points * 100) / 100);
}

/** The value a `datetime-local` input shows for a time (UTC), or empty. */
export function utcInputValue(ms: number): string {
  return ms === 0 ? "" : new Date(ms).toISOString().slice(0, 16);
}
