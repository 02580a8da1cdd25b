import { NotLeaderError, ReadFailedError } from "@lectern/raft-core";
import { describe, expect, it } from "vitest";
import { leaderWaitMs, maxLeaderWaits, withLeader } from "../../src/service/leader-wait.js";

/** A node whose known leader the test sets. */
function node(leader = "") {
  const state = { leader };
  return { state, raft: { status: () => ({ leader: state.leader }) } };
}

describe("withLeader: a call refused only for want of a leader waits for the election", () => {
  it("runs the call again as soon as a leader is known", async () => {
    const { state, raft } = node();
    let attempts = 0;
    setTimeout(() => {
      state.leader = "n2";
    }, 30);
    const started = Date.now();
    const result = await withLeader(raft, Date.now() + 5_000, async () => {
      attempts++;
      if (state.leader === "") throw new NotLeaderError("");
      return "applied";
    });
    expect(result).toBe("applied");
    expect(attempts).toBe(2);
    expect(Date.now() - started).toBeLessThan(leaderWaitMs);
  });

  it("retries a read whose leadership could not be confirmed", async () => {
    const { raft } = node("n1");
    let attempts = 0;
    const result = await withLeader(raft, Date.now() + 5_000, async () => {
      if (++attempts === 1) throw new ReadFailedError("leadership could not be confirmed");
      return "read";
    });
    expect([result, attempts]).toEqual(["read", 2]);
  });

  it("does not wait on any other refusal: a leader hint, another error", async () => {
    const { raft } = node();
    for (const error of [new NotLeaderError("n3"), new Error("boom")]) {
      let attempts = 0;
      await expect(
        withLeader(raft, Date.now() + 5_000, async () => {
          attempts++;
          throw error;
        }),
      ).rejects.toBe(error);
      expect(attempts).toBe(1);
    }
  });

  it("gives up with the refusal at the deadline when no leader appears, and after a few rounds", async () => {
    const { raft } = node();
    const refusal = new NotLeaderError("");
    const started = Date.now();
    await expect(
      withLeader(raft, Date.now() + 40, async () => {
        throw refusal;
      }),
    ).rejects.toBe(refusal);
    expect(Date.now() - started).toBeLessThan(leaderWaitMs);
    // A leader is known but every attempt is still refused: bounded rounds, not a loop.
    const known = node("n1");
    let attempts = 0;
    await expect(
      withLeader(known.raft, Date.now() + 5_000, async () => {
        attempts++;
        throw new NotLeaderError("");
      }),
    ).rejects.toBeInstanceOf(NotLeaderError);
    expect(attempts).toBe(maxLeaderWaits + 1);
  });

  it("does not run the call again once the deadline has passed (a read barrier that timed out)", async () => {
    const { raft } = node("n1");
    let attempts = 0;
    const timedOut = new ReadFailedError("not confirmed within 30 ms");
    await expect(
      withLeader(raft, Date.now() + 30, async () => {
        attempts++;
        await new Promise((resolve) => setTimeout(resolve, 40));
        throw timedOut;
      }),
    ).rejects.toBe(timedOut);
    expect(attempts).toBe(1);
  });
});
