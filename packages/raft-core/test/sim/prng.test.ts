import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Prng } from "../../src/sim/prng.js";

function draws(prng: Prng, count: number): number[] {
  return Array.from({ length: count }, () => prng.nextUint32());
}

/** Pearson's chi-square statistic of observed bucket counts against a uniform expectation. */
function chiSquare(counts: readonly number[]): number {
  const total = counts.reduce((sum, n) => sum + n, 0);
  const expected = total / counts.length;
  return counts.reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
}

describe("Prng streams", () => {
  it("replays the same sequence for the same seed", () => {
    expect(draws(Prng.fromSeed(42), 1000)).toEqual(draws(Prng.fromSeed(42), 1000));
  });

  it("gives different sequences for neighbouring seeds", () => {
    const first = draws(Prng.fromSeed(1), 16);
    const second = draws(Prng.fromSeed(2), 16);
    expect(first).not.toEqual(second);
    // Neighbouring seeds must not give shifted copies of one stream either.
    expect(new Set([...first, ...second]).size).toBe(32);
  });

  it("distinguishes seeds above 2^32 and negative seeds from their low 32 bits", () => {
    const low = draws(Prng.fromSeed(5), 8);
    expect(draws(Prng.fromSeed(5 + 2 ** 32), 8)).not.toEqual(low);
    expect(draws(Prng.fromSeed(-5), 8)).not.toEqual(draws(Prng.fromSeed(2 ** 32 - 5), 8));
  });

  it("rejects seeds that are not safe integers", () => {
    expect(() => Prng.fromSeed(1.5)).toThrow(RangeError);
    expect(() => Prng.fromSeed(Number.NaN)).toThrow(RangeError);
  });

  it("derives forks from (seed, label) only, not from the parent's position", () => {
    const root = Prng.fromSeed(7);
    const early = draws(root.fork("network"), 100);
    draws(root, 50);
    expect(draws(root.fork("network"), 100)).toEqual(early);
    expect(draws(Prng.fromSeed(7).fork("network"), 100)).toEqual(early);
  });

  it("gives independent streams to different labels and seeds", () => {
    const labels = ["node:n1:timeouts", "node:n2:timeouts", "network", "disk", "workload", "faults", "", "n"];
    const root = Prng.fromSeed(7);
    const firsts = labels.map((label) => draws(root.fork(label), 4).join(","));
    expect(new Set(firsts).size).toBe(labels.length);
    expect(draws(Prng.fromSeed(8).fork("network"), 4)).not.toEqual(draws(root.fork("network"), 4));
    expect(draws(root.fork("network"), 4)).not.toEqual(draws(root, 4));
    // Labels differing only in the high byte of a UTF-16 unit still differ.
    expect(draws(root.fork("\u0161"), 4)).not.toEqual(draws(root.fork("\u0061"), 4));
  });

  it("is stable across versions for a fixed seed (golden values)", () => {
    // If this changes, every recorded seed and scenario file replays differently: do it on purpose.
    expect(draws(Prng.fromSeed(2024), 3)).toEqual([2412679096, 3441150798, 1632351301]);
    expect(Prng.fromSeed(2024).fork("network").nextInt(1000)).toBe(663);
  });
});

describe("Prng distributions", () => {
  it("nextInt is roughly uniform over a small bound (chi-square, 9 degrees of freedom)", () => {
    const prng = Prng.fromSeed(99);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[prng.nextInt(10)]++;
    // 27.88 is the 0.999 quantile of chi-square with 9 degrees of freedom.
    expect(chiSquare(counts)).toBeLessThan(27.88);
  });

  it("nextInt has no modulo bias for a bound that does not divide 2^32", () => {
    // With plain `x % bound`, values below 2^30 would be hit twice as often as the others.
    const bound = 3 * 2 ** 30;
    const prng = Prng.fromSeed(3);
    const thirds = [0, 0, 0];
    for (let i = 0; i < 60_000; i++) thirds[Math.floor(prng.nextInt(bound) / 2 ** 30)]++;
    // 13.82 is the 0.999 quantile of chi-square with 2 degrees of freedom.
    expect(chiSquare(thirds)).toBeLessThan(13.82);
  });

  test.prop([fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 2 ** 32 })])(
    "nextInt stays an integer in [0, bound)",
    (seed, bound) => {
      const prng = Prng.fromSeed(seed);
      for (let i = 0; i < 20; i++) {
        const value = prng.nextInt(bound);
        expect(Number.isInteger(value)).toBe(true);
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThan(bound);
      }
    },
  );

  test.prop([fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 1000 })])(
    "nextRange stays in [low, high] inclusive",
    (low, width) => {
      const prng = Prng.fromSeed(low * 7 + width);
      for (let i = 0; i < 20; i++) {
        const value = prng.nextRange(low, low + width);
        expect(value).toBeGreaterThanOrEqual(low);
        expect(value).toBeLessThanOrEqual(low + width);
      }
    },
  );

  it("nextRange reaches both ends", () => {
    const prng = Prng.fromSeed(5);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(prng.nextRange(1, 10));
    expect([...seen].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("rejects bounds it cannot serve", () => {
    const prng = Prng.fromSeed(1);
    expect(() => prng.nextInt(0)).toThrow(RangeError);
    expect(() => prng.nextInt(2 ** 32 + 1)).toThrow(RangeError);
    expect(() => prng.nextInt(2.5)).toThrow(RangeError);
    expect(() => prng.nextRange(5, 4)).toThrow(RangeError);
    expect(() => prng.nextBool(1, 0)).toThrow(RangeError);
    expect(() => prng.pick([])).toThrow(RangeError);
  });

  it("nextBool matches its integer ratio and draws nothing for certain outcomes", () => {
    const prng = Prng.fromSeed(11);
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (prng.nextBool(1, 4)) hits++;
    expect(hits).toBeGreaterThan(24_000);
    expect(hits).toBeLessThan(26_000);

    const a = Prng.fromSeed(12);
    const b = Prng.fromSeed(12);
    expect(a.nextBool(0, 1_000_000)).toBe(false);
    expect(a.nextBool(1_000_000, 1_000_000)).toBe(true);
    expect(a.nextUint32()).toBe(b.nextUint32());
  });

  it("pick returns every element over many draws", () => {
    const prng = Prng.fromSeed(13);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(prng.pick(["a", "b", "c"]));
    expect(seen).toEqual(new Set(["a", "b", "c"]));
  });

  it("shuffle permutes in place, deterministically per seed, reaching every permutation of 3", () => {
    const items = [1, 2, 3, 4, 5, 6, 7, 8];
    const shuffled = Prng.fromSeed(21).shuffle(items);
    expect(shuffled).toBe(items);
    expect([...items].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Prng.fromSeed(21).shuffle([1, 2, 3, 4, 5, 6, 7, 8])).toEqual(items);

    const prng = Prng.fromSeed(22);
    const counts = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const key = prng.shuffle(["a", "b", "c"]).join("");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    // 20.52 is the 0.999 quantile of chi-square with 5 degrees of freedom.
    expect(chiSquare([...counts.values()])).toBeLessThan(20.52);
  });
});
