/** A JSON value as the LMS stores and logs it. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * JSON with object keys sorted (plain code-unit order) and `undefined` properties left out, so
 * equal values give equal text on every node: snapshots and fingerprints compare byte for byte.
 * Throws on values JSON cannot carry exactly (non-finite numbers, functions, bigints), which would
 * otherwise change silently in a round trip.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let text = "[";
    for (let i = 0; i < value.length; i++) text += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${text}]`;
  }
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    // The default sort compares strings by UTF-16 code units: the same order as compareCodeUnits,
    // without a call per comparison (this runs for every command and record, on every node).
    const keys = Object.keys(record).sort();
    let text = "{";
    let first = true;
    for (const key of keys) {
      const item = record[key];
      if (item === undefined) continue;
      text += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJson(item)}`;
      first = false;
    }
    return `${text}}`;
  }
  throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form`);
}

/** Plain UTF-16 code-unit order; never locale-dependent. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
