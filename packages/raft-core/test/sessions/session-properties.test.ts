import { fc, test } from "@fast-check/vitest";
import { afterAll, describe, expect } from "vitest";
import type { Entry } from "../../src/core/types.js";
import { jsonResultCodec } from "../../src/sessions/session-options.js";
import type { SessionApplyResult } from "../../src/sessions/session-result.js";
import { SessionStateMachine } from "../../src/sessions/session-state-machine.js";
import {
  add,
  CounterStateMachine,
  commandBytes,
  drain,
  keepAliveBytes,
  metaAt,
  noopEntry,
  normalEntry,
  registerBytes,
} from "./helpers.js";

interface Occurrence {
  readonly client: number;
  readonly sequence: number;
}

/**
 * Per client (ids 1..k, registered by the first k entries) a list of command amounts; each
 * command is sent 1-3 times (original plus retries) and the copies of all commands are shuffled.
 */
const retriedWorkload = fc
  .array(fc.array(fc.integer({ min: 1, max: 999 }), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 })
  .chain((amounts) => {
    const copies = amounts.flatMap((list, c) => list.map((_, s) => ({ client: c + 1, sequence: s + 1 })));
    return fc.record({
      amounts: fc.constant(amounts),
      repeats: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: copies.length, maxLength: copies.length }),
      noopsAfter: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
      batchCuts: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 64, maxLength: 64 }),
      seed: fc.nat(),
      copies: fc.constant(copies),
    });
  })
  .chain((w) => {
    const all: Occurrence[] = w.copies.flatMap((o, i) => Array.from({ length: w.repeats[i] as number }, () => o));
    return fc.record({
      workload: fc.constant(w),
      order: fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }),
    });
  });

function applyInBatches(
  sessions: SessionStateMachine<number>,
  entries: readonly Entry[],
  cuts: readonly number[],
): SessionApplyResult<number>[] {
  const results: SessionApplyResult<number>[] = [];
  let at = 0;
  for (let i = 0; at < entries.length; i++) {
    const size = cuts[i % cuts.length] as number;
    results.push(...(sessions.apply(entries.slice(at, at + size)) as SessionApplyResult<number>[]));
    at += size;
  }
  return results;
}

describe("exactly-once under retries (thesis §6.3)", () => {
  test.prop([retriedWorkload], { numRuns: 200 })(
    "any interleaving of duplicates and retries leaves the same state as applying each command once",
    ({ workload, order }) => {
      const amountOf = (o: Occurrence) => (workload.amounts[o.client - 1] as number[])[o.sequence - 1] as number;
      const entries: Entry[] = [];
      for (let c = 0; c < workload.amounts.length; c++) entries.push(normalEntry(entries.length + 1, registerBytes()));
      // The acknowledgement a real client could send at each position: the lowest of its
      // sequences still to be sent (a client only retries what it has no answer for).
      const commandPositions: number[] = [];
      order.forEach((o, position) => {
        let lowest = o.sequence;
        for (const later of order.slice(position))
          if (later.client === o.client) lowest = Math.min(lowest, later.sequence);
        commandPositions.push(entries.length);
        entries.push(
          normalEntry(
            entries.length + 1,
            commandBytes(o.client, o.sequence, add(amountOf(o)), { lowestUnacked: lowest }),
          ),
        );
        if (workload.noopsAfter[position % 64]) entries.push(noopEntry(entries.length + 1));
      });

      const counter = new CounterStateMachine();
      const sessions = new SessionStateMachine<number>(counter, { resultCodec: jsonResultCodec<number>() });
      const results = applyInBatches(sessions, entries, workload.batchCuts);

      // Reference: a plain counter fed each command once, at its first occurrence.
      const reference = new CounterStateMachine();
      const seen = new Set<string>();
      const expectedResults = new Map<string, number>();
      order.forEach((o, position) => {
        const key = `${o.client}/${o.sequence}`;
        const index = (commandPositions[position] as number) + 1;
        const entry = seen.has(key) ? noopEntry(index) : normalEntry(index, add(amountOf(o)));
        reference.apply(padTo(reference, index));
        const [total] = reference.apply([entry]);
        if (!seen.has(key)) expectedResults.set(key, total as number);
        seen.add(key);
      });

      expect(counter.applied).toEqual(reference.applied);
      expect(counter.total).toBe(reference.total);
      expect(counter.appliedIndex()).toBe(entries.length);
      const firstSeen = new Set<string>();
      order.forEach((o, position) => {
        const key = `${o.client}/${o.sequence}`;
        const result = results[commandPositions[position] as number];
        expect(result).toEqual({
          kind: firstSeen.has(key) ? "duplicate" : "applied",
          clientId: o.client,
          sequence: o.sequence,
          result: expectedResults.get(key),
        });
        firstSeen.add(key);
      });
    },
  );

  const stats = { runs: 0, evicted: 0, unknown: 0, duplicates: 0, idleExpiries: 0 };
  afterAll(() => {
    // The generator must reach every branch often, or the property proves little.
    for (const branch of ["evicted", "unknown", "duplicates", "idleExpiries"] as const) {
      expect(stats[branch], branch).toBeGreaterThan(stats.runs / 10);
    }
  });

  /** Clients 1-3 are registered by the first three entries; client 4 never is. */
  const client = fc.integer({ min: 1, max: 4 });
  /** Each step moves a clock on by `advance`; its stamp lags it by `skew` (clocks disagree, stamps go back). */
  const stamp = fc.record({ advance: fc.nat({ max: 3 }), skew: fc.nat({ max: 6 }) });
  const anyEntry = fc.oneof(
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("register" as const), stamp }) },
    {
      weight: 8,
      arbitrary: fc.integer({ min: 1, max: 4 }).chain((sequence) =>
        fc.record({
          kind: fc.constant("command" as const),
          client,
          sequence: fc.constant(sequence),
          // Mostly no acknowledgement, so results are evicted by the cache bound rather than acknowledged.
          ack: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: sequence })),
          stamp,
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant("keepAlive" as const), client, ack: fc.nat({ max: 6 }), stamp }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "noop" as const }) },
  );
  const registerFirst = [0, 0, 0].map(() => ({ kind: "register" as const, stamp: { advance: 0, skew: 0 } }));

  test.prop(
    [
      fc.array(anyEntry, { minLength: 10, maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 8, maxLength: 8 }),
      fc.nat(),
    ],
    { numRuns: 200 },
  )(
    "under any acknowledgements, evictions and expiries no command is applied twice; batching and a snapshot midway change nothing",
    async (steps, cuts, cutSeed) => {
      const script = [...registerFirst, ...steps];
      let clockMs = 0;
      const entries: Entry[] = script.map((step, i) => {
        const index = i + 1;
        if (step.kind !== "noop") clockMs += step.stamp.advance;
        const stampMs = step.kind === "noop" ? 0 : Math.max(0, clockMs - step.stamp.skew);
        switch (step.kind) {
          case "register":
            return normalEntry(index, registerBytes(stampMs));
          case "command":
            return normalEntry(
              index,
              commandBytes(step.client, step.sequence, add(step.client * 100 + step.sequence), {
                lowestUnacked: step.ack,
                timestampMs: stampMs,
              }),
            );
          case "keepAlive":
            return normalEntry(index, keepAliveBytes(step.client, step.ack, stampMs));
          default:
            return noopEntry(index);
        }
      });
      const options = {
        resultCodec: jsonResultCodec<number>(),
        sessionTimeoutMs: 12,
        maxSessions: 3,
        maxCachedResultsPerClient: 2,
      };
      const oneByOne = new CounterStateMachine();
      const a = new SessionStateMachine<number>(oneByOne, options);
      const resultsA = entries.flatMap((entry) => a.apply([entry]) as SessionApplyResult<number>[]);

      // Never a second apply: every payload names its (client, sequence).
      expect(new Set(oneByOne.applied).size).toBe(oneByOne.applied.length);
      stats.runs++;
      if (resultsA.some((r) => r.kind === "sessionExpired" && r.reason === "result-evicted")) stats.evicted++;
      if (resultsA.some((r) => r.kind === "sessionExpired" && r.reason === "unknown-session")) stats.unknown++;
      if (resultsA.some((r) => r.kind === "duplicate")) stats.duplicates++;
      if (a.expiredSessionCount() > 0) stats.idleExpiries++;
      // A duplicate returns what the first application returned.
      const firstResult = new Map<string, number>();
      for (const result of resultsA) {
        if (result.kind === "applied") firstResult.set(`${result.clientId}/${result.sequence}`, result.result);
        if (result.kind === "duplicate") {
          expect(result.result).toBe(firstResult.get(`${result.clientId}/${result.sequence}`));
        }
      }
      expect(resultsA.filter((r) => r.kind === "applied")).toHaveLength(oneByOne.applied.length);

      // Replica B: batches, and a snapshot + restore into a fresh replica at a random point.
      const cut = cutSeed % (entries.length + 1);
      const first = new SessionStateMachine<number>(new CounterStateMachine(), options);
      const resultsB = applyInBatches(first, entries.slice(0, cut), cuts);
      let second = first;
      let counterB: CounterStateMachine | undefined;
      if (cut > 0) {
        counterB = new CounterStateMachine();
        second = new SessionStateMachine<number>(counterB, options);
        await second.restore?.(metaAt(cut), await drain(await (first.snapshot?.() ?? [])));
      }
      resultsB.push(...applyInBatches(second, entries.slice(cut), cuts));
      expect(resultsB).toEqual(resultsA);
      if (counterB !== undefined) expect(counterB.total).toBe(oneByOne.total);
    },
  );
});

/** Noops for the indexes a reference counter skipped (the envelope entries it never sees). */
function padTo(counter: CounterStateMachine, index: number): Entry[] {
  const pad: Entry[] = [];
  for (let i = counter.appliedIndex() + 1; i < index; i++) pad.push(noopEntry(i));
  return pad;
}
