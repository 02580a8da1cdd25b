import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { jointCommitted, jointVoteResult, majorityCommitted, majorityVoteResult } from "../../src/core/quorum.js";

/** Reference: the largest index i such that more than half of the voters have match ≥ i. */
function referenceCommitted(matches: number[]): number {
  let best = 0;
  for (const candidate of matches) {
    const holders = matches.filter((m) => m >= candidate).length;
    if (holders * 2 > matches.length && candidate > best) best = candidate;
  }
  return best;
}

function referenceVote(granted: number, rejected: number, n: number): "won" | "lost" | "pending" {
  if (granted * 2 > n) return "won";
  if ((n - rejected) * 2 <= n) return "lost";
  return "pending";
}

describe("quorum arithmetic (§3.6: committed = stored on a majority)", () => {
  test.prop([fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 })])(
    "majority commit index matches the reference",
    (matches) => {
      const ids = matches.map((_, i) => `n${i}`);
      expect(majorityCommitted(ids, (id) => matches[Number(id.slice(1))])).toBe(referenceCommitted(matches));
    },
  );

  test.prop([fc.array(fc.constantFrom(true, false, undefined), { minLength: 1, maxLength: 9 })])(
    "majority vote result matches the reference",
    (votes) => {
      const ids = votes.map((_, i) => `n${i}`);
      const map = new Map<string, boolean>();
      votes.forEach((v, i) => {
        if (v !== undefined) map.set(ids[i], v);
      });
      const granted = votes.filter((v) => v === true).length;
      const rejected = votes.filter((v) => v === false).length;
      expect(majorityVoteResult(ids, map)).toBe(referenceVote(granted, rejected, ids.length));
    },
  );

  test.prop([
    fc.array(fc.nat({ max: 30 }), { minLength: 1, maxLength: 7 }),
    fc.array(fc.nat({ max: 30 }), { minLength: 0, maxLength: 7 }),
  ])("joint commit index is the minimum of both halves (thesis §4.3)", (a, b) => {
    const incoming = a.map((_, i) => `a${i}`);
    const outgoing = b.map((_, i) => `b${i}`);
    const match = (id: string) => (id[0] === "a" ? a : b)[Number(id.slice(1))];
    const expected = b.length === 0 ? referenceCommitted(a) : Math.min(referenceCommitted(a), referenceCommitted(b));
    expect(jointCommitted({ incoming, outgoing }, match)).toBe(expected);
  });

  it("a joint vote needs both majorities and is lost when either is lost", () => {
    const config = { incoming: ["a", "b", "c"], outgoing: ["c", "d", "e"] };
    expect(
      jointVoteResult(
        config,
        new Map([
          ["a", true],
          ["b", true],
        ]),
      ),
    ).toBe("pending");
    expect(
      jointVoteResult(
        config,
        new Map([
          ["a", true],
          ["b", true],
          ["d", true],
          ["e", true],
        ]),
      ),
    ).toBe("won");
    expect(
      jointVoteResult(
        config,
        new Map([
          ["a", true],
          ["b", true],
          ["d", false],
          ["e", false],
        ]),
      ),
    ).toBe("lost");
  });
});
