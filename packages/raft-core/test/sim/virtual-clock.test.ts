import { describe, expect, it } from "vitest";
import { drainMicrotasks } from "../../src/sim/drain-microtasks.js";
import { Prng } from "../../src/sim/prng.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";

describe("VirtualClock ordering", () => {
  it("runs events by time, then in scheduling order, and advances now() to each event", async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    clock.setTimer(30, () => log.push(`c@${clock.now()}`));
    clock.setTimer(10, () => log.push(`a@${clock.now()}`));
    clock.schedule(10, () => log.push(`b@${clock.now()}`));
    clock.setTimer(20, () => log.push(`d@${clock.now()}`));
    expect(clock.pendingCount()).toBe(4);
    await clock.runUntil(25);
    expect(log).toEqual(["a@10", "b@10", "d@20"]);
    expect(clock.now()).toBe(25);
    expect(clock.pendingCount()).toBe(1);
    await clock.runUntil(30);
    expect(log).toEqual(["a@10", "b@10", "d@20", "c@30"]);
    expect(clock.eventsRun).toBe(4);
  });

  it("never runs a zero-delay timer synchronously, but runs it at the same instant", async () => {
    const clock = new VirtualClock({ startMs: 100 });
    const log: number[] = [];
    clock.setTimer(0, () => {
      log.push(clock.now());
      clock.setTimer(0, () => log.push(clock.now()));
    });
    expect(log).toEqual([]);
    await clock.runUntil(100);
    expect(log).toEqual([100, 100]);
  });

  it("rounds fractional delays up and rejects NaN, infinite or past times", async () => {
    const clock = new VirtualClock({ startMs: 10 });
    clock.setTimer(0.2, () => {});
    expect(clock.nextEventAtMs()).toBe(11);
    expect(() => clock.setTimer(Number.NaN, () => {})).toThrow(RangeError);
    expect(() => clock.schedule(9, () => {})).toThrow(RangeError);
    await expect(clock.runUntil(Number.POSITIVE_INFINITY)).rejects.toThrow(RangeError);
    await expect(clock.runWhile(() => true, Number.NaN)).rejects.toThrow(RangeError);
    await expect(clock.runUntil(5)).rejects.toThrow(RangeError);
  });

  it("handles many events in heap order", async () => {
    const clock = new VirtualClock();
    const prng = Prng.fromSeed(5);
    const times: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const at = prng.nextInt(1000);
      clock.schedule(at, () => times.push(clock.now()));
    }
    await clock.runUntil(1000);
    expect(times).toHaveLength(5000);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
  });

  it("refuses to run twice at once", async () => {
    const clock = new VirtualClock();
    clock.setTimer(5, () => {});
    const first = clock.runUntil(10);
    await expect(clock.runUntil(10)).rejects.toThrow(/already running/);
    await first;
  });

  it("stops a livelock at one instant with an error", async () => {
    const clock = new VirtualClock({ maxEventsPerInstant: 100 });
    const rearm = (): void => {
      clock.setTimer(0, rearm);
    };
    clock.setTimer(1, rearm);
    await expect(clock.runUntil(10)).rejects.toThrow(/livelock/);
  });

  it("reports every event through onEvent and every instant through onInstant", async () => {
    const clock = new VirtualClock();
    for (const at of [1, 1, 2, 5]) clock.schedule(at, () => {});
    let events = 0;
    let instants = 0;
    await clock.runUntil(10, { onEvent: () => events++, onInstant: () => instants++ });
    expect(events).toBe(4);
    expect(instants).toBe(3);
  });
});

describe("VirtualClock cancellation", () => {
  it("never runs a cancelled timer and keeps the pending count right", async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const a = clock.setTimer(10, () => log.push("a"));
    clock.setTimer(10, () => log.push("b"));
    clock.cancelTimer(a);
    clock.cancelTimer(a); // twice is harmless
    expect(clock.pendingCount()).toBe(1);
    await clock.runUntil(20);
    expect(log).toEqual(["b"]);
    expect(clock.eventsRun).toBe(1);
    expect(clock.pendingCount()).toBe(0);
  });

  it("ignores handles of events that already ran and handles of another clock", async () => {
    const clock = new VirtualClock();
    const other = new VirtualClock();
    const ran = clock.setTimer(1, () => {});
    const foreign = other.setTimer(1, () => {});
    await clock.runUntil(2);
    clock.cancelTimer(ran);
    clock.cancelTimer(foreign);
    clock.cancelTimer(42);
    expect(clock.pendingCount()).toBe(0);
    expect(other.pendingCount()).toBe(1);
  });

  it("does not leak cancelled timers (an election timer reset on every heartbeat)", async () => {
    const clock = new VirtualClock();
    let fired = 0;
    let handle = clock.setTimer(300, () => fired++);
    for (let i = 0; i < 100_000; i++) {
      clock.cancelTimer(handle);
      handle = clock.setTimer(300, () => fired++);
    }
    expect(clock.pendingCount()).toBe(1);
    expect(clock.storedEventCount()).toBeLessThan(200);
    await clock.runUntil(1000);
    expect(fired).toBe(1);
  });
});

describe("VirtualClock same-instant permutation", () => {
  async function orderAtOneInstant(permuteWith?: Prng): Promise<number[]> {
    const clock = new VirtualClock({ permuteWith });
    const order: number[] = [];
    for (let i = 0; i < 10; i++) clock.schedule(7, () => order.push(i));
    clock.schedule(3, () => order.push(-1));
    clock.schedule(9, () => order.push(99));
    await clock.runUntil(10);
    return order;
  }

  it("keeps FIFO without a Prng", async () => {
    expect(await orderAtOneInstant()).toEqual([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
  });

  it("permutes same-instant events by seed, deterministically, never across instants", async () => {
    const first = await orderAtOneInstant(Prng.fromSeed(1).fork("scheduler"));
    expect(await orderAtOneInstant(Prng.fromSeed(1).fork("scheduler"))).toEqual(first);
    expect(first[0]).toBe(-1);
    expect(first[11]).toBe(99);
    expect([...first].sort((a, b) => a - b)).toEqual([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);

    const orders = new Set<string>();
    for (let seed = 1; seed <= 5; seed++) {
      orders.add((await orderAtOneInstant(Prng.fromSeed(seed).fork("scheduler"))).join(","));
    }
    expect(orders.size).toBeGreaterThan(1);
    expect(orders.has([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99].join(","))).toBe(false);
  });
});

describe("VirtualClock microtask draining", () => {
  it("completes a 20-deep promise chain started in an event before the next instant", async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    clock.setTimer(10, () => {
      void (async () => {
        for (let i = 0; i < 20; i++) await Promise.resolve();
        log.push(`chain done @${clock.now()}`);
      })();
    });
    clock.setTimer(11, () => log.push(`next instant @${clock.now()}`));
    await clock.runUntil(20);
    expect(log).toEqual(["chain done @10", "next instant @11"]);
  });

  it("runs timers that microtasks schedule at the current instant before moving on", async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    clock.setTimer(5, () => {
      void Promise.resolve().then(() => clock.setTimer(0, () => log.push(`zero-delay @${clock.now()}`)));
    });
    clock.setTimer(6, () => log.push(`later @${clock.now()}`));
    await clock.runUntil(10);
    expect(log).toEqual(["zero-delay @5", "later @6"]);
  });

  it("settles work started before runUntil at the current instant", async () => {
    const clock = new VirtualClock({ startMs: 3 });
    const log: string[] = [];
    void Promise.resolve()
      .then(() => Promise.resolve())
      .then(() => clock.setTimer(1, () => log.push(`timer @${clock.now()}`)));
    await clock.runUntil(10);
    expect(log).toEqual(["timer @4"]);
  });

  it("drainMicrotasks waits for nested microtasks", async () => {
    let done = false;
    void Promise.resolve()
      .then(() => Promise.resolve())
      .then(() => {
        done = true;
      });
    await drainMicrotasks();
    expect(done).toBe(true);
  });
});

describe("VirtualClock.runWhile", () => {
  it("stops at the instant the predicate turns false", async () => {
    const clock = new VirtualClock();
    let count = 0;
    for (let at = 10; at <= 100; at += 10) clock.schedule(at, () => count++);
    const reached = await clock.runWhile(() => count < 3, 1000);
    expect(reached).toBe(true);
    expect(clock.now()).toBe(30);
    expect(clock.pendingCount()).toBe(7);
  });

  it("sees state changed by promise continuations of the instant", async () => {
    const clock = new VirtualClock();
    let resolved = false;
    clock.schedule(10, () => {
      void Promise.resolve().then(() => {
        resolved = true;
      });
    });
    clock.schedule(20, () => {});
    expect(await clock.runWhile(() => !resolved, 100)).toBe(true);
    expect(clock.now()).toBe(10);
  });

  it("returns false at the limit when the predicate still holds", async () => {
    const clock = new VirtualClock();
    clock.schedule(50, () => {});
    clock.schedule(500, () => {});
    expect(await clock.runWhile(() => true, 200)).toBe(false);
    expect(clock.now()).toBe(200);
    expect(clock.pendingCount()).toBe(1);
  });
});
