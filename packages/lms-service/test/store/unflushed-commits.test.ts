import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UnflushedCommits } from "../../src/store/unflushed-commits.js";

/** The store's grouping: `d/<collection>/`. */
const groupOf = (fullKey: string) => {
  const end = fullKey.indexOf("/", 2);
  return end === -1 ? fullKey : fullKey.slice(0, end + 1);
};

const sorted = (entries: Iterable<readonly [string, string | null]>) =>
  [...entries].map(([key, text]) => `${key}=${text}`).sort();

describe("UnflushedCommits.inRange", () => {
  it("answers a range inside one collection from that collection's keys only", () => {
    const unflushed = new UnflushedCommits(groupOf);
    unflushed.add(1, [
      ["d/notes/c1/a", "1"],
      ["d/notes/c2/b", "2"],
      ["d/users/u1", "3"],
    ]);
    unflushed.add(2, [
      ["d/notes/c1/c", null],
      ["d/notes/c1/a", "4"],
    ]);
    expect(sorted(unflushed.inRange("d/notes/c1/", "d/notes/c1/\uffff"))).toEqual([
      "d/notes/c1/a=4",
      "d/notes/c1/c=null",
    ]);
    expect(sorted(unflushed.inRange("d/users/", "d/users/\uffff"))).toEqual(["d/users/u1=3"]);
    // Ends in different groups: the whole overlay is searched.
    expect(sorted(unflushed.inRange("d/notes/c2/", "d/users/\uffff"))).toEqual(["d/notes/c2/b=2", "d/users/u1=3"]);
  });

  it("forgets a flushed key in its group, but keeps one a later commit rewrote", () => {
    const unflushed = new UnflushedCommits(groupOf);
    unflushed.add(1, [
      ["d/notes/c1/a", "1"],
      ["d/notes/c1/b", "2"],
    ]);
    const first = unflushed.nextBatch() as NonNullable<ReturnType<UnflushedCommits["nextBatch"]>>;
    unflushed.add(2, [["d/notes/c1/b", "3"]]);
    unflushed.flushed(first);
    expect(sorted(unflushed.inRange("d/notes/c1/", "d/notes/c1/\uffff"))).toEqual(["d/notes/c1/b=3"]);
    unflushed.flushed(unflushed.nextBatch() as NonNullable<ReturnType<UnflushedCommits["nextBatch"]>>);
    expect([...unflushed.inRange("d/notes/c1/", "d/notes/c1/\uffff")]).toEqual([]);
  });

  const key = fc
    .tuple(
      fc.constantFrom("notes", "users", "grades"),
      fc.constantFrom("c1", "c2"),
      fc.constantFrom("a", "b", "c", "d"),
    )
    .map(([collection, course, id]) => `d/${collection}/${course}/${id}`);
  const step = fc.oneof(
    fc.record({
      kind: fc.constant("add" as const),
      operations: fc.array(fc.tuple(key, fc.option(fc.string({ maxLength: 3 }), { nil: null })), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
    fc.record({ kind: fc.constant("flush" as const) }),
  );
  const range = fc
    .tuple(fc.constantFrom("notes", "users", "grades"), fc.constantFrom("", "c1/", "c2/", "c1/b"))
    .map(([collection, prefix]) => `d/${collection}/${prefix}`);

  it("a grouped range read equals a scan of every unflushed key, whatever was added and flushed", () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 40 }),
        fc.array(range, { minLength: 1, maxLength: 5 }),
        (steps, ranges) => {
          const unflushed = new UnflushedCommits(groupOf);
          // The model: newest text and writing commit of every key not yet on disk.
          const model = new Map<string, { text: string | null; commit: number }>();
          let commit = 0;
          for (const s of steps) {
            if (s.kind === "add") {
              commit++;
              unflushed.add(commit, s.operations);
              for (const [k, text] of s.operations) model.set(k, { text, commit });
            } else {
              const batch = unflushed.nextBatch();
              if (batch === undefined) continue;
              unflushed.flushed(batch);
              for (const [k, entry] of [...model]) if (entry.commit <= batch.appliedIndex) model.delete(k);
            }
          }
          for (const from of ranges) {
            const to = `${from}\uffff`;
            const expected = [...model].filter(([k]) => k >= from && k < to).map(([k, e]) => [k, e.text] as const);
            expect(sorted(unflushed.inRange(from, to))).toEqual(sorted(expected));
          }
        },
      ),
    );
  });
});
