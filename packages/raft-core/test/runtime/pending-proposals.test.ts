import { describe, expect, test } from "vitest";
import type { Entry } from "../../src/core/types.js";
import { isRaftError } from "../../src/runtime/errors.js";
import { PendingProposal, PendingProposals } from "../../src/runtime/pending-proposals.js";

function proposal(requestId: number) {
  const outcome: { value?: string; error?: unknown } = {};
  const p = new PendingProposal<string>(
    requestId,
    new Uint8Array([1]),
    1_000,
    undefined,
    (value) => (outcome.value = value),
    (error) => (outcome.error = error),
  );
  return { p, outcome };
}

function entry(index: number, term: number, extra: Partial<Entry> = {}): Entry {
  return { index, term, type: "normal", data: new Uint8Array(), ...extra };
}

const codeOf = (error: unknown) => (isRaftError(error) ? error.code : undefined);

describe("PendingProposals", () => {
  test("a local proposal resolves only when the entry applied at its index has its term (§5.3)", () => {
    const pending = new PendingProposals<string>("a");
    const kept = proposal(1);
    const replaced = proposal(2);
    pending.add(kept.p);
    pending.add(replaced.p);
    pending.markAppended(kept.p, 5, 2);
    pending.markAppended(replaced.p, 6, 2);
    pending.settleApplied(entry(5, 2), "five");
    pending.settleApplied(entry(6, 3), "someone else's");
    expect(kept.outcome.value).toBe("five");
    expect(codeOf(replaced.outcome.error)).toBe("PROPOSAL_DROPPED");
    expect(pending.size).toBe(0);
  });

  test("a no-op at a local proposal's index drops it", () => {
    const pending = new PendingProposals<string>("a");
    const local = proposal(1);
    pending.add(local.p);
    pending.markAppended(local.p, 5, 2);
    pending.settleApplied(entry(5, 3, { type: "noop" }), "ignored");
    expect(codeOf(local.outcome.error)).toBe("PROPOSAL_DROPPED");
  });

  test("appending at an index an older proposal still holds drops the older one (§5.4)", () => {
    const pending = new PendingProposals<string>("a");
    const old = proposal(1);
    const fresh = proposal(2);
    pending.add(old.p);
    pending.add(fresh.p);
    pending.markAppended(old.p, 7, 2);
    pending.markAppended(fresh.p, 7, 4);
    expect(codeOf(old.outcome.error)).toBe("PROPOSAL_DROPPED");
    pending.settleApplied(entry(7, 4), "fresh");
    expect(fresh.outcome.value).toBe("fresh");
  });

  test("a forwarded proposal is matched by origin and request id, not by index", () => {
    const pending = new PendingProposals<string>("b");
    const forwarded = proposal(42);
    pending.add(forwarded.p);
    pending.markForwarded(forwarded.p, "a", 3);
    pending.settleApplied(entry(9, 3, { origin: "c", requestId: 42 }), "c's");
    pending.settleApplied(entry(10, 3, { origin: "b", requestId: 41 }), "b's other");
    expect(forwarded.outcome).toEqual({});
    pending.settleApplied(entry(11, 3, { origin: "b", requestId: 42 }), "mine");
    expect(forwarded.outcome.value).toBe("mine");
    expect(pending.forwardedCount).toBe(0);
  });

  test("forwarded proposals fail with OUTCOME_UNKNOWN unless sent to the current leader in the current term", () => {
    const pending = new PendingProposals<string>("b");
    const toOldTerm = proposal(1);
    const toOtherLeader = proposal(2);
    const current = proposal(3);
    for (const x of [toOldTerm, toOtherLeader, current]) pending.add(x.p);
    pending.markForwarded(toOldTerm.p, "a", 3);
    pending.markForwarded(toOtherLeader.p, "c", 4);
    pending.markForwarded(current.p, "a", 4);
    pending.failForwardedNotSentTo("a", 4, () => Object.assign(new Error("x"), { code: "OUTCOME_UNKNOWN" }));
    expect(codeOf(toOldTerm.outcome.error)).toBe("OUTCOME_UNKNOWN");
    expect(codeOf(toOtherLeader.outcome.error)).toBe("OUTCOME_UNKNOWN");
    expect(current.outcome).toEqual({});
    expect(pending.forwardedCount).toBe(1);
  });

  test("settling twice is a no-op, and a settled proposal leaves every index", () => {
    const pending = new PendingProposals<string>("a");
    const local = proposal(1);
    pending.add(local.p);
    pending.markAppended(local.p, 3, 1);
    pending.reject(local.p, new Error("timeout"));
    pending.settleApplied(entry(3, 1), "late");
    expect(local.outcome.value).toBeUndefined();
    expect((local.outcome.error as Error).message).toBe("timeout");
    expect(pending.size).toBe(0);
  });
});
