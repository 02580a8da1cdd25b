import { maxTimestampMs } from "./limits.js";

/**
 * How one command field is checked. `check` returns why the value is wrong, or undefined.
 * `stamped` marks fields the accepting node fills (ids, hashes, time): they differ between two
 * proposals of the same client request, so the idempotency fingerprint leaves them out.
 */
export interface FieldRule {
  readonly check: (value: unknown) => string | undefined;
  readonly optional: boolean;
  readonly stamped: boolean;
}

function rule(check: FieldRule["check"]): FieldRule {
  return { check, optional: false, stamped: false };
}

/** A boolean. */
export function flag(): FieldRule {
  return rule((value) => (typeof value === "boolean" ? undefined : "must be true or false"));
}

/** The same rule, but the field may be absent. */
export function optional(base: FieldRule): FieldRule {
  return { ...base, optional: true };
}

/** The same rule, for a field the accepting node fills. */
export function stamped(base: FieldRule): FieldRule {
  return { ...base, stamped: true };
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `value` holds a C0 control character or DEL; tab, LF and CR pass when `allowWhitespace`. */
function hasControlCharacter(value: string, allowWhitespace: boolean): boolean {
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0x20 && unit !== 0x7f) continue;
    // Tab, line feed and carriage return are the only control characters free text may hold.
    if (allowWhitespace && (unit === 0x09 || unit === 0x0a || unit === 0x0d)) continue;
    return true;
  }
  return false;
}

/**
 * Free text of at most `maxChars` UTF-16 units: well-formed (no lone surrogates, which would not
 * survive UTF-8), no control characters but tab and newlines (none at all when `singleLine`).
 */
export function text(maxChars: number, options: { minChars?: number; singleLine?: boolean } = {}): FieldRule {
  const minChars = options.minChars ?? 0;
  return rule((value) => {
    if (typeof value !== "string") return "must be a string";
    if (value.length < minChars) return `must have at least ${minChars} characters`;
    if (value.length > maxChars) return `must have at most ${maxChars} characters`;
    if (loneSurrogate.test(value)) return "must be well-formed Unicode";
    if (hasControlCharacter(value, !options.singleLine)) {
      return "must not contain control characters";
    }
    if (options.minChars !== undefined && value.trim().length < minChars) return "must not be blank";
    return undefined;
  });
}

/** A string matching `pattern` (anchored), described by `what` in the error. */
export function matching(pattern: RegExp, what: string): FieldRule {
  return rule((value) => (typeof value === "string" && pattern.test(value) ? undefined : `must be ${what}`));
}

/** An integer in [min, max]. */
export function integer(min: number, max: number): FieldRule {
  return rule((value) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max
      ? undefined
      : `must be an integer from ${min} to ${max}`,
  );
}

/** Milliseconds since the epoch: an integer from 0 to the largest Date. */
export function timestamp(): FieldRule {
  return integer(0, maxTimestampMs);
}

/** A finite number in [0, max] with at most two decimals (points: 7.5, 9.25). */
export function hundredths(max: number): FieldRule {
  return rule((value) => {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max) {
      return `must be a number from 0 to ${max}`;
    }
    return Math.abs(Math.round(value * 100) - value * 100) < 1e-6 ? undefined : "must have at most two decimals";
  });
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Canonical padded base64 of 1 to `maxBytes` bytes (canonical: it re-encodes to the same text). */
export function base64(maxBytes: number): FieldRule {
  return rule((value) => {
    if (typeof value !== "string" || value.length === 0 || !base64Pattern.test(value)) {
      return "must be non-empty padded base64";
    }
    if (value.length > Math.ceil(maxBytes / 3) * 4) return `must decode to at most ${maxBytes} bytes`;
    const bytes = Buffer.from(value, "base64");
    if (bytes.byteLength > maxBytes) return `must decode to at most ${maxBytes} bytes`;
    if (bytes.toString("base64") !== value) return "must be canonical base64";
    return undefined;
  });
}

/** An array of `minItems`..`maxItems` items, each passing `item`, with no repeats when `unique`. */
export function list(item: FieldRule, minItems: number, maxItems: number, unique: boolean): FieldRule {
  return rule((value) => {
    if (!Array.isArray(value)) return "must be an array";
    if (value.length < minItems || value.length > maxItems) {
      return `must have from ${minItems} to ${maxItems} items`;
    }
    for (let i = 0; i < value.length; i++) {
      const problem = item.check(value[i]);
      if (problem !== undefined) return `item ${i} ${problem}`;
    }
    if (unique && new Set(value).size !== value.length) return "must not repeat an item";
    return undefined;
  });
}
