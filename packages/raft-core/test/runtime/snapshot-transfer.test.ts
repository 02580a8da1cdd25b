import { describe, expect, it } from "vitest";
import { validateMessage, validateSnapshotChunk } from "../../src/core/message-validation.js";
import { RaftCore } from "../../src/core/raft-core.js";
import type { Message, SnapshotChunk, SnapshotMeta } from "../../src/core/types.js";
import { CompactionPolicy } from "../../src/runtime/compaction-policy.js";
import { SnapshotReceiver } from "../../src/runtime/snapshot-receiver.js";
import { pinSnapshot, SnapshotSender } from "../../src/runtime/snapshot-sender.js";
import { ManualClock, SeededRandom } from "./helpers.js";

const META: SnapshotMeta = { index: 40, term: 3, config: { voters: ["a", "b", "c"], outgoing: [], learners: [] } };

function bytesOf(length: number, start = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A sender whose transport records chunks and whose pauses post to a list, as the server's inbox would. */
function sender(options: { chunkBytes: number; burstBytes: number }) {
  const clock = new ManualClock();
  const sent: SnapshotChunk[] = [];
  const resumes: { to: string; sendId: number }[] = [];
  const s = new SnapshotSender({
    selfId: "a",
    clusterId: "test",
    clock,
    transport: {
      start: () => undefined,
      send: (m: Message) => sent.push(m as SnapshotChunk),
      stop: async () => undefined,
    },
    chunkBytes: options.chunkBytes,
    burstBytes: options.burstBytes,
    pauseMs: 10,
    onPauseOver: (to, sendId) => resumes.push({ to, sendId }),
  });
  return { clock, sent, resumes, sender: s };
}

describe("SnapshotSender", () => {
  it("cuts the data into chunks of at most chunkBytes across stored chunk boundaries, every chunk with the checksum", () => {
    const data = [bytesOf(5), bytesOf(0), bytesOf(12, 5), bytesOf(3, 17)];
    const pinned = pinSnapshot({ meta: META, data });
    const { sent, sender: s } = sender({ chunkBytes: 7, burstBytes: 1000 });
    expect(s.start("b", 4, pinned)).toBe("done");
    expect(sent.map((c) => [c.offset, c.data.length, c.last])).toEqual([
      [0, 7, false],
      [7, 7, false],
      [14, 6, true],
    ]);
    expect(concat(sent.map((c) => c.data))).toEqual(concat(data));
    expect(new Set(sent.map((c) => c.checksum))).toEqual(new Set([pinned.checksum]));
    expect(sent.every((c) => c.term === 4 && c.to === "b" && c.from === "a" && c.meta === META)).toBe(true);
    expect(sent.every((c) => validateSnapshotChunk(c) === undefined)).toBe(true);
    expect(s.activeCount).toBe(0);
  });

  it("sends an empty snapshot as one empty last chunk", () => {
    const { sent, sender: s } = sender({ chunkBytes: 8, burstBytes: 8 });
    expect(s.start("b", 1, pinSnapshot({ meta: META, data: [] }))).toBe("done");
    expect(sent.map((c) => [c.offset, c.data.length, c.last])).toEqual([[0, 0, true]]);
  });

  it("pauses after each burst and continues only when resumed with the current send id", async () => {
    const { clock, sent, resumes, sender: s } = sender({ chunkBytes: 10, burstBytes: 20 });
    const pinned = pinSnapshot({ meta: META, data: [bytesOf(55)] });
    expect(s.start("b", 2, pinned)).toBe("paused");
    expect(sent).toHaveLength(2);
    expect(resumes).toEqual([]);
    await clock.advance(10);
    expect(resumes).toHaveLength(1);
    const { to, sendId } = resumes[0];
    expect(s.resume(to, sendId + 1)).toBe("stale");
    expect(s.resume(to, sendId)).toBe("paused");
    expect(sent).toHaveLength(4);
    await clock.advance(10);
    expect(s.resume("b", resumes[1].sendId)).toBe("done");
    expect(sent.map((c) => c.offset)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(sent.at(-1)?.last).toBe(true);
  });

  it("a newer send to the same peer aborts the older one; a pinned snapshot is shared while it is being sent", async () => {
    const { clock, sent, resumes, sender: s } = sender({ chunkBytes: 10, burstBytes: 10 });
    const old = pinSnapshot({ meta: META, data: [bytesOf(30)] });
    expect(s.start("b", 2, old)).toBe("paused");
    expect(s.start("c", 2, old)).toBe("paused");
    expect(s.pinned(META)).toBe(old);
    const newer = pinSnapshot({ meta: { ...META, index: 60 }, data: [bytesOf(5)] });
    expect(s.start("b", 2, newer)).toBe("done");
    await clock.advance(10);
    // The pause timer of b's aborted send was cancelled: only c resumes.
    expect(resumes.map((r) => r.to)).toEqual(["c"]);
    expect(sent.filter((c) => c.to === "b").map((c) => [c.meta.index, c.offset])).toEqual([
      [40, 0],
      [60, 0],
    ]);
    s.abortAll();
    expect(s.activeCount).toBe(0);
    expect(s.pinned(META)).toBeUndefined();
  });
});

function chunk(
  offset: number,
  data: Uint8Array,
  last: boolean,
  checksum: number,
  over: Partial<SnapshotChunk> = {},
): SnapshotChunk {
  return {
    type: "snapChunk",
    from: "a",
    to: "b",
    term: 4,
    clusterId: "test",
    meta: META,
    offset,
    data,
    last,
    checksum,
    ...over,
  };
}

/** The chunks a sender makes for `data`, to feed a receiver. */
function chunksFor(data: Uint8Array, chunkBytes: number): SnapshotChunk[] {
  const { sent, sender: s } = sender({ chunkBytes, burstBytes: 1 << 20 });
  s.start("b", 4, pinSnapshot({ meta: META, data: [data] }));
  return sent;
}

describe("SnapshotReceiver", () => {
  it("assembles in-order chunks and verifies the checksum of the whole", () => {
    const data = bytesOf(25);
    const receiver = new SnapshotReceiver();
    const outcomes = chunksFor(data, 10).map((c) => receiver.accept(c));
    expect(outcomes.slice(0, -1).map((o) => o.kind)).toEqual(["accepted", "accepted"]);
    const last = outcomes.at(-1);
    expect(last?.kind).toBe("complete");
    if (last?.kind !== "complete") return;
    expect(concat(last.snapshot.data)).toEqual(data);
    expect(last.snapshot).toMatchObject({ from: "a", term: 4, meta: META });
    expect(receiver.bufferedBytes).toBe(0);
  });

  it("drops a snapshot whose checksum does not match (a corrupted chunk)", () => {
    const chunks = chunksFor(bytesOf(25), 10);
    const corrupt = { ...chunks[1], data: chunks[1].data.slice() };
    corrupt.data[3] ^= 1;
    const receiver = new SnapshotReceiver();
    receiver.accept(chunks[0]);
    receiver.accept(corrupt);
    const outcome = receiver.accept(chunks[2]);
    expect(outcome).toMatchObject({ kind: "dropped", reason: expect.stringMatching(/checksum mismatch/) });
    expect(receiver.corruptSnapshots).toBe(1);
  });

  it("a gap discards the assembly; the rest of that attempt is ignored; offset 0 restarts", () => {
    const chunks = chunksFor(bytesOf(40), 10);
    const receiver = new SnapshotReceiver();
    receiver.accept(chunks[0]);
    expect(receiver.accept(chunks[2])).toMatchObject({ kind: "dropped", reason: expect.stringMatching(/^gap/) });
    expect(receiver.accept(chunks[3])).toMatchObject({ kind: "dropped" });
    expect(receiver.bufferedBytes).toBe(0);
    const retry = chunks.map((c) => receiver.accept(c));
    expect(retry.at(-1)?.kind).toBe("complete");
    expect(receiver.chunksDropped).toBe(2);
  });

  it("ignores duplicates and chunks of another snapshot without losing the assembly", () => {
    const chunks = chunksFor(bytesOf(30), 10);
    const receiver = new SnapshotReceiver();
    receiver.accept(chunks[0]);
    receiver.accept(chunks[1]);
    expect(receiver.accept(chunks[1]).kind).toBe("dropped");
    expect(receiver.accept({ ...chunks[2], term: 3 }).kind).toBe("dropped");
    expect(receiver.accept({ ...chunks[2], meta: { ...META, index: 41 } }).kind).toBe("dropped");
    expect(receiver.accept({ ...chunks[2], from: "c" }).kind).toBe("dropped");
    expect(receiver.bufferedBytes).toBe(20);
    expect(receiver.accept(chunks[2]).kind).toBe("complete");
  });
});

describe("snapChunk validation", () => {
  const good = chunk(0, bytesOf(3), true, 7);

  it("accepts a well-formed chunk and names what is wrong with a bad one", () => {
    expect(validateSnapshotChunk(good)).toBeUndefined();
    const bad: [string, unknown][] = [
      ["negative offset", { ...good, offset: -1 }],
      ["data not bytes", { ...good, data: [1, 2, 3] }],
      ["last not boolean", { ...good, last: "yes" }],
      ["checksum above 32 bits", { ...good, checksum: 2 ** 32 }],
      ["fractional checksum", { ...good, checksum: 1.5 }],
      ["meta term above the message term", { ...good, meta: { ...META, term: 5 } }],
      ["no voters", { ...good, meta: { ...META, config: { voters: [], outgoing: [], learners: [] } } }],
      ["term 0", { ...good, term: 0 }],
      ["empty sender", { ...good, from: "" }],
      ["null", null],
    ];
    for (const [name, value] of bad) expect(validateSnapshotChunk(value), name).toBeTypeOf("string");
  });

  it("the core drops a chunk as malformed and changes nothing, even one with a higher term", () => {
    const core = new RaftCore({ id: "b", clusterId: "test", voters: ["a", "b", "c"], random: new SeededRandom(1) });
    expect(validateMessage(good)).toMatch(/runtime message/);
    core.step({ ...good, term: 9 });
    expect(core.dropCounters().malformed).toBe(1);
    expect(core.status().term).toBe(0);
    expect(core.hasReady()).toBe(false);
  });
});

describe("CompactionPolicy", () => {
  it("is due every `everyEntries` applied entries past the last snapshot; 0 is off", () => {
    const policy = new CompactionPolicy(20, 5);
    expect(policy.isDue(19, 0)).toBe(false);
    expect(policy.isDue(20, 0)).toBe(true);
    expect(policy.isDue(39, 20)).toBe(false);
    expect(policy.isDue(40, 20)).toBe(true);
    expect(new CompactionPolicy(0, 5).isDue(1_000, 0)).toBe(false);
  });

  it("compacts to the snapshot minus the trailing window, never back and never past the snapshot", () => {
    const policy = new CompactionPolicy(20, 5);
    expect(policy.compactionIndex(40, 0)).toBe(35);
    expect(policy.compactionIndex(3, 0)).toBe(0);
    expect(policy.compactionIndex(40, 38)).toBe(38);
    expect(new CompactionPolicy(20, 0).compactionIndex(40, 10)).toBe(40);
  });
});
