/**
 * CSV for spreadsheets, safe against formula injection (OWASP "CSV Injection"): a cell starting
 * with = + - @, tab or carriage return is prefixed with a single quote so a spreadsheet shows it
 * as text instead of running it; every cell is quoted, with quotes doubled (RFC 4180).
 */
const formulaStart = /^[=+\-@\t\r]/;

/** One cell, neutralised and quoted. */
export function csvCell(value: string | number): string {
  const text = typeof value === "number" ? String(value) : value;
  // Numbers are written as numbers: a negative number is data, not a formula.
  const safe = typeof value === "string" && formulaStart.test(text) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

/** Rows as CSV text with CRLF line ends (RFC 4180). */
export function toCsv(rows: readonly (readonly (string | number)[])[]): string {
  return `${rows.map((row) => row.map(csvCell).join(",")).join("\r\n")}\r\n`;
}
