/** Digits of zero-padded numbers inside keys, so key order is numeric order (up to 10^12 - 1). */
export const paddedNumberDigits = 12;

/** A store key from parts joined with "/" (no part may contain "/": ids never do). */
export function key(...parts: readonly (string | number)[]): string {
  return parts.map((part) => (typeof part === "number" ? padded(part) : part)).join("/");
}

/** The prefix that lists every key starting with these parts (note the trailing "/"). */
export function prefix(...parts: readonly string[]): string {
  return `${parts.join("/")}/`;
}

/** `n` zero-padded to {@link paddedNumberDigits} digits. */
export function padded(n: number): string {
  return String(n).padStart(paddedNumberDigits, "0");
}
