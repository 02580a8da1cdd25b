import { describe, expect, it } from "vitest";
import { ReadBarrierBatcher } from "../../src/service/read-barrier-batcher.js";

/** A read function whose rounds the test finishes by hand, recording when each started. */
function manualReads() {
  const rounds: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const read = () =>
    new Promise<void>((resolve, reject) => {
      rounds.push({ resolve, reject });
    });
  return { rounds, read };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("ReadBarrierBatcher", () => {
  it("answers a call only with a round that started after it (thesis §6.4), sharing that round", async () => {
    const { rounds, read } = manualReads();
    const batcher = new ReadBarrierBatcher(read);
    const done: string[] = [];
    const first = batcher.barrier().then(() => done.push("first"));
    expect(rounds).toHaveLength(1);
    // These arrive while round 1 runs: round 1 may have read the commit index before them.
    const later = Array.from({ length: 50 }, (_, i) => batcher.barrier().then(() => done.push(`later${i}`)));
    expect(rounds).toHaveLength(1);
    rounds[0].resolve();
    await first;
    await tick();
    expect(done).toEqual(["first"]);
    // Round 2 started after all fifty: it answers them together.
    expect(rounds).toHaveLength(2);
    rounds[1].resolve();
    await Promise.all(later);
    expect(done).toHaveLength(51);
    expect(rounds).toHaveLength(2);
  });

  it("a failed round fails its callers only; the next call starts a fresh round", async () => {
    const { rounds, read } = manualReads();
    const batcher = new ReadBarrierBatcher(read);
    const failing = batcher.barrier();
    rounds[0].reject(new Error("leadership could not be confirmed"));
    await expect(failing).rejects.toThrow(/leadership/);
    const next = batcher.barrier();
    expect(rounds).toHaveLength(2);
    rounds[1].resolve();
    await expect(next).resolves.toBeUndefined();
  });

  it("a queued round still runs after the running one fails", async () => {
    const { rounds, read } = manualReads();
    const batcher = new ReadBarrierBatcher(read);
    const running = batcher.barrier().catch((error: Error) => error.message);
    const queued = batcher.barrier();
    rounds[0].reject(new Error("no leader"));
    expect(await running).toBe("no leader");
    await tick();
    expect(rounds).toHaveLength(2);
    rounds[1].resolve();
    await expect(queued).resolves.toBeUndefined();
  });
});
