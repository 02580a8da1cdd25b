import fc from "fast-check";
import { expect, test } from "vitest";
import { canonicalJson, compareCodeUnits } from "../../src/domain/canonical-json.js";

/** The definition, written plainly: what the optimised encoder must equal byte for byte. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    const parts = Object.keys(record)
      .sort(compareCodeUnits)
      .filter((key) => record[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`);
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(value);
}

const keyText = fc.string({ unit: "binary", maxLength: 6 });
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: "binary", maxLength: 8 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(keyText, fc.option(tie("value"), { nil: undefined }), { maxKeys: 5 }),
  ),
})).value;

test("canonicalJson equals the plain definition (sorted keys, undefined left out)", () => {
  fc.assert(
    fc.property(jsonish, (value) => {
      expect(canonicalJson(value)).toBe(reference(value));
    }),
    { numRuns: 500 },
  );
});

test("refuses values JSON cannot carry exactly", () => {
  expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
  expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(TypeError);
  expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
  expect(canonicalJson({ b: 1, a: [true, null, "x"], c: undefined })).toBe('{"a":[true,null,"x"],"b":1}');
});
