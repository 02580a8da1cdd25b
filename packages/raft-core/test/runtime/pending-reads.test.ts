import { expect, test } from "vitest";
import { isRaftError } from "../../src/runtime/errors.js";
import { PendingRead, PendingReads } from "../../src/runtime/pending-reads.js";

function read(requestId: number) {
  const outcome: { done: boolean; error?: unknown } = { done: false };
  const r = new PendingRead(
    requestId,
    1_000,
    undefined,
    () => (outcome.done = true),
    (error) => (outcome.error = error),
  );
  return { r, outcome };
}

test("a read completes once the applied index reaches its read index (thesis §6.4)", () => {
  const reads = new PendingReads();
  const early = read(1);
  const late = read(2);
  const already = read(3);
  for (const x of [early, late, already]) reads.add(x.r);
  reads.onReadState({ requestId: 2, index: 9 }, 4);
  reads.onReadState({ requestId: 1, index: 6 }, 4);
  reads.onReadState({ requestId: 3, index: 4 }, 4);
  expect(already.outcome.done).toBe(true);
  reads.releaseUpTo(5);
  expect([early.outcome.done, late.outcome.done]).toEqual([false, false]);
  reads.releaseUpTo(8);
  expect([early.outcome.done, late.outcome.done]).toEqual([true, false]);
  reads.releaseUpTo(9);
  expect(late.outcome.done).toBe(true);
  expect(reads.size).toBe(0);
});

test("read index 0 fails the read with a retryable READ_FAILED; unknown and repeated answers are ignored", () => {
  const reads = new PendingReads();
  const failed = read(1);
  const waiting = read(2);
  reads.add(failed.r);
  reads.add(waiting.r);
  reads.onReadState({ requestId: 1, index: 0 }, 0);
  expect(isRaftError(failed.outcome.error, "READ_FAILED")).toBe(true);
  expect((failed.outcome.error as { retryable: boolean }).retryable).toBe(true);
  reads.onReadState({ requestId: 99, index: 3 }, 0);
  reads.onReadState({ requestId: 2, index: 5 }, 0);
  reads.onReadState({ requestId: 2, index: 0 }, 0); // a late duplicate must not fail a confirmed read
  expect(waiting.outcome.error).toBeUndefined();
  reads.releaseUpTo(5);
  expect(waiting.outcome.done).toBe(true);
});

test("a cancelled read leaves the queue at once", () => {
  const reads = new PendingReads();
  const cancelled = read(1);
  reads.add(cancelled.r);
  reads.onReadState({ requestId: 1, index: 5 }, 0);
  reads.reject(cancelled.r, new Error("timeout"));
  expect(reads.size).toBe(0);
  expect(cancelled.r.heapSlot).toBe(-1);
  reads.releaseUpTo(10);
  expect(cancelled.outcome.done).toBe(false);
});
