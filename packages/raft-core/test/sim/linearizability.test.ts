import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { OperationOutcome, OperationRecord } from "../../src/sim/history.js";
import type { KvResult } from "../../src/sim/kv-command.js";
import {
  checkLinearizability,
  defaultStepBudgetPerKey,
  type HistoryWindow,
  type LinearizabilityResult,
  maxUnknownKeyRatio,
  prefixWindows,
  quiescentCuts,
  removeSoundly,
} from "../../src/sim/linearizability.js";

// ---------------------------------------------------------------------------------------------
// Hand-written histories: each op is built without id/client; `history()` numbers them in order.

type Draft = Omit<OperationRecord, "id" | "client"> & { readonly client?: number };

function history(...drafts: Draft[]): OperationRecord[] {
  return drafts.map(({ client, ...rest }, id) => ({ id, client: client ?? id, ...rest }));
}

function ended(completeMs: number | null, outcome: OperationOutcome | undefined, result: KvResult) {
  const final: OperationOutcome = outcome ?? (completeMs === null ? "indeterminate" : "ok");
  return final === "ok" ? { completeMs, outcome: final, result } : { completeMs, outcome: final };
}

/** A put on `key` over [invokeMs, completeMs]; completeMs null = indeterminate. */
function put(
  key: string,
  value: string,
  invokeMs: number,
  completeMs: number | null,
  outcome?: OperationOutcome,
): Draft {
  return { kind: "put", key, value, invokeMs, ...ended(completeMs, outcome, { ok: true }) };
}

function get(key: string, seen: string | null, invokeMs: number, completeMs: number | null): Draft {
  return { kind: "get", key, invokeMs, ...ended(completeMs, undefined, { value: seen }) };
}

function cas(
  key: string,
  expected: string | null,
  next: string,
  result: { ok: boolean; value: string | null },
  invokeMs: number,
  completeMs: number | null,
  outcome?: OperationOutcome,
): Draft {
  return { kind: "cas", key, value: next, expected, invokeMs, ...ended(completeMs, outcome, result) };
}

function verdictOf(ops: OperationRecord[]): LinearizabilityResult["verdict"] {
  return checkLinearizability(ops).verdict;
}

describe("hand-written linearizable histories", () => {
  it("accepts an empty history", () => {
    expect(checkLinearizability([])).toEqual({ verdict: "ok", keys: [], unknownRatio: 0 });
  });

  it("accepts a sequential history and reports each key", () => {
    const ops = history(
      put("x", "1", 0, 10),
      get("x", "1", 20, 30),
      cas("x", "1", "2", { ok: true, value: "1" }, 40, 50),
      cas("x", "1", "3", { ok: false, value: "2" }, 60, 70),
      get("x", "2", 80, 90),
      get("y", null, 0, 5),
    );
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("ok");
    expect(result.keys.map((k) => [k.key, k.verdict, k.ops])).toEqual([
      ["x", "ok", 5],
      ["y", "ok", 1],
    ]);
    expect(result.violation).toBeUndefined();
  });

  it("lets a slow put take effect anywhere inside its window (Herlihy & Wing: between invocation and response)", () => {
    expect(
      verdictOf(history(put("x", "1", 0, 100), get("x", null, 10, 20), get("x", "1", 30, 40), get("x", "1", 50, 60))),
    ).toBe("ok");
    expect(verdictOf(history(put("x", "1", 0, 100), get("x", "1", 10, 20), get("x", "1", 30, 40)))).toBe("ok");
  });

  it("treats operations that meet at the same millisecond as concurrent", () => {
    expect(verdictOf(history(put("x", "1", 0, 10), get("x", null, 10, 20)))).toBe("ok");
    expect(verdictOf(history(put("x", "1", 0, 10), get("x", null, 11, 20)))).toBe("violation");
  });

  it("lets an indeterminate put take effect late, or never", () => {
    expect(verdictOf(history(put("x", "1", 0, null), get("x", null, 10, 20), get("x", "1", 30, 40)))).toBe("ok");
    expect(verdictOf(history(put("x", "1", 0, null), get("x", null, 10, 20), get("x", null, 30, 40)))).toBe("ok");
    // ... but never before it was invoked.
    expect(verdictOf(history(get("x", "1", 0, 5), put("x", "1", 10, null)))).toBe("violation");
  });

  it("lets an indeterminate cas take effect when its expectation holds", () => {
    const ops = history(
      put("x", "1", 0, 10),
      cas("x", "1", "2", { ok: false, value: null }, 20, null),
      get("x", "2", 30, 40),
    );
    expect(verdictOf(ops)).toBe("ok");
  });

  it("ignores failed operations: they were never applied", () => {
    const ops = history(put("x", "1", 0, 10, "fail"), get("x", null, 20, 30));
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("ok");
    expect(result.keys).toEqual([{ key: "x", verdict: "ok", steps: expect.any(Number), ops: 1 }]);
  });

  it("accepts concurrent cas operations when exactly one wins", () => {
    const ops = history(
      cas("x", null, "a", { ok: true, value: null }, 0, 20),
      cas("x", null, "b", { ok: false, value: "a" }, 5, 15),
      get("x", "a", 30, 40),
    );
    expect(verdictOf(ops)).toBe("ok");
  });
});

describe("hand-written violations", () => {
  it("finds a stale read and shows the operations involved", () => {
    const ops = history(put("x", "1", 0, 10), put("x", "2", 20, 30), get("x", "1", 40, 50));
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("violation");
    expect(result.violation?.key).toBe("x");
    expect(result.violation?.ops.map((op) => op.id)).toEqual([1, 2]);
    expect(result.violation?.explanation).toContain('#2 client 2 get("x") → "1" [40..50 ms]');
    expect(result.violation?.explanation).toContain('#1 client 1 put("x", "2") → ok [20..30 ms]');
    expect(result.violation?.explanation).toContain(
      'Best attempt: 1 operation(s) ordered, the key then holding "2"; #2 client 2 get("x") → "1" [40..50 ms] could not take effect',
    );
  });

  it("finds a new-then-old read inversion", () => {
    const ops = history(put("x", "1", 0, 10), put("x", "2", 20, 100), get("x", "2", 30, 40), get("x", "1", 50, 60));
    expect(verdictOf(ops)).toBe("violation");
  });

  it("finds a lost write", () => {
    const ops = history(put("x", "1", 0, 10), get("x", null, 20, 30));
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("violation");
    expect(result.violation?.explanation).toMatch(/no order of these 2 operations/);
  });

  it("finds two cas operations that both won from the same expectation", () => {
    const ops = history(
      cas("x", null, "a", { ok: true, value: null }, 0, 20),
      cas("x", null, "b", { ok: true, value: null }, 5, 15),
    );
    expect(verdictOf(ops)).toBe("violation");
  });

  it("finds a cas that failed although its expectation held", () => {
    const ops = history(put("x", "1", 0, 10), cas("x", "1", "2", { ok: false, value: "1" }, 20, 30));
    expect(verdictOf(ops)).toBe("violation");
  });

  it("finds a read of a value never written, and names it", () => {
    const ops = history(put("x", "1", 0, 10), get("x", "ghost", 20, 30));
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("violation");
    expect(result.keys[0].steps).toBe(0);
    expect(result.violation?.ops.map((op) => op.id)).toEqual([1]);
    expect(result.violation?.explanation).toContain('returned "ghost", a value no operation on this key ever wrote');
  });

  it("finds a read of a value written only by a failed operation", () => {
    const ops = history(put("x", "1", 0, 10, "fail"), get("x", "1", 20, 30));
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("violation");
    expect(result.violation?.explanation).toContain("written only by operations that failed");
  });

  it("finds an indeterminate put that is seen, then unseen", () => {
    const ops = history(
      put("x", "1", 0, null),
      get("x", "1", 10, 20),
      get("x", null, 30, 40),
      get("x", null, 35, 60),
      put("x", "unseen", 36, null),
    );
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("violation");
    // The get still running when #2 completed and the put nobody saw cannot matter: not shown.
    expect(result.violation?.ops.map((op) => op.id)).toEqual([0, 1, 2]);
    expect(result.violation?.explanation).toContain("indeterminate");
  });

  it("checks keys independently and reports the violating one", () => {
    const ops = history(
      put("b", "1", 0, 10),
      get("b", "1", 20, 30),
      put("a", "1", 0, 10),
      get("a", null, 20, 30),
      get("c", null, 0, 5),
    );
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("violation");
    expect(result.keys.map((k) => [k.key, k.verdict])).toEqual([
      ["a", "violation"],
      ["b", "ok"],
      ["c", "ok"],
    ]);
    expect(result.violation?.key).toBe("a");
  });

  it("shrinks a late violation in a long history to the few operations that explain it", () => {
    const drafts: Draft[] = [];
    for (let i = 0; i < 60; i++) {
      drafts.push(put("x", `v${i}`, 20 * i, 20 * i + 5), get("x", `v${i}`, 20 * i + 10, 20 * i + 15));
    }
    drafts.push(put("x", "last", 2000, 2005), get("x", "v59", 2010, 2015));
    // Operations after the violation do not belong in the window.
    for (let i = 0; i < 20; i++) drafts.push(put("x", `w${i}`, 3000 + 20 * i, 3005 + 20 * i));
    const ops = history(...drafts);
    const result = checkLinearizability(ops);
    expect(result.verdict).toBe("violation");
    expect(result.violation?.ops.map((op) => op.id)).toEqual([120, 121]);
    expect(result.violation?.explanation).toContain("from any starting value");
  });

  it("rejects a completed operation without a result", () => {
    const bad = { id: 0, client: 0, kind: "get", key: "x", invokeMs: 0, completeMs: 5, outcome: "ok" } as const;
    expect(() => checkLinearizability([bad])).toThrow(/needs a result/);
    const casWithoutExpected = { ...bad, kind: "cas", value: "1", result: { ok: false, value: null } } as const;
    expect(() => checkLinearizability([casWithoutExpected])).toThrow(/a cas needs an expected value/);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated histories: a sequential execution on a reference model, then jittered time windows
// that still contain each operation's linearization point. Such a history is linearizable by
// construction, whatever the overlaps.

const fateArb = fc.constantFrom("ok", "ok", "ok", "ok", "indeterminate-applied", "indeterminate-lost", "fail");
const stepArb = fc.record({
  key: fc.nat(2),
  kind: fc.constantFrom("put", "get", "cas"),
  value: fc.nat(4),
  expected: fc.integer({ min: -1, max: 4 }),
  beforeMs: fc.nat(40),
  afterMs: fc.nat(40),
  fate: fateArb,
});
type Step = typeof stepArb extends fc.Arbitrary<infer T> ? T : never;

const gapMs = 10;
const firstPointMs = 50;

/**
 * Runs `steps` in order on a reference map (the i-th takes effect at 50 + 10·i ms) and records
 * each as an operation whose window is jittered around that point. Steps marked
 * "indeterminate-lost" or "fail" never take effect.
 */
function jitteredHistory(steps: readonly Step[]): OperationRecord[] {
  const store = new Map<string, string>();
  const records: OperationRecord[] = steps.map((step, i) => {
    const pointMs = firstPointMs + gapMs * i;
    const key = `k${step.key}`;
    const value = `v${step.value}`;
    const expected = step.expected < 0 ? null : `v${step.expected}`;
    const current = store.get(key) ?? null;
    const takesEffect = step.fate === "ok" || step.fate === "indeterminate-applied";
    let result: KvResult;
    if (step.kind === "put") {
      if (takesEffect) store.set(key, value);
      result = { ok: true };
    } else if (step.kind === "get") {
      result = { value: current };
    } else {
      const swapped = current === expected;
      if (takesEffect && swapped) store.set(key, value);
      result = { ok: swapped, value: current };
    }
    const invokeMs = pointMs - step.beforeMs;
    const base = {
      id: i,
      client: i % 5,
      kind: step.kind,
      key,
      ...(step.kind === "get" ? {} : { value }),
      ...(step.kind === "cas" ? { expected } : {}),
      invokeMs,
    } as const;
    if (step.fate === "ok") return { ...base, completeMs: pointMs + step.afterMs, outcome: "ok", result };
    if (step.fate === "fail") return { ...base, completeMs: pointMs + step.afterMs, outcome: "fail" };
    return { ...base, completeMs: null, outcome: "indeterminate" };
  });
  // Histories are recorded in invocation order.
  return records.sort((a, b) => a.invokeMs - b.invokeMs || a.id - b.id);
}

/** A get that completes, placed after every generated step (so a history always has one). */
const finalGet = (key: number): Step => ({
  key,
  kind: "get",
  value: 0,
  expected: -1,
  beforeMs: 5,
  afterMs: 5,
  fate: "ok",
});

describe("generated histories", () => {
  test.prop([fc.array(stepArb, { maxLength: 80 })])("a jittered sequential execution is linearizable", (steps) => {
    const result = checkLinearizability(jitteredHistory(steps));
    expect(result.violation?.explanation).toBeUndefined();
    expect(result.verdict).toBe("ok");
  });

  test.prop([fc.array(stepArb, { maxLength: 60 }), fc.nat(2), fc.nat()])(
    "corrupting one read to a never-written value is a violation",
    (steps, key, pick) => {
      const ops = jitteredHistory([...steps, finalGet(key)]);
      const reads = ops.filter((op) => op.kind === "get" && op.outcome === "ok");
      const victim = reads[pick % reads.length];
      const corrupted = ops.map((op) => (op === victim ? { ...op, result: { value: "never-written" } } : op));
      const result = checkLinearizability(corrupted);
      expect(result.verdict).toBe("violation");
      expect(result.violation?.key).toBe(victim.key);
      expect(result.violation?.ops.map((op) => op.id)).toContain(victim.id);
    },
  );

  test.prop([fc.array(stepArb, { maxLength: 60 }), fc.nat(2)])(
    "corrupting a read to a value first written after it completed is a violation",
    (steps, key) => {
      // A put of a unique value invoked well after the final get completes: the get cannot see it.
      const late: Step = { key, kind: "put", value: 0, expected: -1, beforeMs: 0, afterMs: 5, fate: "ok" };
      const ops = jitteredHistory([...steps, finalGet(key), ...Array.from({ length: 10 }, () => finalGet(key)), late]);
      const latePut = ops[ops.length - 1];
      const uniqueValue = "written-late";
      const victim = ops.find((op) => op.id === steps.length) as OperationRecord;
      const corrupted = ops.map((op) =>
        op === latePut ? { ...op, value: uniqueValue } : op === victim ? { ...op, result: { value: uniqueValue } } : op,
      );
      const result = checkLinearizability(corrupted);
      expect(result.verdict).toBe("violation");
      expect(result.keys.find((k) => k.key === victim.key)?.steps).toBeGreaterThan(0);
      expect(result.violation?.ops.map((op) => op.id)).toContain(victim.id);
    },
  );

  // The checker against brute force: try every order of every admissible set of operations.
  const tinyValue = fc.constantFrom(null, "a", "b");
  const tinyOp = fc.record({
    kind: fc.constantFrom("put", "get", "cas"),
    value: fc.constantFrom("a", "b"),
    expected: tinyValue,
    seen: tinyValue,
    ok: fc.boolean(),
    invokeMs: fc.nat(20),
    durationMs: fc.nat(12),
    outcome: fc.constantFrom("ok", "ok", "ok", "indeterminate", "fail"),
  });
  test.prop([fc.array(tinyOp, { maxLength: 6 })], { numRuns: 500 })(
    "agrees with an exhaustive search on tiny arbitrary histories, and its window is a failing history",
    (drafts) => {
      const ops: OperationRecord[] = drafts.map((d, id) => {
        const result: KvResult =
          d.kind === "put" ? { ok: true } : d.kind === "get" ? { value: d.seen } : { ok: d.ok, value: d.seen };
        return {
          id,
          client: id,
          kind: d.kind,
          key: "x",
          ...(d.kind === "get" ? {} : { value: d.value }),
          ...(d.kind === "cas" ? { expected: d.expected } : {}),
          invokeMs: d.invokeMs,
          ...(d.outcome === "ok"
            ? { completeMs: d.invokeMs + d.durationMs, outcome: "ok" as const, result }
            : d.outcome === "fail"
              ? { completeMs: d.invokeMs + d.durationMs, outcome: "fail" as const }
              : { completeMs: null, outcome: "indeterminate" as const }),
        };
      });
      const expected = bruteForceLinearizable(ops) ? "ok" : "violation";
      const result = checkLinearizability(ops);
      expect(result.verdict).toBe(expected);
      // The shrunk window is itself a failing history (under its stated start and open operations).
      const violation = result.violation;
      if (violation === undefined) return;
      for (const op of violation.ops) expect(ops).toContain(op);
      const openAfterMs = violation.openAfterMs ?? Number.POSITIVE_INFINITY;
      const window = violation.ops.map((op): OperationRecord => {
        if (op.outcome !== "ok" || (op.completeMs as number) <= openAfterMs) return op;
        const { result: _dropped, ...rest } = op;
        return { ...rest, completeMs: null, outcome: "indeterminate" };
      });
      const starts = violation.fromAnyStartingValue ? [null, "a", "b", "other"] : [null];
      for (const start of starts) expect(bruteForceLinearizable(window, start)).toBe(false);
    },
  );
});

describe("shrinking a violation keeps a witness", () => {
  // Each step from window A to window B must satisfy: A linearizable => B linearizable. Then a
  // failing B proves the whole history fails. Checked against brute force on small windows.
  const windowLinearizable = (window: HistoryWindow): boolean => {
    const ops = window.records.map((op): OperationRecord => {
      if (op.outcome !== "ok" || (op.completeMs as number) <= window.indeterminateAfterMs) return op;
      const { result: _dropped, ...rest } = op;
      return { ...rest, completeMs: null, outcome: "indeterminate" };
    });
    if (!window.anyInitialValue) return bruteForceLinearizable(ops);
    const values = new Set<string | null>([null, "some other value"]);
    for (const op of ops) {
      if (op.value !== undefined) values.add(op.value);
      if (op.expected !== undefined) values.add(op.expected);
      const seen = (op.result as { value?: string | null } | undefined)?.value;
      if (seen !== undefined) values.add(seen);
    }
    return [...values].some((start) => bruteForceLinearizable(ops, start));
  };
  // One key, short windows (so there are quiescent instants), values from a pool of 3.
  const oneKeySteps = fc.array(stepArb, { maxLength: 6 }).map((steps) =>
    steps.map((step) => ({
      ...step,
      key: 0,
      value: step.value % 3,
      beforeMs: step.beforeMs % 16,
      afterMs: step.afterMs % 16,
    })),
  );
  const smallHistory = fc.oneof(
    oneKeySteps.map(jitteredHistory),
    oneKeySteps.map((steps) =>
      jitteredHistory(steps).map((op) =>
        op.kind === "get" && op.outcome === "ok" && op.id % 2 === 0 ? { ...op, result: { value: "v1" } } : op,
      ),
    ),
  );

  it("keeps a write that an indeterminate cas may have swapped away", () => {
    const ops = history(
      put("x", "1", 0, 10),
      cas("x", "1", "2", { ok: false, value: null }, 20, null),
      get("x", "2", 30, 40),
    );
    const window: HistoryWindow = {
      records: ops,
      indeterminateAfterMs: Number.POSITIVE_INFINITY,
      anyInitialValue: false,
    };
    expect(removeSoundly(window, [ops[0]]).records).toEqual(ops);
    expect(removeSoundly(window, [ops[2]]).records).toEqual([ops[0], ops[1]]);
    // Without the get nothing observes "2": the cas may go, and then nothing observes "1" either.
    expect(removeSoundly(window, ops).records).toEqual([]);
  });

  it("cuts only where no completed operation spans the instant", () => {
    // put "b" spans 20 ms and takes effect after the get of "a": cutting there would lose it.
    const ops = history(put("x", "a", 0, 10), put("x", "b", 5, 30), get("x", "a", 20, 25), get("x", "b", 40, 45));
    const window: HistoryWindow = {
      records: ops,
      indeterminateAfterMs: Number.POSITIVE_INFINITY,
      anyInitialValue: false,
    };
    expect(quiescentCuts(window).map((cut) => cut.records.map((op) => op.id))).toEqual([[3]]);
    expect(quiescentCuts(window).every((cut) => cut.anyInitialValue)).toBe(true);
  });

  it("keeps indeterminate operations invoked before a cut, since they may take effect after it", () => {
    const ops = history(put("x", "a", 0, 10), put("x", "b", 5, null), get("x", "a", 20, 25), get("x", "b", 30, 35));
    const window: HistoryWindow = {
      records: ops,
      indeterminateAfterMs: Number.POSITIVE_INFINITY,
      anyInitialValue: false,
    };
    expect(quiescentCuts(window).map((cut) => cut.records.map((op) => op.id))).toEqual([
      [1, 2, 3],
      [1, 3],
    ]);
    expect(checkLinearizability(ops).verdict).toBe("ok");
  });

  it("makes operations still running at a prefix's end indeterminate", () => {
    const ops = history(put("x", "a", 0, 10), put("x", "b", 5, 50), get("x", "b", 20, 25));
    expect(prefixWindows(ops).map((w) => [w.indeterminateAfterMs, w.records.map((op) => op.id)])).toEqual([
      [10, [0, 1]],
      [25, [0, 1, 2]],
      [50, [0, 1, 2]],
    ]);
  });

  test.prop([smallHistory, fc.option(fc.nat(120), { nil: undefined }), fc.boolean(), fc.nat(63)], { numRuns: 1000 })(
    "prefixes, quiescent cuts and sound removals never turn a linearizable window into a failing one",
    (history, cutoffMs, anyInitialValue, mask) => {
      const records = history.filter((op) => op.outcome !== "fail");
      const window: HistoryWindow = {
        records,
        indeterminateAfterMs: cutoffMs ?? Number.POSITIVE_INFINITY,
        anyInitialValue,
      };
      if (!windowLinearizable(window)) return;
      if (cutoffMs === undefined && !anyInitialValue) {
        for (const prefix of prefixWindows(records)) expect(windowLinearizable(prefix)).toBe(true);
      }
      for (const cut of quiescentCuts(window)) expect(windowLinearizable(cut)).toBe(true);
      const chosen = records.filter((_, i) => (mask >> i) & 1);
      expect(windowLinearizable(removeSoundly(window, chosen))).toBe(true);
    },
  );
});

/** Exhaustive reference: some order of all completed ops plus any subset of indeterminate ops works. */
function bruteForceLinearizable(all: readonly OperationRecord[], start: string | null = null): boolean {
  const ops = all.filter((op) => op.outcome !== "fail");
  const required = ops.filter((op) => op.outcome === "ok");
  const optional = ops.filter((op) => op.outcome === "indeterminate");
  const endMs = (op: OperationRecord) => op.completeMs ?? Number.POSITIVE_INFINITY;
  const works = (order: readonly OperationRecord[]): boolean => {
    for (let i = 0; i < order.length; i++) {
      for (let j = i + 1; j < order.length; j++) if (endMs(order[j]) < order[i].invokeMs) return false;
    }
    let current: string | null = start;
    for (const op of order) {
      const result = op.result as { ok?: boolean; value?: string | null } | undefined;
      if (op.kind === "put") current = op.value as string;
      else if (op.kind === "get") {
        if (result && result.value !== current) return false;
      } else {
        const swapped = current === op.expected;
        if (result && (result.ok !== swapped || result.value !== current)) return false;
        if (swapped) current = op.value as string;
      }
    }
    return true;
  };
  const permutations = function* (items: readonly OperationRecord[]): Generator<OperationRecord[]> {
    if (items.length === 0) yield [];
    for (let i = 0; i < items.length; i++) {
      for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) yield [items[i], ...rest];
    }
  };
  for (let mask = 0; mask < 1 << optional.length; mask++) {
    const chosen = [...required, ...optional.filter((_, i) => (mask >> i) & 1)];
    for (const order of permutations(chosen)) if (works(order)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// A concurrent workload: per key, several clients each issuing one operation at a time.

/** xorshift32, so the workload is the same on every run. */
function seededRandom(seed: number) {
  let state = seed >>> 0 || 1;
  return (bound: number) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % bound;
  };
}

function concurrentHistory(
  seed: number,
  keyCount: number,
  clientsPerKey: number,
  opsPerKey: number,
): OperationRecord[] {
  const random = seededRandom(seed);
  type Planned = {
    draft: Omit<OperationRecord, "id" | "outcome" | "completeMs" | "result">;
    completeMs: number;
    pointMs: number;
    fate: number;
  };
  const planned: Planned[] = [];
  for (let k = 0; k < keyCount; k++) {
    const key = `key-${k}`;
    const written: string[] = [];
    for (let c = 0; c < clientsPerKey; c++) {
      let cursorMs = random(20);
      for (let n = 0; n < Math.ceil(opsPerKey / clientsPerKey); n++) {
        const invokeMs = cursorMs + random(6);
        const durationMs = 1 + random(30);
        const pointMs = invokeMs + random(durationMs + 1);
        cursorMs = invokeMs + durationMs;
        const roll = random(10);
        const client = k * clientsPerKey + c;
        const value = `${key}-${c}-${n}`;
        const draft =
          roll < 4
            ? { client, kind: "put" as const, key, value, invokeMs }
            : roll < 8
              ? { client, kind: "get" as const, key, invokeMs }
              : {
                  client,
                  kind: "cas" as const,
                  key,
                  value,
                  invokeMs,
                  expected:
                    written.length === 0 || random(4) === 0
                      ? null
                      : written[written.length - 1 - random(Math.min(3, written.length))],
                };
        if (draft.kind !== "get") written.push(value);
        planned.push({ draft, completeMs: cursorMs, pointMs, fate: random(100) });
      }
    }
  }
  // Take effect in linearization-point order on a reference store.
  const store = new Map<string, string>();
  const results = new Map<Planned, KvResult>();
  const byPoint = [...planned].sort((a, b) => a.pointMs - b.pointMs);
  for (const p of byPoint) {
    const applied = p.fate < 94; // 90 ok + 4 indeterminate that took effect
    const current = store.get(p.draft.key) ?? null;
    if (p.draft.kind === "put") {
      if (applied) store.set(p.draft.key, p.draft.value as string);
      results.set(p, { ok: true });
    } else if (p.draft.kind === "get") {
      results.set(p, { value: current });
    } else {
      const swapped = current === p.draft.expected;
      if (applied && swapped) store.set(p.draft.key, p.draft.value as string);
      results.set(p, { ok: swapped, value: current });
    }
  }
  return planned
    .sort((a, b) => a.draft.invokeMs - b.draft.invokeMs)
    .map((p, id) => {
      if (p.fate < 90)
        return { ...p.draft, id, completeMs: p.completeMs, outcome: "ok" as const, result: results.get(p) };
      if (p.fate >= 97) return { ...p.draft, id, completeMs: p.completeMs, outcome: "fail" as const };
      return { ...p.draft, id, completeMs: null, outcome: "indeterminate" as const };
    });
}

describe("concurrent workloads", () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])("seed %i: a concurrent linearizable workload passes", (seed) => {
    const ops = concurrentHistory(seed, 3, 5, 120);
    expect(checkLinearizability(ops).verdict).toBe("ok");
  });

  it.each([
    [20, 3000],
    [50, 3000],
  ])("checks %i keys and %i operations with 5 clients per key well under a second", (keyCount, total) => {
    const ops = concurrentHistory(99, keyCount, 5, total / keyCount);
    const startMs = performance.now();
    const result = checkLinearizability(ops);
    const elapsedMs = performance.now() - startMs;
    expect(result.verdict).toBe("ok");
    expect(result.keys).toHaveLength(keyCount);
    expect(Math.max(...result.keys.map((k) => k.steps))).toBeLessThan(50_000);
    // The target is well under a second; the bound leaves room for a busy shared CI machine.
    expect(elapsedMs).toBeLessThan(1000);
  });

  it("does not search through indeterminate writes nobody could observe", () => {
    const drafts: Draft[] = [];
    for (let i = 0; i < 40; i++) drafts.push(put("x", `lost-${i}`, i, null));
    drafts.push(put("x", "seen", 50, null));
    for (let i = 0; i < 40; i++) drafts.push(get("x", i < 10 ? null : "seen", 100 + 10 * i, 105 + 10 * i));
    const result = checkLinearizability(history(...drafts));
    expect(result.verdict).toBe("ok");
    expect(result.keys[0].steps).toBeLessThan(1000);
  });
});

describe("memoisation", () => {
  it("explores each (linearized set, value) configuration once, not each order", () => {
    // 12 concurrent puts of one value, then a read of an absent key: 12! orders, but only 2^12 sets.
    const drafts: Draft[] = [];
    for (let i = 0; i < 12; i++) drafts.push(put("x", "a", 0, 100));
    drafts.push(get("x", null, 200, 210));
    const result = checkLinearizability(history(...drafts));
    expect(result.verdict).toBe("violation");
    expect(result.keys[0].steps).toBeLessThan(100_000);
  });
});

describe("the step budget", () => {
  /**
   * `n` puts and `n` gets, all concurrent, each get seeing a different put; then a later get sees
   * an absent key, which no order explains. Proving that needs every order of the concurrent
   * block: about 2^(2n) configurations.
   */
  function pathological(n: number, key = "x"): Draft[] {
    const drafts: Draft[] = [];
    for (let i = 0; i < n; i++) drafts.push(put(key, `v${i}`, 0, 1000), get(key, `v${(i + 1) % n}`, 0, 1000));
    drafts.push(get(key, null, 2000, 2010));
    return drafts;
  }

  it("has the documented default", () => {
    expect(defaultStepBudgetPerKey).toBe(2_000_000);
    expect(maxUnknownKeyRatio).toBe(0.01);
  });

  it("gives up with unknown-exceeded instead of running on", () => {
    const result = checkLinearizability(history(...pathological(14)), { stepBudgetPerKey: 20_000 });
    expect(result.verdict).toBe("unknown-exceeded");
    expect(result.keys).toEqual([{ key: "x", verdict: "unknown-exceeded", steps: 20_000, ops: 29 }]);
    expect(result.unknownRatio).toBe(1);
  });

  it("decides the same history when the budget allows", () => {
    const small = history(...pathological(5));
    expect(checkLinearizability(small, { stepBudgetPerKey: 100 }).verdict).toBe("unknown-exceeded");
    expect(checkLinearizability(small).verdict).toBe("violation");
  });

  it("fails a run only when more than 1% of the keys are unknown", () => {
    const build = (unknownKeys: number) => {
      const drafts: Draft[] = [];
      for (let k = 0; k < 100; k++) {
        if (k < unknownKeys) drafts.push(...pathological(8, `key-${k}`));
        else drafts.push(put(`key-${k}`, "1", 0, 10), get(`key-${k}`, "1", 20, 30));
      }
      return checkLinearizability(history(...drafts), { stepBudgetPerKey: 1000 });
    };
    const one = build(1);
    expect(one.unknownRatio).toBe(0.01);
    expect(one.verdict).toBe("ok");
    const two = build(2);
    expect(two.unknownRatio).toBe(0.02);
    expect(two.verdict).toBe("unknown-exceeded");
  });
});
