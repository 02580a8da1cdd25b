import { describe, expect, it } from "vitest";
import { CryptoRandom } from "../../src/platform/crypto-random.js";
import { SystemClock } from "../../src/platform/system-clock.js";

describe("platform adapters", () => {
  it("SystemClock is monotonic and fires timers after their delay", async () => {
    const clock = new SystemClock();
    const start = clock.now();
    const firedAt = await new Promise<number>((resolve) => clock.setTimer(20, () => resolve(clock.now())));
    expect(firedAt - start).toBeGreaterThanOrEqual(15);
  });

  it("SystemClock.cancelTimer prevents the callback", async () => {
    const clock = new SystemClock();
    let fired = false;
    const h = clock.setTimer(5, () => {
      fired = true;
    });
    clock.cancelTimer(h);
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(false);
  });

  it("CryptoRandom stays in range, covers it, and rejects bad bounds", () => {
    const r = new CryptoRandom();
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = r.nextInt(7);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(7);
      seen.add(v);
    }
    expect(seen.size).toBe(7);
    expect(() => r.nextInt(0)).toThrow(RangeError);
    expect(() => r.nextInt(2 ** 33)).toThrow(RangeError);
  });
});
