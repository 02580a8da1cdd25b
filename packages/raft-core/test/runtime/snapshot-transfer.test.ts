import { describe, expect, it } from "vitest";
import {
  validateMessage,
  validateSnapshotChunk,
  validateSnapshotChunkResponse,
} from "../../src/core/message-validation.js";
import { RaftCore } from "../../src/core/raft-core.js";
import type { Message, SnapshotChunk, SnapshotChunkResponse, SnapshotMeta } from "../../src/core/types.js";
import { CompactionPolicy } from "../../src/runtime/compaction-policy.js";
import { SnapshotReceiver } from "../../src/runtime/snapshot-receiver.js";
import { FINISHED_SEND_LINGER_MS, SnapshotSender } from "../../src/runtime/snapshot-sender.js";
import { crc32cUpdate } from "../../src/storage/crc32c.js";
import type { SnapshotReader, SnapshotStaging } from "../../src/storage/storage.js";
import { ManualClock, SeededRandom } from "./helpers.js";

const META: SnapshotMeta = { index: 40, term: 3, config: { voters: ["a", "b", "c"], outgoing: [], learners: [] } };

function bytesOf(length: number, start = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

function crc32c(data: Uint8Array): number {
  return crc32cUpdate(0, data);
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

/** An in-memory snapshot reader over `data`, recording reads and whether it was closed. */
function fakeReader(meta: SnapshotMeta, data: Uint8Array) {
  const reads: [number, number][] = [];
  let closed = false;
  const reader: SnapshotReader & { reads: [number, number][]; readonly closed: boolean } = {
    meta,
    bytes: data.length,
    checksum: crc32c(data),
    reads,
    get closed() {
      return closed;
    },
    read: async (offset, maxBytes) => {
      if (closed) throw new Error("read after close");
      reads.push([offset, maxBytes]);
      return data.slice(offset, offset + maxBytes);
    },
    close: async () => {
      closed = true;
    },
  };
  return reader;
}

/**
 * A sender whose transport records chunks and whose timer and read completions are queued as the
 * server's inbox would; `drain()` feeds queued read completions back until none is left.
 */
function sender(options: { chunkBytes: number; burstBytes: number }) {
  const clock = new ManualClock();
  const sent: SnapshotChunk[] = [];
  const timers: { to: string; sendId: number }[] = [];
  const readsDone: { to: string; sendId: number; offset: number; data: Uint8Array }[] = [];
  const failures: unknown[] = [];
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
    onTimer: (to, sendId) => timers.push({ to, sendId }),
    onReadDone: (to, sendId, offset, data) => readsDone.push({ to, sendId, offset, data }),
    onReadFailed: (error) => failures.push(error),
  });
  /** Delivers read completions (as the inbox would) until quiet; returns the last progress. */
  const drain = async (): Promise<string | undefined> => {
    let last: string | undefined;
    for (;;) {
      await flushPromises();
      const done = readsDone.shift();
      if (done === undefined) return last;
      last = s.onRead(done.to, done.sendId, done.offset, done.data);
    }
  };
  return { clock, sent, timers, failures, sender: s, drain };
}

/** Lets every settled promise chain run (a macrotask comes after all pending microtasks). */
async function flushPromises(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe("SnapshotSender", () => {
  it("reads and sends chunks of at most chunkBytes, every chunk with the checksum, the last one marked", async () => {
    const data = bytesOf(20);
    const reader = fakeReader(META, data);
    const { sent, sender: s, drain } = sender({ chunkBytes: 7, burstBytes: 1000 });
    expect(s.start("b", 4, reader)).toBe("sending");
    expect(await drain()).toBe("done");
    expect(sent.map((c) => [c.offset, c.data.length, c.last])).toEqual([
      [0, 7, false],
      [7, 7, false],
      [14, 6, true],
    ]);
    expect(concat(sent.map((c) => c.data))).toEqual(data);
    expect(new Set(sent.map((c) => c.checksum))).toEqual(new Set([reader.checksum]));
    expect(sent.every((c) => c.term === 4 && c.to === "b" && c.from === "a" && c.meta === META)).toBe(true);
    expect(sent.every((c) => validateSnapshotChunk(c) === undefined)).toBe(true);
    // Memory stays at one chunk: every read asked for at most chunkBytes.
    expect(reader.reads.every(([, max]) => max <= 7)).toBe(true);
    expect(s.activeCount).toBe(0);
  });

  it("sends an empty snapshot as one empty last chunk without reading", () => {
    const { sent, sender: s } = sender({ chunkBytes: 8, burstBytes: 8 });
    const reader = fakeReader(META, new Uint8Array(0));
    expect(s.start("b", 1, reader)).toBe("done");
    expect(sent.map((c) => [c.offset, c.data.length, c.last])).toEqual([[0, 0, true]]);
    expect(reader.reads).toEqual([]);
  });

  it("pauses after each burst and continues only when resumed with the current send id", async () => {
    const { clock, sent, timers, sender: s, drain } = sender({ chunkBytes: 10, burstBytes: 20 });
    s.start("b", 2, fakeReader(META, bytesOf(55)));
    expect(await drain()).toBe("paused");
    expect(sent).toHaveLength(2);
    await clock.advance(10);
    expect(timers).toHaveLength(1);
    const { to, sendId } = timers[0];
    expect(s.resume(to, sendId + 1)).toBe("stale");
    expect(s.resume(to, sendId)).toBe("sending");
    expect(await drain()).toBe("paused");
    expect(sent).toHaveLength(4);
    await clock.advance(10);
    expect(s.resume("b", timers[1].sendId)).toBe("sending");
    expect(await drain()).toBe("done");
    expect(sent.map((c) => c.offset)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(sent.at(-1)?.last).toBe(true);
  });

  it("resumes from the offset a follower reports after a lost chunk, also after the send finished", async () => {
    const data = bytesOf(40);
    const { clock, sent, timers, sender: s, drain } = sender({ chunkBytes: 10, burstBytes: 1000 });
    const reader = fakeReader(META, data);
    s.start("b", 4, reader);
    expect(await drain()).toBe("done");
    expect(sent.map((c) => c.offset)).toEqual([0, 10, 20, 30]);
    // The chunk at 10 was lost: the follower holds 10 bytes and says so.
    const response = {
      type: "snapChunkResp" as const,
      from: "b",
      to: "a",
      term: 4,
      clusterId: "test",
      meta: META,
      checksum: reader.checksum,
      offset: 10,
    };
    expect(s.onResponse({ ...response, checksum: reader.checksum ^ 1 })).toBe(false);
    expect(s.onResponse({ ...response, term: 3 })).toBe(false);
    expect(s.onResponse(response)).toBe(true);
    await clock.advance(10);
    expect(s.resume("b", timers.at(-1)?.sendId ?? -1)).toBe("sending");
    expect(await drain()).toBe("done");
    expect(sent.map((c) => c.offset)).toEqual([0, 10, 20, 30, 10, 20, 30]);
    expect(reader.closed).toBe(false);
    // A finished send lingers for resume requests, then lets its reader go.
    await clock.advance(FINISHED_SEND_LINGER_MS);
    expect(s.resume("b", timers.at(-1)?.sendId ?? -1)).toBe("stale");
    await flushPromises();
    expect(reader.closed).toBe(true);
  });

  it("a newer send to the same peer aborts the older one; a reader is shared (pinned) until its last send ends", async () => {
    const { clock, sent, timers, sender: s, drain } = sender({ chunkBytes: 10, burstBytes: 10 });
    const old = fakeReader(META, bytesOf(30));
    s.start("b", 2, old);
    s.start("c", 2, old);
    await drain();
    expect(s.pinned(META)).toBe(old);
    const newer = fakeReader({ ...META, index: 60 }, bytesOf(5));
    s.start("b", 2, newer);
    await drain();
    await flushPromises();
    expect(old.closed).toBe(false); // c still sends it
    await clock.advance(10);
    // The pause timer of b's aborted send was cancelled: only c resumes.
    expect(timers.map((r) => r.to)).toEqual(["c"]);
    expect(sent.filter((c) => c.to === "b").map((c) => [c.meta.index, c.offset])).toEqual([
      [40, 0],
      [60, 0],
    ]);
    s.abortAll();
    await flushPromises();
    expect(old.closed).toBe(true);
    expect(newer.closed).toBe(true);
    expect(s.activeCount).toBe(0);
    expect(s.pinned(META)).toBeUndefined();
  });

  it("a failed read is reported (fatal for the server) and the send ends", async () => {
    const { sender: s, failures } = sender({ chunkBytes: 10, burstBytes: 10 });
    const reader = fakeReader(META, bytesOf(30));
    const broken: SnapshotReader = { ...reader, read: async () => Promise.reject(new Error("EIO")) };
    s.start("b", 2, broken);
    await flushPromises();
    expect(failures.map(String)).toEqual(["Error: EIO"]);
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

/** The chunks of `data` as a sender would cut them. */
function chunksFor(data: Uint8Array, chunkBytes: number): SnapshotChunk[] {
  const checksum = crc32c(data);
  const out: SnapshotChunk[] = [];
  for (let offset = 0; offset < data.length; offset += chunkBytes) {
    const piece = data.slice(offset, offset + chunkBytes);
    out.push(chunk(offset, piece, offset + chunkBytes >= data.length, checksum));
  }
  return out;
}

/** An in-memory staging that records appends; `gate` can hold appends to model a slow disk. */
function memoryStaging(meta: SnapshotMeta) {
  const parts: Uint8Array[] = [];
  let discarded = false;
  let bytes = 0;
  let crc = 0;
  const staging: SnapshotStaging & { parts: Uint8Array[]; readonly discarded: boolean } = {
    meta,
    parts,
    get bytes() {
      return bytes;
    },
    get checksum() {
      return crc;
    },
    get discarded() {
      return discarded;
    },
    append: async (data) => {
      parts.push(data.slice());
      bytes += data.length;
      crc = crc32cUpdate(crc, data);
    },
    discard: async () => {
      discarded = true;
    },
  };
  return staging;
}

function receiver(maxBufferedBytes = 1 << 20) {
  const stagings: ReturnType<typeof memoryStaging>[] = [];
  const responses: SnapshotChunkResponse[] = [];
  const staged: number[] = [];
  const failures: unknown[] = [];
  const r = new SnapshotReceiver({
    selfId: "b",
    clusterId: "test",
    stage: async (meta) => {
      const staging = memoryStaging(meta);
      stagings.push(staging);
      return staging;
    },
    send: (m) => responses.push(m),
    onStaged: (id) => staged.push(id),
    onFailure: (e) => failures.push(e),
    maxBufferedBytes,
  });
  return { receiver: r, stagings, responses, staged, failures };
}

describe("SnapshotReceiver", () => {
  it("stages in-order chunks, verifies the checksum of the whole, and hands the staging over", async () => {
    const data = bytesOf(25);
    const { receiver: r, stagings, staged } = receiver();
    const outcomes = chunksFor(data, 10).map((c) => r.accept(c).kind);
    expect(outcomes).toEqual(["accepted", "accepted", "staging"]);
    await flushPromises();
    expect(staged).toHaveLength(1);
    const received = r.take(staged[0]);
    expect(received?.meta).toEqual(META);
    expect(received?.from).toBe("a");
    expect(concat(stagings[0].parts)).toEqual(data);
    expect(r.take(staged[0])).toBeUndefined(); // taken once
  });

  it("drops a snapshot whose checksum does not match (a corrupted chunk) and deletes its staging", async () => {
    const chunks = chunksFor(bytesOf(20), 10);
    const { receiver: r, stagings, staged } = receiver();
    r.accept(chunks[0]);
    const flipped = chunks[1].data.slice();
    flipped[0] ^= 1;
    expect(r.accept({ ...chunks[1], data: flipped }).kind).toBe("dropped");
    await flushPromises();
    expect(r.corruptSnapshots).toBe(1);
    expect(staged).toEqual([]);
    expect(stagings[0].discarded).toBe(true);
  });

  it("keeps what it has after a gap and asks once to resume from there; the resent chunks complete it", async () => {
    const data = bytesOf(40);
    const chunks = chunksFor(data, 10);
    const { receiver: r, stagings, responses, staged } = receiver();
    r.accept(chunks[0]);
    // chunks[1] lost; the rest of the burst arrives.
    expect(r.accept(chunks[2]).kind).toBe("dropped");
    expect(r.accept(chunks[3]).kind).toBe("dropped");
    expect(responses.map((m) => [m.type, m.offset, m.to, m.checksum])).toEqual([
      ["snapChunkResp", 10, "a", chunks[0].checksum],
    ]);
    expect(validateSnapshotChunkResponse(responses[0])).toBeUndefined();
    for (const c of chunks.slice(1)) r.accept(c);
    await flushPromises();
    expect(staged).toHaveLength(1);
    expect(concat(stagings[0].parts)).toEqual(data);
    expect(stagings).toHaveLength(1); // the same staging throughout: nothing was received twice
  });

  it("a leader starting the same snapshot over is told how much is already held", () => {
    const chunks = chunksFor(bytesOf(30), 10);
    const { receiver: r, responses } = receiver();
    r.accept(chunks[0]);
    r.accept(chunks[1]);
    expect(r.accept(chunks[0]).kind).toBe("dropped");
    expect(responses.map((m) => m.offset)).toEqual([20]);
  });

  it("a new snapshot at offset 0 replaces the assembly and discards the old staging; stray chunks are ignored", async () => {
    const { receiver: r, stagings } = receiver();
    const first = chunksFor(bytesOf(30), 10);
    r.accept(first[0]);
    const other = chunksFor(bytesOf(30, 7), 10).map((c) => ({ ...c, meta: { ...META, index: 50 } }));
    expect(r.accept(other[1]).kind).toBe("dropped"); // not at 0, no assembly of it
    r.accept(other[0]);
    await flushPromises();
    expect(stagings).toHaveLength(2);
    expect(stagings[0].discarded).toBe(true);
    expect(r.accept(first[1]).kind).toBe("dropped");
  });

  it("refuses chunks beyond its buffer while the disk is slow, keeping memory bounded", () => {
    const chunks = chunksFor(bytesOf(40), 10);
    const { receiver: r } = receiver(15);
    expect(r.accept(chunks[0]).kind).toBe("accepted");
    // The staging's appends have not run yet (no await): 10 bytes are buffered.
    expect(r.bufferedBytes).toBe(10);
    expect(r.accept(chunks[1])).toEqual({ kind: "dropped", reason: expect.stringMatching(/buffer full/) });
  });

  it("a staging failure is reported (fatal) and the assembly ends", async () => {
    const failures: unknown[] = [];
    const r = new SnapshotReceiver({
      selfId: "b",
      clusterId: "test",
      stage: async () => Promise.reject(new Error("ENOSPC")),
      send: () => undefined,
      onStaged: () => undefined,
      onFailure: (e) => failures.push(e),
      maxBufferedBytes: 1 << 20,
    });
    r.accept(chunksFor(bytesOf(5), 10)[0]);
    await flushPromises();
    expect(failures.map(String)).toEqual(["Error: ENOSPC"]);
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
    expect(policy.isDue(19, 0, 0)).toBe(false);
    expect(policy.isDue(20, 0, 0)).toBe(true);
    expect(policy.isDue(39, 20, 0)).toBe(false);
    expect(policy.isDue(40, 20, 0)).toBe(true);
    expect(new CompactionPolicy(0, 5).isDue(1_000, 0, 1 << 30)).toBe(false);
  });

  it("is also due after `everyBytes` bytes of applied entry data, whichever limit comes first", () => {
    const policy = new CompactionPolicy(100, 5, 1_000);
    expect(policy.isDue(10, 0, 999)).toBe(false);
    expect(policy.isDue(10, 0, 1_000)).toBe(true);
    expect(policy.isDue(10, 10, 5_000)).toBe(false); // nothing applied past the snapshot
    expect(new CompactionPolicy(0, 5, 1_000).isDue(3, 0, 1_000)).toBe(true);
  });

  it("never compacts past what a lazily flushing state machine made durable", () => {
    const policy = new CompactionPolicy(20, 5);
    expect(policy.compactionIndex(40, 0, 30)).toBe(30);
    expect(policy.compactionIndex(40, 0, 100)).toBe(35);
    expect(policy.compactionIndex(40, 32, 30)).toBe(32); // never back
  });

  it("compacts to the snapshot minus the trailing window, never back and never past the snapshot", () => {
    const policy = new CompactionPolicy(20, 5);
    expect(policy.compactionIndex(40, 0)).toBe(35);
    expect(policy.compactionIndex(3, 0)).toBe(0);
    expect(policy.compactionIndex(40, 38)).toBe(38);
    expect(new CompactionPolicy(20, 0).compactionIndex(40, 10)).toBe(40);
  });
});
