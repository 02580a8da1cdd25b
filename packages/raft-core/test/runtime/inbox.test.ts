import { expect, test } from "vitest";
import { Inbox } from "../../src/runtime/inbox.js";

test("hands events out in arrival order; events posted during a batch wait for the next one", () => {
  const inbox = new Inbox<number>();
  inbox.push(1);
  inbox.push(2);
  const first = inbox.takeAll();
  inbox.push(3); // posted while the first batch is handled
  expect(first).toEqual([1, 2]);
  expect(inbox.size).toBe(1);
  inbox.recycle(first);
  const second = inbox.takeAll();
  expect(second).toEqual([3]);
  expect(second).not.toBe(first);
  inbox.recycle(second);
  inbox.push(4);
  // The recycled array is reused, so steady traffic allocates nothing.
  expect(inbox.takeAll()).toBe(first);
  expect(first).toEqual([4]);
});

test("clear() forgets waiting events", () => {
  const inbox = new Inbox<string>();
  inbox.push("a");
  inbox.clear();
  expect(inbox.size).toBe(0);
  expect(inbox.takeAll()).toEqual([]);
});
