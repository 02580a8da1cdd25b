import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { ReadIndexHeap, type ReadIndexHeapItem } from "../../src/runtime/read-index-heap.js";

type Op = { kind: "push"; readIndex: number } | { kind: "pop" } | { kind: "remove"; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("push" as const), readIndex: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ kind: fc.constant("pop" as const) }),
  fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
);

test.prop([fc.array(op, { maxLength: 200 })])("behaves like a sorted list under push, pop and remove", (ops) => {
  const heap = new ReadIndexHeap<ReadIndexHeapItem>();
  let model: ReadIndexHeapItem[] = [];
  for (const o of ops) {
    if (o.kind === "push") {
      const item = { readIndex: o.readIndex, heapSlot: -1 };
      heap.push(item);
      model.push(item);
    } else if (o.kind === "pop") {
      const popped = heap.pop();
      const smallest = model.reduce<number | undefined>(
        (min, i) => (min === undefined || i.readIndex < min ? i.readIndex : min),
        undefined,
      );
      expect(popped?.readIndex).toBe(smallest);
      if (popped !== undefined) {
        expect(popped.heapSlot).toBe(-1);
        model = model.filter((i) => i !== popped);
      }
    } else if (model.length > 0) {
      const victim = model[o.pick % model.length];
      heap.remove(victim);
      heap.remove(victim); // removing twice is harmless
      expect(victim.heapSlot).toBe(-1);
      model = model.filter((i) => i !== victim);
    }
    expect(heap.size).toBe(model.length);
  }
  const drained: number[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) drained.push(item.readIndex);
  expect(drained).toEqual(model.map((i) => i.readIndex).sort((a, b) => a - b));
});
