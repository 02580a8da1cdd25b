import { describe, expect, test } from "vitest";
import { renderHealth } from "../src/index.js";

describe("renderHealth", () => {
  test("reports healthy with one line per passing check", () => {
    expect(
      renderHealth([
        { name: "node n1", ok: true },
        { name: "node n2", ok: true },
      ]),
    ).toBe("healthy: 2 checks passed\nok   node n1\nok   node n2\n");
  });

  test("reports unhealthy, counts the failures and shows each failure's detail", () => {
    const body = renderHealth([
      { name: "node n1", ok: true },
      { name: "node n2", ok: false, detail: "unreachable" },
      { name: "node n3", ok: false },
    ]);
    expect(body).toBe("unhealthy: 2 of 3 checks failed\nok   node n1\nFAIL node n2: unreachable\nFAIL node n3\n");
  });

  test("uses the singular for one check and still renders with no checks", () => {
    expect(renderHealth([{ name: "store", ok: false, detail: "timeout" }])).toBe(
      "unhealthy: 1 of 1 check failed\nFAIL store: timeout\n",
    );
    expect(renderHealth([])).toBe("healthy: 0 checks passed\n");
  });

  test("a line break in a name or detail cannot forge an extra line", () => {
    const body = renderHealth([{ name: "node\nn1", ok: false, detail: "down\r\nok   node n9" }]);
    expect(body.split("\n")).toEqual(["unhealthy: 1 of 1 check failed", "FAIL node n1: down ok   node n9", ""]);
  });
});
