import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  ProposalDroppedError,
  ReadFailedError,
  StoppedError,
} from "../../src/runtime/errors.js";
import { History, HistoryFormatError, outcomeForError, parseJsonLines } from "../../src/sim/history.js";
import { casCommand, getCommand, type KvCommand, putCommand } from "../../src/sim/kv-command.js";

/** A clock the test moves by hand. */
function manualClock(startMs = 0) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    set: (ms: number) => {
      nowMs = ms;
    },
  };
}

function sampleHistory() {
  const clock = manualClock();
  const history = new History(clock);
  const a = history.invoke(1, putCommand("x", "1"));
  clock.set(5);
  const b = history.invoke(2, getCommand("x"));
  clock.set(10);
  history.complete(a, { ok: true });
  const c = history.invoke(1, casCommand("x", null, "2"));
  clock.set(12);
  history.complete(b, { value: "1" });
  const d = history.invoke(3, casCommand("y", "0", "1"));
  clock.set(20);
  history.complete(c, { ok: false, value: "1" });
  history.fail(d);
  const e = history.invoke(2, putCommand("y", "7"));
  clock.set(30);
  history.indeterminate(e);
  history.invoke(3, getCommand("x"));
  return { history, clock, ids: [a, b, c, d, e] };
}

describe("History", () => {
  it("records invocations and their endings in virtual time", () => {
    const { history } = sampleHistory();
    expect(history.operations()).toEqual([
      {
        id: 0,
        client: 1,
        kind: "put",
        key: "x",
        value: "1",
        invokeMs: 0,
        completeMs: 10,
        outcome: "ok",
        result: { ok: true },
      },
      { id: 1, client: 2, kind: "get", key: "x", invokeMs: 5, completeMs: 12, outcome: "ok", result: { value: "1" } },
      {
        id: 2,
        client: 1,
        kind: "cas",
        key: "x",
        value: "2",
        expected: null,
        invokeMs: 10,
        completeMs: 20,
        outcome: "ok",
        result: { ok: false, value: "1" },
      },
      {
        id: 3,
        client: 3,
        kind: "cas",
        key: "y",
        value: "1",
        expected: "0",
        invokeMs: 12,
        completeMs: 20,
        outcome: "fail",
      },
      { id: 4, client: 2, kind: "put", key: "y", value: "7", invokeMs: 20, completeMs: null, outcome: "indeterminate" },
      // Still pending when the history was read: it may take effect later, so it is indeterminate.
      { id: 5, client: 3, kind: "get", key: "x", invokeMs: 30, completeMs: null, outcome: "indeterminate" },
    ]);
    expect(history.pendingCount()).toBe(1);
  });

  it("groups operations by key in code-unit key order", () => {
    const clock = manualClock();
    const history = new History(clock);
    for (const key of ["b", "a", "B", "b"]) history.invoke(0, getCommand(key));
    const groups = history.byKey();
    expect([...groups.keys()]).toEqual(["B", "a", "b"]);
    expect(groups.get("b")?.map((r) => r.id)).toEqual([0, 3]);
  });

  it("ends an operation only once, and only a known one", () => {
    const { history, ids } = sampleHistory();
    expect(() => history.complete(ids[0], { ok: true })).toThrow(/operation 0 has already ended/);
    expect(() => history.fail(ids[4])).toThrow(/already ended/);
    expect(() => history.indeterminate(99)).toThrow(/no operation with id 99/);
  });

  it("rejects a result that does not fit the operation", () => {
    const history = new History(manualClock());
    const get = history.invoke(0, getCommand("x"));
    const cas = history.invoke(0, casCommand("x", null, "1"));
    expect(() => history.complete(get, { ok: true })).toThrow(HistoryFormatError);
    expect(() => history.complete(cas, { value: "1" })).toThrow(/is a cas/);
    // A rejected completion leaves the operation pending.
    expect(history.pendingCount()).toBe(2);
    history.complete(get, { value: null });
    expect(history.pendingCount()).toBe(1);
  });

  it("rejects a clock that goes backwards and a bad client id", () => {
    const clock = manualClock(10);
    const history = new History(clock);
    const id = history.invoke(0, getCommand("x"));
    clock.set(9);
    expect(() => history.complete(id, { value: null })).toThrow(/clock went from 10 to 9/);
    expect(() => history.invoke(-1, getCommand("x"))).toThrow(/client must be a non-negative integer/);
    expect(() => history.invoke(1.5, getCommand("x"))).toThrow(HistoryFormatError);
  });

  it.each([
    ["NotLeaderError", "fail", new NotLeaderError("n2")],
    ["ProposalDroppedError", "fail", new ProposalDroppedError(7)],
    ["OverloadedError", "fail", new OverloadedError("proposal queue")],
    ["ReadFailedError", "fail", new ReadFailedError("leadership lost")],
    ["OutcomeUnknownError", "indeterminate", new OutcomeUnknownError("timeout")],
    ["StoppedError", "indeterminate", new StoppedError()],
    ["a plain Error", "indeterminate", new Error("something else")],
    ["a NOT_LEADER code from another module copy", "fail", { code: "NOT_LEADER" }],
    ["a bare string", "indeterminate", "NOT_LEADER"],
  ] as const)("maps %s to %s (only documented not-applied codes are failures)", (_name, outcome, error) => {
    expect(outcomeForError(error)).toBe(outcome);
    const history = new History(manualClock());
    const id = history.invoke(0, putCommand("x", "1"));
    history.settleWithError(id, error);
    expect(history.operations()[0].outcome).toBe(outcome);
    expect(history.operations()[0].completeMs).toBe(outcome === "fail" ? 0 : null);
  });
});

describe("JSON lines", () => {
  it("writes one object per line with a stable field order", () => {
    const { history } = sampleHistory();
    expect(history.toJsonLines()).toBe(
      [
        '{"id":0,"client":1,"kind":"put","key":"x","value":"1","invokeMs":0,"completeMs":10,"outcome":"ok","result":{"ok":true}}',
        '{"id":1,"client":2,"kind":"get","key":"x","invokeMs":5,"completeMs":12,"outcome":"ok","result":{"value":"1"}}',
        '{"id":2,"client":1,"kind":"cas","key":"x","value":"2","expected":null,"invokeMs":10,"completeMs":20,"outcome":"ok","result":{"ok":false,"value":"1"}}',
        '{"id":3,"client":3,"kind":"cas","key":"y","value":"1","expected":"0","invokeMs":12,"completeMs":20,"outcome":"fail"}',
        '{"id":4,"client":2,"kind":"put","key":"y","value":"7","invokeMs":20,"completeMs":null,"outcome":"indeterminate"}',
        '{"id":5,"client":3,"kind":"get","key":"x","invokeMs":30,"completeMs":null,"outcome":"indeterminate"}',
        "",
      ].join("\n"),
    );
  });

  it("reads back what it wrote, and keeps numbering new operations after it", () => {
    const { history } = sampleHistory();
    const text = history.toJsonLines();
    const read = History.fromJsonLines(text);
    expect(read.operations()).toEqual(history.operations());
    expect(read.toJsonLines()).toBe(text);
    expect(read.invoke(4, getCommand("z"))).toBe(6);
    expect(read.operations()[6].invokeMs).toBe(30);
    // A clock behind the file's latest time would record time going backwards.
    const behind = History.fromJsonLines(text, { now: () => 29 });
    expect(() => behind.invoke(0, getCommand("z"))).toThrow(/clock went from 30 to 29/);
  });

  it("skips blank lines and a missing final newline", () => {
    const line =
      '{"id":0,"client":1,"kind":"get","key":"x","invokeMs":0,"completeMs":1,"outcome":"ok","result":{"value":null}}';
    expect(parseJsonLines(`\n${line}\n\n`)).toHaveLength(1);
    expect(parseJsonLines(line)).toHaveLength(1);
    expect(parseJsonLines("")).toEqual([]);
  });

  const valid = {
    id: 0,
    client: 1,
    kind: "cas",
    key: "x",
    value: "2",
    expected: "1",
    invokeMs: 0,
    completeMs: 4,
    outcome: "ok",
    result: { ok: true, value: "1" },
  };
  // The second line of a file whose first line is `valid`; an object is merged over `valid` with id 1.
  it.each<[string, string | Record<string, unknown>, RegExp]>([
    ["not JSON", "{nope", /line 2: not JSON/],
    ["not an object", "[1]", /line 2: expected a JSON object/],
    ["an unknown field", { extra: 1 }, /line 2: unknown field "extra"/],
    ["a fractional id", { id: 1.5 }, /"id" must be a non-negative integer/],
    ["an id that does not increase", { id: 0 }, /id 0 does not increase/],
    ["a negative client", { client: -1 }, /"client" must be a non-negative integer/],
    ["an unknown kind", { kind: "delete" }, /"kind" must be/],
    ["a key that is not a string", { key: 7 }, /"key" must be a string/],
    ["a get with a value", { kind: "get", expected: undefined, result: { value: "1" } }, /a get has no "value"/],
    ["a cas without expected", { expected: undefined }, /a cas needs "expected"/],
    ["a put with expected", { kind: "put", result: { ok: true } }, /only a cas has "expected"/],
    ["a time that is not a number", { invokeMs: "soon" }, /"invokeMs" must be a finite number/],
    ["completion before invocation", { invokeMs: 5 }, /not before "invokeMs"/],
    ["an ok without result", { result: undefined }, /"result" does not fit a cas/],
    ["a result of the wrong shape", { result: { ok: true } }, /"result" does not fit a cas/],
    ["a failure with a result", { outcome: "fail" }, /only an ok operation has a "result"/],
    ["an indeterminate with a completion", { outcome: "indeterminate", result: undefined }, /"completeMs": null/],
    ["an unknown outcome", { outcome: "maybe" }, /"outcome" must be/],
  ])("rejects %s, naming the line", (_name, second, message) => {
    const line = typeof second === "string" ? second : JSON.stringify({ ...valid, id: 1, ...second });
    const text = `${JSON.stringify(valid)}\n${line}\n`;
    expect(() => History.fromJsonLines(text)).toThrow(HistoryFormatError);
    expect(() => History.fromJsonLines(text)).toThrow(message);
  });

  const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
    fc.record({ kind: fc.constant("put" as const), key: fc.string(), value: fc.string() }),
    fc.record({ kind: fc.constant("get" as const), key: fc.string() }),
    fc.record({
      kind: fc.constant("cas" as const),
      key: fc.string(),
      expected: fc.option(fc.string(), { nil: null }),
      next: fc.string(),
    }),
  );
  const stepArb = fc.record({
    client: fc.nat(9),
    command: commandArb,
    delayMs: fc.nat(20),
    ending: fc.constantFrom("ok", "fail", "indeterminate", "pending"),
    value: fc.option(fc.string(), { nil: null }),
    ok: fc.boolean(),
  });

  test.prop([fc.array(stepArb, { maxLength: 30 })])("round-trips any history exactly", (steps) => {
    const clock = manualClock();
    const history = new History(clock);
    let nowMs = 0;
    const open: { id: number; step: (typeof steps)[number] }[] = [];
    for (const step of steps) {
      open.push({ id: history.invoke(step.client, step.command), step });
      nowMs += step.delayMs;
      clock.set(nowMs);
      // End the oldest open operation every other step, so operations overlap.
      if (open.length > 1) {
        const { id, step: ended } = open.shift() as (typeof open)[number];
        if (ended.ending === "ok") {
          const kind = ended.command.kind;
          history.complete(
            id,
            kind === "put"
              ? { ok: true }
              : kind === "get"
                ? { value: ended.value }
                : { ok: ended.ok, value: ended.value },
          );
        } else if (ended.ending === "fail") history.fail(id);
        else if (ended.ending === "indeterminate") history.indeterminate(id);
      }
    }
    const text = history.toJsonLines();
    expect(text.split("\n")).toHaveLength(steps.length + 1);
    expect(History.fromJsonLines(text).operations()).toEqual(history.operations());
  });
});
