import { describe, expect, it } from "vitest";
import type { Entry } from "../../src/core/types.js";
import { DEFAULT_SESSION_TIMEOUT_MS, jsonResultCodec } from "../../src/sessions/session-options.js";
import type { SessionApplyResult } from "../../src/sessions/session-result.js";
import { SessionStateMachine } from "../../src/sessions/session-state-machine.js";
import {
  AppliedLog,
  add,
  CounterStateMachine,
  commandBytes,
  keepAliveBytes,
  noopEntry,
  normalEntry,
  registerBytes,
} from "./helpers.js";

function wrap(options: ConstructorParameters<typeof SessionStateMachine<number>>[1] = {}) {
  const counter = new CounterStateMachine();
  const sessions = new SessionStateMachine<number>(counter, { resultCodec: jsonResultCodec<number>(), ...options });
  return { counter, sessions, log: new AppliedLog<SessionApplyResult<number>>(sessions) };
}

describe("the duplicated command of issue 4 (thesis §6.3)", () => {
  it("is applied twice WITHOUT sessions: a retry after a lost reply is a second entry", () => {
    const counter = new CounterStateMachine();
    // The client proposed "add 5"; the entry committed at index 1 but the reply was lost, so the
    // client proposed the same bytes again and they committed at index 2.
    counter.apply([normalEntry(1, add(5)), normalEntry(2, add(5))]);
    expect(counter.total).toBe(10);
    expect(counter.applied).toEqual(["add 5", "add 5"]);
  });

  it("is applied exactly once WITH sessions: the retry carries the same sequence and gets the cached result", async () => {
    const { counter, log } = wrap();
    expect(await log.append(registerBytes())).toEqual({ kind: "registered", clientId: 1 });
    const first = await log.append(commandBytes(1, 1, add(5)));
    const retry = await log.append(commandBytes(1, 1, add(5)));
    expect(first).toEqual({ kind: "applied", clientId: 1, sequence: 1, result: 5 });
    expect(retry).toEqual({ kind: "duplicate", clientId: 1, sequence: 1, result: 5 });
    expect(counter.total).toBe(5);
    expect(counter.applied).toEqual(["add 5"]);
  });

  it("dedupes a retry that lands in the same batch as its original", () => {
    const { counter, sessions } = wrap();
    const results = sessions.apply([
      normalEntry(1, registerBytes()),
      normalEntry(2, commandBytes(1, 1, add(3))),
      normalEntry(3, commandBytes(1, 1, add(3))),
      normalEntry(4, commandBytes(1, 2, add(4))),
    ]) as SessionApplyResult<number>[];
    expect(results.map((r) => r.kind)).toEqual(["registered", "applied", "duplicate", "applied"]);
    expect(results[2]).toMatchObject({ result: 3 });
    expect(results[3]).toMatchObject({ result: 7 });
    expect(counter.total).toBe(7);
  });
});

describe("SessionStateMachine", () => {
  it("gives each client the log index of its RegisterClient entry as id, and keeps sessions apart", async () => {
    const { counter, log } = wrap();
    await log.append(registerBytes());
    await log.append(commandBytes(1, 1, add(1)));
    expect(await log.append(registerBytes())).toEqual({ kind: "registered", clientId: 3 });
    // Same sequence, other client: a new command, not a duplicate.
    expect(await log.append(commandBytes(3, 1, add(10)))).toMatchObject({ kind: "applied", result: 11 });
    expect(counter.applied).toEqual(["add 1", "add 10"]);
  });

  it("keeps the wrapped state machine's applied index in step, handing it noops for what it must not apply", () => {
    const { counter, sessions } = wrap();
    const entries: Entry[] = [
      normalEntry(1, registerBytes()),
      noopEntry(2),
      normalEntry(3, commandBytes(1, 1, add(2))),
      normalEntry(4, commandBytes(1, 1, add(2))),
      normalEntry(5, Uint8Array.of(1, 2, 3)),
      { index: 6, term: 1, type: "config", data: Uint8Array.of(7) },
    ];
    const results = sessions.apply(entries) as SessionApplyResult<number>[];
    expect(results.map((r) => r.kind)).toEqual([
      "registered",
      "passthrough",
      "applied",
      "duplicate",
      "malformed",
      "passthrough",
    ]);
    expect(sessions.appliedIndex()).toBe(6);
    expect(counter.appliedIndex()).toBe(6);
    expect(counter.applied).toEqual(["add 2"]);
  });

  it("answers a malformed entry with a typed result and applies nothing", async () => {
    const { counter, log } = wrap();
    const result = await log.append(new TextEncoder().encode("add 1"));
    expect(result.kind).toBe("malformed");
    expect(result.kind === "malformed" && result.problem).toMatch(/first byte/);
    expect(counter.applied).toEqual([]);
  });

  it("refuses a command for a session that was never registered, without applying it", async () => {
    const { counter, log } = wrap();
    await log.append(registerBytes());
    expect(await log.append(commandBytes(9, 1, add(1)))).toEqual({
      kind: "sessionExpired",
      clientId: 9,
      sequence: 1,
      reason: "unknown-session",
    });
    expect(await log.append(keepAliveBytes(9, 1, 0))).toMatchObject({ kind: "sessionExpired", sequence: 0 });
    expect(counter.applied).toEqual([]);
  });

  it("drops acknowledged results; a late copy of an acknowledged command gets SessionExpired, never a second apply", async () => {
    const { counter, log } = wrap();
    await log.append(registerBytes());
    await log.append(commandBytes(1, 1, add(1)));
    await log.append(commandBytes(1, 2, add(2)));
    // Command 3 says the client has the results of 1 and 2.
    await log.append(commandBytes(1, 3, add(3), { lowestUnacked: 3 }));
    // A delayed retry of command 1 commits now.
    expect(await log.append(commandBytes(1, 1, add(1)))).toEqual({
      kind: "sessionExpired",
      clientId: 1,
      sequence: 1,
      reason: "result-evicted",
    });
    // Command 3 is still cached.
    expect(await log.append(commandBytes(1, 3, add(3), { lowestUnacked: 3 }))).toMatchObject({
      kind: "duplicate",
      result: 6,
    });
    expect(counter.applied).toEqual(["add 1", "add 2", "add 3"]);
  });

  it("acknowledges through a keep-alive too", async () => {
    const { counter, log } = wrap();
    await log.append(registerBytes());
    await log.append(commandBytes(1, 1, add(1)));
    expect(await log.append(keepAliveBytes(1, 2, 0))).toEqual({ kind: "keptAlive", clientId: 1 });
    expect(await log.append(commandBytes(1, 1, add(1)))).toMatchObject({ reason: "result-evicted" });
    expect(counter.total).toBe(1);
  });

  it("evicts the lowest cached results past maxCachedResultsPerClient, and never applies them again", async () => {
    const { counter, log } = wrap({ maxCachedResultsPerClient: 2 });
    await log.append(registerBytes());
    for (const sequence of [1, 2, 3]) await log.append(commandBytes(1, sequence, add(sequence)));
    // 1 was pushed out by 3; 2 and 3 are cached.
    expect(await log.append(commandBytes(1, 1, add(1)))).toMatchObject({
      kind: "sessionExpired",
      reason: "result-evicted",
    });
    expect(await log.append(commandBytes(1, 2, add(2)))).toMatchObject({ kind: "duplicate", result: 3 });
    expect(await log.append(commandBytes(1, 3, add(3)))).toMatchObject({ kind: "duplicate", result: 6 });
    expect(counter.applied).toEqual(["add 1", "add 2", "add 3"]);
  });

  it("applies a sequence that arrives late but is still above the floor (pipelined commands)", async () => {
    const { counter, log } = wrap();
    await log.append(registerBytes());
    // Commands 1 and 2 were in flight together; 2 committed first.
    expect(await log.append(commandBytes(1, 2, add(2)))).toMatchObject({ kind: "applied", result: 2 });
    expect(await log.append(commandBytes(1, 1, add(1)))).toMatchObject({ kind: "applied", result: 3 });
    expect(counter.applied).toEqual(["add 2", "add 1"]);
  });

  it("evicts the least recently active session past maxSessions", async () => {
    const { counter, log } = wrap({ maxSessions: 2 });
    await log.append(registerBytes(10)); // client 1
    await log.append(registerBytes(20)); // client 2
    await log.append(commandBytes(1, 1, add(1), { timestampMs: 30 })); // client 1 is now the most recent
    await log.append(registerBytes(40)); // client 4 pushes out client 2
    expect(await log.append(commandBytes(2, 1, add(2)))).toMatchObject({ reason: "unknown-session" });
    expect(await log.append(commandBytes(1, 2, add(3)))).toMatchObject({ kind: "applied" });
    expect(await log.append(commandBytes(4, 1, add(4)))).toMatchObject({ kind: "applied" });
    expect(counter.applied).toEqual(["add 1", "add 3", "add 4"]);
  });

  it("passes an async wrapped state machine's results through", async () => {
    const counter = new CounterStateMachine();
    const asyncInner = {
      apply: async (entries: readonly Entry[]) => counter.apply(entries),
      appliedIndex: () => counter.appliedIndex(),
    };
    const sessions = new SessionStateMachine<number>(asyncInner);
    const pending = sessions.apply([normalEntry(1, registerBytes()), normalEntry(2, commandBytes(1, 1, add(4)))]);
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toEqual([
      { kind: "registered", clientId: 1 },
      { kind: "applied", clientId: 1, sequence: 1, result: 4 },
    ]);
    expect(sessions.snapshot).toBeUndefined();
    expect(sessions.restore).toBeUndefined();
  });

  it("refuses to run when its table and the wrapped state machine disagree (a durable inner restarted without a snapshot)", () => {
    const counter = new CounterStateMachine();
    counter.apply([noopEntry(1), noopEntry(2)]);
    const sessions = new SessionStateMachine<number>(counter, { resultCodec: jsonResultCodec<number>() });
    expect(sessions.appliedIndex()).toBe(0);
    expect(() => sessions.apply([noopEntry(3)])).toThrow(
      /session table is at index 0 but the wrapped state machine is at 2/,
    );
  });

  it("refuses a gap in the indexes", () => {
    const { sessions } = wrap();
    expect(() => sessions.apply([noopEntry(2)])).toThrow(/out of order; expected 1/);
  });

  it("checks its options", () => {
    const counter = new CounterStateMachine();
    expect(() => new SessionStateMachine<number>(counter)).toThrow(/resultCodec is required/);
    expect(() => new SessionStateMachine<number>(counter, { resultCodec: jsonResultCodec(), maxSessions: 0 })).toThrow(
      /maxSessions must be a positive/,
    );
    expect(
      () => new SessionStateMachine<number>({ apply: () => [], appliedIndex: () => 0, snapshot: () => [] }),
    ).toThrow(/both snapshot\(\) and restore\(\)/);
  });
});

describe("session expiry on log time (thesis §6.3)", () => {
  const minute = 60_000;

  it("expires a session idle for longer than sessionTimeoutMs of log time, stamped by any client", async () => {
    const { counter, log } = wrap({ sessionTimeoutMs: 10 * minute });
    await log.append(registerBytes(0)); // client 1, active at 0
    await log.append(registerBytes(5 * minute)); // client 2
    await log.append(commandBytes(2, 1, add(1), { timestampMs: 10 * minute })); // exactly at the timeout: alive
    expect(await log.append(commandBytes(1, 1, add(5), { timestampMs: 10 * minute }))).toMatchObject({
      kind: "applied",
    });
    await log.append(keepAliveBytes(2, 1, 15 * minute));
    // Client 2's stamp moves log time past client 1's last activity (10 min) + 10 min.
    await log.append(commandBytes(2, 2, add(1), { timestampMs: 20 * minute + 1 }));
    expect(await log.append(commandBytes(1, 2, add(5), { timestampMs: 20 * minute + 1 }))).toEqual({
      kind: "sessionExpired",
      clientId: 1,
      sequence: 2,
      reason: "unknown-session",
    });
    expect(counter.applied).toEqual(["add 1", "add 5", "add 1"]);
  });

  it("never moves log time backwards: a stamp from a slower clock neither expires nor revives anything", async () => {
    const { log, sessions } = wrap({ sessionTimeoutMs: minute });
    await log.append(registerBytes(10 * minute));
    await log.append(keepAliveBytes(1, 1, 3 * minute)); // an earlier stamp: log time stays at 10 min
    expect(sessions.logTimeMs()).toBe(10 * minute);
    expect(await log.append(commandBytes(1, 1, add(1), { timestampMs: 11 * minute }))).toMatchObject({
      kind: "applied",
    });
  });

  it("expires an idle client at its own next command (the expiry runs before the command)", async () => {
    const { counter, log, sessions } = wrap({ sessionTimeoutMs: minute });
    await log.append(registerBytes(0));
    expect(await log.append(commandBytes(1, 1, add(1), { timestampMs: minute + 1 }))).toMatchObject({
      reason: "unknown-session",
    });
    expect(counter.applied).toEqual([]);
    expect(sessions.expiredSessionCount()).toBe(1);
  });

  it("keeps a session that sends keep-alives", async () => {
    const { log } = wrap({ sessionTimeoutMs: minute });
    await log.append(registerBytes(0));
    for (let t = 1; t <= 10; t++) {
      expect(await log.append(keepAliveBytes(1, 1, t * 50_000))).toMatchObject({ kind: "keptAlive" });
    }
    expect(await log.append(commandBytes(1, 1, add(1), { timestampMs: 10 * 50_000 }))).toMatchObject({
      kind: "applied",
    });
  });

  it("expires the same sessions at the same index on two replicas fed the same entries", async () => {
    // Stamps from two accepting nodes whose clocks disagree, out of order, with idle gaps.
    const stamps = [0, 7, 3, 70, 69, 140, 100, 250, 251, 400, 399, 401, 900, 901, 902];
    const entries: Entry[] = [];
    let index = 0;
    const clients: number[] = [];
    for (const [i, stamp] of stamps.entries()) {
      entries.push(normalEntry(++index, registerBytes(stamp)));
      clients.push(index);
      for (const client of clients) {
        if ((client + i) % 3 === 0) {
          entries.push(normalEntry(++index, commandBytes(client, i + 1, add(1), { timestampMs: stamp })));
        }
        if ((client + i) % 5 === 0) entries.push(normalEntry(++index, keepAliveBytes(client, 1, stamp)));
      }
    }
    const replicaA = wrap({ sessionTimeoutMs: 100, maxSessions: 8 });
    const replicaB = wrap({ sessionTimeoutMs: 100, maxSessions: 8 });
    // Replica A applies entry by entry, replica B in uneven batches: the same results either way.
    const resultsA: SessionApplyResult<number>[] = [];
    for (const entry of entries) resultsA.push(...(replicaA.sessions.apply([entry]) as SessionApplyResult<number>[]));
    const resultsB: SessionApplyResult<number>[] = [];
    for (let at = 0; at < entries.length; at += 7) {
      resultsB.push(...(replicaB.sessions.apply(entries.slice(at, at + 7)) as SessionApplyResult<number>[]));
    }
    expect(resultsB).toEqual(resultsA);
    expect(replicaB.counter.total).toBe(replicaA.counter.total);
    expect(resultsA.filter((r) => r.kind === "sessionExpired").length).toBeGreaterThan(0);
    expect(resultsA.filter((r) => r.kind === "applied").length).toBeGreaterThan(0);
    // The tables are byte-identical.
    const snapshotA = await collect(replicaA.sessions.snapshot?.());
    const snapshotB = await collect(replicaB.sessions.snapshot?.());
    expect(snapshotB).toEqual(snapshotA);
  });

  it("defaults to an hour", () => {
    expect(DEFAULT_SESSION_TIMEOUT_MS).toBe(3_600_000);
  });
});

async function collect(
  data:
    | AsyncIterable<Uint8Array>
    | Iterable<Uint8Array>
    | Promise<AsyncIterable<Uint8Array> | Iterable<Uint8Array>>
    | undefined,
): Promise<number[]> {
  if (data === undefined) throw new Error("no snapshot");
  const bytes: number[] = [];
  for await (const chunk of await data) bytes.push(...chunk);
  return bytes;
}
