import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../src/core/types.js";
import {
  applyKvCommandToValue,
  casCommand,
  decodeKvCommand,
  encodeKvCommand,
  getCommand,
  type KvCommand,
  KvCommandFormatError,
  type KvResult,
  putCommand,
} from "../../src/sim/kv-command.js";
import { decodeKvSnapshot, encodeKvSnapshot, KvSnapshotFormatError } from "../../src/sim/kv-snapshot-codec.js";
import { KvStateMachine } from "../../src/sim/kv-state-machine.js";

const text = fc.string({ unit: "binary", maxLength: 12 });
const smallText = fc.constantFrom("a", "b", "c", "", "é", "\u{1F600}");
const commandArb = (s: fc.Arbitrary<string>): fc.Arbitrary<KvCommand> =>
  fc.oneof(
    fc.record({ kind: fc.constant("put" as const), key: s, value: s }),
    fc.record({ kind: fc.constant("get" as const), key: s }),
    fc.record({ kind: fc.constant("cas" as const), key: s, expected: fc.option(s, { nil: null }), next: s }),
  );

function normal(index: number, command: KvCommand, term = 1): Entry {
  return { index, term, type: "normal", data: encodeKvCommand(command) };
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

describe("kv command encoding", () => {
  it("has the documented compact layout", () => {
    expect([...encodeKvCommand(putCommand("k", "v"))]).toEqual([0x01, 1, 0x6b, 1, 0x76]);
    expect([...encodeKvCommand(getCommand("k"))]).toEqual([0x02, 1, 0x6b]);
    expect([...encodeKvCommand(casCommand("k", null, "v"))]).toEqual([0x03, 0x00, 1, 0x6b, 1, 0x76]);
    expect([...encodeKvCommand(casCommand("k", "", "v"))]).toEqual([0x03, 0x01, 1, 0x6b, 0, 1, 0x76]);
  });

  it("writes lengths of 128 bytes and more as multi-byte varints", () => {
    const value = "x".repeat(200);
    const encoded = encodeKvCommand(putCommand("k", value));
    expect([...encoded.subarray(0, 5)]).toEqual([0x01, 1, 0x6b, 0xc8, 0x01]);
    expect(encoded.length).toBe(5 + 200);
    expect(decodeKvCommand(encoded)).toEqual(putCommand("k", value));
  });

  it("keeps a leading byte-order mark and astral characters", () => {
    for (const value of ["\uFEFFx", "\u{1F600}", "e\u0301"]) {
      expect(decodeKvCommand(encodeKvCommand(putCommand(value, value)))).toEqual(putCommand(value, value));
    }
  });

  it("refuses strings with unpaired surrogates instead of silently changing them", () => {
    expect(() => encodeKvCommand(putCommand("k", "\uD800"))).toThrow(/unpaired UTF-16 surrogate at position 0/);
    expect(() => encodeKvCommand(getCommand("a\uDC00"))).toThrow(KvCommandFormatError);
    expect(() => encodeKvCommand(casCommand("k", "\uDBFFx", "v"))).toThrow(/expected has an unpaired/);
  });

  test.prop([commandArb(text)])("decode(encode(c)) = c", (command) => {
    expect(decodeKvCommand(encodeKvCommand(command))).toEqual(command);
  });

  test.prop([commandArb(text)])("every strict prefix of an encoding is rejected", (command) => {
    const encoded = encodeKvCommand(command);
    for (let length = 0; length < encoded.length; length++) {
      expect(() => decodeKvCommand(encoded.subarray(0, length))).toThrow(KvCommandFormatError);
    }
  });

  test.prop([fc.uint8Array({ maxLength: 16 })])(
    "arbitrary bytes either decode canonically or throw a KvCommandFormatError",
    (data) => {
      let decoded: KvCommand | undefined;
      try {
        decoded = decodeKvCommand(data);
      } catch (error) {
        expect(error).toBeInstanceOf(KvCommandFormatError);
        return;
      }
      expect([...encodeKvCommand(decoded)]).toEqual([...data]);
    },
  );

  it.each([
    ["empty input", bytes(), /0 bytes/],
    ["an unknown tag", bytes(0x09, 0), /unknown kv command tag 0x09/],
    ["a missing length", bytes(0x02), /missing length of key at byte 1/],
    ["a length past the end", bytes(0x02, 5, 0x61), /key at byte 1 claims 5 bytes but 1 remain/],
    ["trailing bytes", bytes(0x02, 1, 0x61, 0x00), /1 trailing byte/],
    ["a bad cas flag", bytes(0x03, 0x02, 1, 0x6b, 1, 0x76), /bad cas expected flag 0x02/],
    ["invalid UTF-8", bytes(0x02, 1, 0xff), /key at byte 2 is not valid UTF-8/],
    ["a padded varint", bytes(0x02, 0x81, 0x00, 0x61), /padded varint/],
    ["an endless varint", bytes(0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), /too long a varint/],
  ])("rejects %s with a clear error", (_name, data, message) => {
    expect(() => decodeKvCommand(data)).toThrow(KvCommandFormatError);
    expect(() => decodeKvCommand(data)).toThrow(message);
  });
});

describe("the sequential key specification", () => {
  it.each<[string | null, KvCommand, string | null, KvResult]>([
    [null, putCommand("k", "1"), "1", { ok: true }],
    ["1", getCommand("k"), "1", { value: "1" }],
    [null, getCommand("k"), null, { value: null }],
    [null, casCommand("k", null, "1"), "1", { ok: true, value: null }],
    ["1", casCommand("k", null, "2"), "1", { ok: false, value: "1" }],
    ["1", casCommand("k", "1", "2"), "2", { ok: true, value: "1" }],
    ["3", casCommand("k", "1", "2"), "3", { ok: false, value: "3" }],
    [null, casCommand("k", "1", "2"), null, { ok: false, value: null }],
    ["", casCommand("k", null, "2"), "", { ok: false, value: "" }],
  ])("from %j, %j leaves %j and returns %j", (current, command, next, result) => {
    expect(applyKvCommandToValue(current, command)).toEqual({ next, result });
  });
});

describe("KvStateMachine", () => {
  it("applies put, get and cas in order and returns their results", () => {
    const sm = new KvStateMachine();
    const results = sm.apply([
      normal(1, putCommand("x", "1")),
      normal(2, getCommand("x")),
      normal(3, casCommand("x", "2", "3")),
      normal(4, casCommand("x", "1", "3")),
      normal(5, getCommand("missing")),
    ]);
    expect(results).toEqual([
      { ok: true },
      { value: "1" },
      { ok: false, value: "1" },
      { ok: true, value: "1" },
      { value: null },
    ]);
    expect(sm.get("x")).toBe("3");
    expect(sm.get("missing")).toBeNull();
    expect(sm.appliedIndex()).toBe(5);
    expect(sm.size()).toBe(1);
  });

  it("skips noop, config and empty entries with an undefined result but advances the applied index", () => {
    const sm = new KvStateMachine();
    const results = sm.apply([
      { index: 1, term: 1, type: "noop", data: new Uint8Array() },
      { index: 2, term: 1, type: "config", data: bytes(0xff, 0xff) },
      { index: 3, term: 1, type: "normal", data: new Uint8Array() },
      normal(4, putCommand("x", "1")),
    ]);
    expect(results).toEqual([undefined, undefined, undefined, { ok: true }]);
    expect(sm.appliedIndex()).toBe(4);
    expect(sm.sortedEntries()).toEqual([["x", "1"]]);
  });

  it("accepts a batch split anywhere and an empty batch", () => {
    const sm = new KvStateMachine();
    expect(sm.apply([])).toEqual([]);
    sm.apply([normal(1, putCommand("a", "1"))]);
    sm.apply([normal(2, putCommand("b", "2")), normal(3, putCommand("a", "3"))]);
    expect(sm.sortedEntries()).toEqual([
      ["a", "3"],
      ["b", "2"],
    ]);
    expect(sm.appliedIndex()).toBe(3);
  });

  // Entries are applied exactly once, in log order (Raft thesis §3.5 / State Machine Safety, Fig. 3.2):
  // a gap or a repeat is a runtime bug and must be loud.
  it.each([
    [
      "a gap before the batch",
      [normal(3, putCommand("x", "2"))],
      /entry index 3 applied out of order; applied index is 1/,
    ],
    ["a repeat of an applied index", [normal(1, putCommand("x", "2"))], /entry index 1 applied out of order/],
    [
      "a gap inside the batch",
      [normal(2, putCommand("x", "2")), normal(4, putCommand("x", "3"))],
      /next entry must be 3/,
    ],
    [
      "garbage bytes",
      [normal(2, putCommand("x", "2")), { index: 3, term: 2, type: "normal", data: bytes(0x07) } as Entry],
      /entry 3 \(term 2\) is not a kv command/,
    ],
  ])("throws on %s and changes nothing", (_name, batch, message) => {
    const sm = new KvStateMachine({ recordApplyLog: true });
    sm.apply([normal(1, putCommand("x", "1"))]);
    const digest = sm.digest();
    expect(() => sm.apply(batch as Entry[])).toThrow(message);
    expect(sm.appliedIndex()).toBe(1);
    expect(sm.get("x")).toBe("1");
    expect(sm.digest()).toBe(digest);
    expect(sm.applyLog()).toEqual([{ index: 1, term: 1 }]);
  });

  it("records (index, term) of every applied entry only when asked", () => {
    const recording = new KvStateMachine({ recordApplyLog: true });
    recording.apply([{ index: 1, term: 1, type: "noop", data: new Uint8Array() }, normal(2, putCommand("x", "1"), 2)]);
    expect(recording.applyLog()).toEqual([
      { index: 1, term: 1 },
      { index: 2, term: 2 },
    ]);
    expect(() => new KvStateMachine().applyLog()).toThrow(/recordApplyLog/);
  });

  it("orders keys by UTF-16 code units, not by locale or code point", () => {
    const sm = new KvStateMachine();
    const keys = ["b", "B", "a", "é", "\uFFFF", "\u{1F600}", ""];
    sm.apply(keys.map((key, i) => normal(i + 1, putCommand(key, String(i)))));
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FFFF in code units.
    expect(sm.sortedEntries().map(([key]) => key)).toEqual(["", "B", "a", "b", "é", "\u{1F600}", "\uFFFF"]);
  });

  describe("digest", () => {
    it("is a fixed 16-hex-digit value for a given content", () => {
      expect(new KvStateMachine().digest()).toMatch(/^[0-9a-f]{16}$/);
      const sm = new KvStateMachine();
      sm.apply([normal(1, putCommand("x", "1")), normal(2, putCommand("y", "2"))]);
      // Golden value: a change here means replicas built by different versions would disagree.
      expect(sm.digest()).toBe(GOLDEN_DIGEST);
    });

    it("ignores insertion order and applied index, but not content", () => {
      const a = new KvStateMachine();
      a.apply([normal(1, putCommand("x", "1")), normal(2, putCommand("y", "2"))]);
      const b = new KvStateMachine();
      b.apply([
        { index: 1, term: 1, type: "noop", data: new Uint8Array() },
        normal(2, putCommand("y", "2")),
        normal(3, putCommand("x", "0")),
        normal(4, casCommand("x", "0", "1")),
      ]);
      expect(b.digest()).toBe(a.digest());
      const c = new KvStateMachine();
      c.apply([normal(1, putCommand("x", "1")), normal(2, putCommand("y", "3"))]);
      expect(c.digest()).not.toBe(a.digest());
    });

    it("separates key and value boundaries", () => {
      const a = new KvStateMachine();
      a.apply([normal(1, putCommand("a", "bc"))]);
      const b = new KvStateMachine();
      b.apply([normal(1, putCommand("ab", "c"))]);
      const empty = new KvStateMachine();
      const blank = new KvStateMachine();
      blank.apply([normal(1, putCommand("", ""))]);
      expect(a.digest()).not.toBe(b.digest());
      expect(blank.digest()).not.toBe(empty.digest());
    });

    test.prop([fc.array(commandArb(smallText), { maxLength: 40 })])(
      "equal stores have equal digests, whatever the order of the writes",
      (commands) => {
        const sm = new KvStateMachine();
        sm.apply(commands.map((command, i) => normal(i + 1, command)));
        const rebuilt = new KvStateMachine();
        const entries = [...sm.sortedEntries()].reverse();
        rebuilt.apply(entries.map(([key, value], i) => normal(i + 1, putCommand(key, value))));
        expect(rebuilt.digest()).toBe(sm.digest());
      },
    );
  });

  test.prop([fc.array(commandArb(smallText), { maxLength: 60 }), fc.array(fc.nat(5), { maxLength: 10 })])(
    "matches a reference map whatever the batch boundaries",
    (commands, cuts) => {
      const reference = new Map<string, string>();
      const expected: KvResult[] = [];
      for (const command of commands) {
        const current = reference.get(command.key) ?? null;
        if (command.kind === "put") {
          reference.set(command.key, command.value);
          expected.push({ ok: true });
        } else if (command.kind === "get") {
          expected.push({ value: current });
        } else {
          const swap = current === command.expected;
          if (swap) reference.set(command.key, command.next);
          expected.push({ ok: swap, value: current });
        }
      }
      const sm = new KvStateMachine();
      const entries = commands.map((command, i) => normal(i + 1, command));
      const results: unknown[] = [];
      let start = 0;
      for (const cut of cuts) {
        results.push(...sm.apply(entries.slice(start, start + cut)));
        start = Math.min(entries.length, start + cut);
      }
      results.push(...sm.apply(entries.slice(start)));
      expect(results).toEqual(expected);
      expect(new Map(sm.sortedEntries())).toEqual(reference);
      expect(sm.appliedIndex()).toBe(commands.length);
    },
  );
});

describe("KvStateMachine snapshots", () => {
  const metaAt = (index: number) => ({ index, term: 1, config: { voters: ["n1"], outgoing: [], learners: [] } });

  function concat(parts: readonly Uint8Array[]): Uint8Array {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  it("has the documented layout: version, applied index, count, sorted length-prefixed pairs", () => {
    const sm = new KvStateMachine();
    sm.apply([normal(1, putCommand("b", "2")), normal(2, putCommand("a", "1"))]);
    expect([...concat(sm.snapshotChunks())]).toEqual([0x01, 2, 2, 1, 0x61, 1, 0x31, 1, 0x62, 1, 0x32]);
  });

  it("streams the bytes captured when snapshot() is called, even if applies run before it is consumed", async () => {
    const sm = new KvStateMachine({ snapshotChunkBytes: 4 });
    sm.apply([normal(1, putCommand("a", "1")), normal(2, putCommand("b", "2"))]);
    const expected = concat(sm.snapshotChunks());
    const stream = sm.snapshot();
    sm.apply([normal(3, putCommand("c", "3"))]);
    const streamed: Uint8Array[] = [];
    for await (const chunk of stream) streamed.push(chunk);
    expect(streamed.length).toBeGreaterThan(1);
    expect(concat(streamed)).toEqual(expected);
  });

  it("restores from an async stream, and a stream that fails mid-way changes nothing", async () => {
    const source = new KvStateMachine({ snapshotChunkBytes: 3 });
    source.apply([normal(1, putCommand("x", "1")), normal(2, putCommand("y", "2"))]);
    const target = new KvStateMachine();
    target.apply([normal(1, putCommand("z", "9"))]);
    const digest = target.digest();
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield source.snapshotChunks()[0] as Uint8Array;
      throw new Error("EIO while reading the snapshot");
    }
    await expect(target.restore(metaAt(2), failing())).rejects.toThrow(/EIO/);
    expect(target.digest()).toBe(digest);
    expect(target.appliedIndex()).toBe(1);
    await target.restore(metaAt(2), source.snapshot());
    expect(target.digest()).toBe(source.digest());
    expect(target.appliedIndex()).toBe(2);
  });

  it("restores the exact store and applied index, then keeps applying after it", async () => {
    const source = new KvStateMachine();
    source.apply([
      normal(1, putCommand("x", "1")),
      normal(2, putCommand("y", "2")),
      normal(3, casCommand("x", "1", "3")),
    ]);
    const copy = new KvStateMachine();
    copy.apply([normal(1, putCommand("stale", "gone"))]);
    await copy.restore(metaAt(3), source.snapshot());
    expect(copy.appliedIndex()).toBe(3);
    expect(copy.sortedEntries()).toEqual(source.sortedEntries());
    expect(copy.digest()).toBe(source.digest());
    expect(copy.get("stale")).toBeNull();
    expect(copy.apply([normal(4, getCommand("x"))])).toEqual([{ value: "3" }]);
    expect(() => copy.apply([normal(4, getCommand("x"))])).toThrow(/out of order/);
  });

  it("cuts snapshots into chunks of at most snapshotChunkBytes, records straddling chunk boundaries", async () => {
    const sm = new KvStateMachine({ snapshotChunkBytes: 7 });
    sm.apply(Array.from({ length: 30 }, (_, i) => normal(i + 1, putCommand(`key${i}`, "v".repeat(i)))));
    const chunks = sm.snapshotChunks();
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.every((c) => c.length <= 7 && c.length > 0)).toBe(true);
    const restored = new KvStateMachine();
    await restored.restore(metaAt(30), chunks);
    expect(restored.digest()).toBe(sm.digest());
    // The same content in one chunk: chunking carries no meaning.
    expect(concat(new KvStateMachine({ snapshotChunkBytes: 1 << 20 }).snapshotChunks())).toEqual(
      concat(new KvStateMachine({ snapshotChunkBytes: 3 }).snapshotChunks()),
    );
  });

  it("refuses data taken at another index than the meta's, and changes nothing", async () => {
    const source = new KvStateMachine();
    source.apply([normal(1, putCommand("x", "1"))]);
    const target = new KvStateMachine();
    target.apply([normal(1, putCommand("y", "2")), normal(2, putCommand("z", "3"))]);
    const digest = target.digest();
    await expect(target.restore(metaAt(2), source.snapshot())).rejects.toThrow(/taken at index 1, but its meta says 2/);
    expect(target.digest()).toBe(digest);
    expect(target.appliedIndex()).toBe(2);
  });

  it.each([
    ["an unknown version", [0x02, 0, 0], /format version 2/],
    ["a truncated pair", [0x01, 5, 1, 1, 0x61], /truncated/],
    ["unsorted keys", [0x01, 5, 2, 1, 0x62, 0, 1, 0x61, 0], /not after the previous key/],
    ["a duplicate key", [0x01, 5, 2, 1, 0x61, 0, 1, 0x61, 0], /sorted and unique/],
    ["trailing bytes", [0x01, 5, 0, 9], /trailing bytes/],
    ["invalid UTF-8", [0x01, 5, 1, 1, 0xff, 0], /not valid UTF-8/],
    ["a padded varint", [0x01, 0x85, 0x00, 0], /padded varint/],
    ["nothing at all", [], /truncated/],
  ])("rejects %s with a KvSnapshotFormatError", async (_name, raw, message) => {
    const sm = new KvStateMachine();
    const attempt = () => sm.restore(metaAt(5), [Uint8Array.from(raw as number[])]);
    await expect(attempt()).rejects.toThrow(KvSnapshotFormatError);
    await expect(attempt()).rejects.toThrow(message);
    expect(sm.appliedIndex()).toBe(0);
  });

  it("restarts the apply log at a restore", async () => {
    const sm = new KvStateMachine({ recordApplyLog: true });
    sm.apply([normal(1, putCommand("x", "1"))]);
    const snapshot = sm.snapshot();
    const other = new KvStateMachine({ recordApplyLog: true });
    await other.restore(metaAt(1), snapshot);
    other.apply([normal(2, putCommand("y", "1"))]);
    expect(other.applyLog()).toEqual([{ index: 2, term: 1 }]);
  });

  test.prop([
    fc.array(fc.tuple(text, text), { maxLength: 30 }),
    fc.integer({ min: 0, max: 2 ** 53 - 1 }),
    fc.integer({ min: 1, max: 16 }),
  ])("encoding round-trips any sorted store, any index, cut at any chunk size", (pairs, appliedIndex, chunkBytes) => {
    const sorted = [...new Map(pairs.filter(([k, v]) => isWellFormed(k) && isWellFormed(v))).entries()].sort(
      ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0),
    );
    const chunks = encodeKvSnapshot({ appliedIndex, pairs: sorted }, chunkBytes);
    expect(chunks.every((c) => c.length <= chunkBytes)).toBe(true);
    expect(decodeKvSnapshot(chunks)).toEqual({ appliedIndex, pairs: sorted });
  });
});

/** No unpaired surrogates: UTF-8 cannot carry them. */
function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

const GOLDEN_DIGEST = "a6c9862800b5318f";
