import { describe, expect, it } from "vitest";
import { jsonResultCodec } from "../../src/sessions/session-options.js";
import type { SessionApplyResult } from "../../src/sessions/session-result.js";
import { SessionStateMachine } from "../../src/sessions/session-state-machine.js";
import {
  decodeSessionTable,
  decodeSessionTablePrefix,
  encodeSessionTable,
  MAX_SESSION_TABLE_BYTES,
  SESSION_TABLE_PREFIX_BYTES,
} from "../../src/sessions/session-table-codec.js";
import { crc32c } from "../../src/storage/crc32c.js";
import { AppliedLog, add, CounterStateMachine, commandBytes, concat, drain, metaAt, registerBytes } from "./helpers.js";

const LIMITS = { maxSessions: 100, maxCachedResultsPerClient: 100 };

function wrap() {
  const counter = new CounterStateMachine();
  const sessions = new SessionStateMachine<number>(counter, {
    resultCodec: jsonResultCodec<number>(),
    sessionTimeoutMs: 1_000,
  });
  return { counter, sessions, log: new AppliedLog<SessionApplyResult<number>>(sessions) };
}

/** A replica with two sessions, cached results, an acknowledgement and log time 500, at index 6. */
async function busyReplica() {
  const replica = wrap();
  await replica.log.append(registerBytes(100)); // client 1
  await replica.log.append(commandBytes(1, 1, add(5), { timestampMs: 200 }));
  await replica.log.append(registerBytes(300)); // client 3
  await replica.log.append(commandBytes(3, 1, add(7), { timestampMs: 400 }));
  await replica.log.append(commandBytes(1, 2, add(1), { timestampMs: 450 }));
  await replica.log.append(commandBytes(1, 3, add(2), { lowestUnacked: 2, timestampMs: 500 }));
  return replica;
}

async function snapshotBytes(sessions: SessionStateMachine<number>): Promise<Uint8Array[]> {
  const take = sessions.snapshot;
  if (take === undefined) throw new Error("no snapshot support");
  return drain(await take());
}

describe("SessionStateMachine snapshots (the session table is part of them, thesis §6.3)", () => {
  it("round-trips the table: a duplicate after restore still returns the cached result, never a second apply", async () => {
    const source = await busyReplica();
    const chunks = await snapshotBytes(source.sessions);
    const restored = wrap();
    await restored.sessions.restore?.(metaAt(6), chunks);
    expect(restored.sessions.appliedIndex()).toBe(6);
    expect(restored.counter.total).toBe(15);
    expect(restored.sessions.sessionCount()).toBe(2);
    expect(restored.sessions.logTimeMs()).toBe(500);
    // Retries of commands applied before the snapshot.
    expect(await restored.log.append(commandBytes(1, 3, add(2), { lowestUnacked: 2 }))).toEqual({
      kind: "duplicate",
      clientId: 1,
      sequence: 3,
      result: 15,
    });
    expect(await restored.log.append(commandBytes(3, 1, add(7)))).toMatchObject({ kind: "duplicate", result: 12 });
    // Acknowledged before the snapshot: refused, not applied.
    expect(await restored.log.append(commandBytes(1, 1, add(5)))).toMatchObject({ reason: "result-evicted" });
    expect(restored.counter.total).toBe(15);
  });

  it("snapshots the same bytes on a restored replica as on its source (expiry state included)", async () => {
    const source = await busyReplica();
    const chunks = await snapshotBytes(source.sessions);
    const restored = wrap();
    await restored.sessions.restore?.(metaAt(6), chunks);
    expect(concat(await snapshotBytes(restored.sessions))).toEqual(concat(chunks));
    // The same later entry expires the same session on both (client 3 idle since 400, timeout 1000).
    for (const replica of [source, restored]) {
      const result = await replica.log.append(commandBytes(1, 4, add(0), { lowestUnacked: 4, timestampMs: 1_401 }));
      expect(result).toMatchObject({ kind: "applied" });
      expect(replica.sessions.sessionCount()).toBe(1);
    }
  });

  it("streams: the header is read whole, the wrapped state machine's part is handed on chunk by chunk", async () => {
    const source = await busyReplica();
    const whole = concat(await snapshotBytes(source.sessions));
    // Re-cut the stream into 3-byte chunks and record how far the restore has pulled.
    let pulled = 0;
    const chunkCount = Math.ceil(whole.byteLength / 3);
    async function* source3(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < whole.byteLength; at += 3) {
        pulled++;
        yield whole.subarray(at, at + 3);
      }
    }
    const restored = wrap();
    const pulledWhenInnerSaw: number[] = [];
    restored.counter.onRestoreChunk = () => pulledWhenInnerSaw.push(pulled);
    await restored.sessions.restore?.(metaAt(6), source3());
    expect(pulled).toBe(chunkCount);
    // Each chunk reached the wrapped restore before the next one was pulled (nothing buffered ahead).
    for (let i = 1; i < pulledWhenInnerSaw.length; i++) {
      expect(pulledWhenInnerSaw[i]).toBe((pulledWhenInnerSaw[i - 1] as number) + 1);
    }
    // The wrapped state machine got exactly its own bytes.
    expect(concat(restored.counter.restoredChunks)).toEqual(concat(source.counter.snapshot()));
    expect(restored.counter.total).toBe(15);
  });

  it("starts the snapshot with a versioned, checksummed table", async () => {
    const source = await busyReplica();
    const whole = concat(await snapshotBytes(source.sessions));
    expect([...whole.subarray(0, 5)]).toEqual([0x4c, 0x53, 0x45, 0x53, 1]);
    const prefix = decodeSessionTablePrefix(whole.subarray(0, SESSION_TABLE_PREFIX_BYTES));
    const table = whole.subarray(SESSION_TABLE_PREFIX_BYTES, SESSION_TABLE_PREFIX_BYTES + prefix.tableBytes);
    expect(prefix.checksum).toBe(crc32c(table));
    const decoded = decodeSessionTable(table, prefix, LIMITS);
    expect(decoded.appliedIndex).toBe(6);
    expect(decoded.logTimeMs).toBe(500);
    // Least recently active first: client 3 (400) before client 1 (500); client 1 dropped result 1.
    expect(decoded.sessions.map((s) => [s.clientId, s.lastActivityMs, s.floor, s.results.map(([seq]) => seq)])).toEqual(
      [
        [3, 400, 1, [1]],
        [1, 500, 2, [2, 3]],
      ],
    );
  });

  it("refuses damaged or foreign snapshots and keeps its state", async () => {
    const source = await busyReplica();
    const whole = concat(await snapshotBytes(source.sessions));
    const cases: [string, Uint8Array, RegExp][] = [
      ["a flipped table byte", flip(whole, SESSION_TABLE_PREFIX_BYTES + 2), /checksum mismatch/],
      ["another format version", withByte(whole, 4, 2), /unknown format version 2/],
      ["no magic", withByte(whole, 0, 0x7b), /not taken by a SessionStateMachine/],
      ["a cut inside the table", whole.subarray(0, SESSION_TABLE_PREFIX_BYTES + 3), /inside the session table/],
      ["a cut inside the prefix", whole.subarray(0, 5), /inside the session table prefix/],
      ["a huge length", withLength(whole, MAX_SESSION_TABLE_BYTES + 1), /above MAX_SESSION_TABLE_BYTES/],
    ];
    for (const [name, bytes, problem] of cases) {
      const target = await busyReplica();
      await expect(target.sessions.restore?.(metaAt(6), [bytes]), name).rejects.toThrow(problem);
      expect(target.sessions.appliedIndex(), name).toBe(6);
      expect(target.sessions.sessionCount(), name).toBe(2);
    }
  });

  it("refuses a snapshot whose table was taken at another index than its meta", async () => {
    const source = await busyReplica();
    const chunks = await snapshotBytes(source.sessions);
    await expect(wrap().sessions.restore?.(metaAt(7), chunks)).rejects.toThrow(
      /taken at index 6, but the snapshot meta says 7/,
    );
  });

  it("refuses a table with more sessions or results than this replica's limits (options must match)", () => {
    const table = encodeSessionTable({
      appliedIndex: 5,
      logTimeMs: 0,
      sessions: [
        { clientId: 1, lastActivityMs: 0, floor: 1, results: [] },
        {
          clientId: 2,
          lastActivityMs: 0,
          floor: 1,
          results: [
            [1, new Uint8Array(0)],
            [2, new Uint8Array(0)],
          ],
        },
      ],
    });
    const prefix = decodeSessionTablePrefix(table.subarray(0, SESSION_TABLE_PREFIX_BYTES));
    const body = table.subarray(SESSION_TABLE_PREFIX_BYTES);
    expect(() => decodeSessionTable(body, prefix, { maxSessions: 1, maxCachedResultsPerClient: 9 })).toThrow(
      /maxSessions/,
    );
    expect(() => decodeSessionTable(body, prefix, { maxSessions: 9, maxCachedResultsPerClient: 1 })).toThrow(
      /maxCachedResultsPerClient/,
    );
    expect(decodeSessionTable(body, prefix, LIMITS).sessions).toHaveLength(2);
  });

  it.each([
    ["repeated client ids", [session(1, 0), session(1, 0)], /repeats/],
    ["a client id above the applied index", [session(6, 0)], /outside 1\.\.5/],
    ["activity out of order", [session(1, 9), session(2, 3)], /activity order/],
    ["activity after the log time", [session(1, 11)], /activity order or later than the log time/],
    [
      "results out of order",
      [
        {
          ...session(1, 0),
          results: [
            [2, new Uint8Array(0)],
            [2, new Uint8Array(0)],
          ],
        },
      ],
      /out of order/,
    ],
    [
      "a result below the floor",
      [{ ...session(1, 0), floor: 3, results: [[2, new Uint8Array(0)]] }],
      /below its floor/,
    ],
  ] as const)("refuses a table with %s", (_name, sessions, problem) => {
    const table = encodeSessionTable({ appliedIndex: 5, logTimeMs: 10, sessions });
    const prefix = decodeSessionTablePrefix(table.subarray(0, SESSION_TABLE_PREFIX_BYTES));
    expect(() => decodeSessionTable(table.subarray(SESSION_TABLE_PREFIX_BYTES), prefix, LIMITS)).toThrow(problem);
  });

  it("streams an asynchronous wrapped snapshot after the table", async () => {
    const counter = new CounterStateMachine();
    const asyncInner = {
      apply: (entries: Parameters<CounterStateMachine["apply"]>[0]) => counter.apply(entries),
      appliedIndex: () => counter.appliedIndex(),
      snapshot: async () =>
        (async function* () {
          yield* counter.snapshot();
        })(),
      restore: (meta: Parameters<CounterStateMachine["restore"]>[0], data: AsyncIterable<Uint8Array>) =>
        counter.restore(meta, data),
    };
    const sessions = new SessionStateMachine<number>(asyncInner, { resultCodec: jsonResultCodec<number>() });
    const log = new AppliedLog<SessionApplyResult<number>>(sessions);
    await log.append(registerBytes());
    await log.append(commandBytes(1, 1, add(9)));
    const restored = wrap();
    await restored.sessions.restore?.(metaAt(2), await snapshotBytes(sessions));
    expect(restored.counter.total).toBe(9);
    expect(await restored.log.append(commandBytes(1, 1, add(9)))).toMatchObject({ kind: "duplicate", result: 9 });
  });

  it("fails the restore when the stream fails inside the wrapped part, and keeps its table", async () => {
    const source = await busyReplica();
    const whole = concat(await snapshotBytes(source.sessions));
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield whole.subarray(0, whole.byteLength - 10);
      throw new Error("bad checksum in stored snapshot");
    }
    const target = wrap();
    await target.log.append(registerBytes());
    await expect(target.sessions.restore?.(metaAt(6), failing())).rejects.toThrow(/bad checksum/);
    expect(target.sessions.sessionCount()).toBe(1);
    expect(target.sessions.appliedIndex()).toBe(1);
  });

  it("closes the source when the table is refused", async () => {
    let closed = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
        yield Uint8Array.of(1);
      } finally {
        closed = true;
      }
    }
    await expect(wrap().sessions.restore?.(metaAt(1), source())).rejects.toThrow(/not taken by a SessionStateMachine/);
    expect(closed).toBe(true);
  });

  it("takes the table at the moment of the call: applies after it do not change the stream", async () => {
    const source = await busyReplica();
    const take = source.sessions.snapshot;
    if (take === undefined) throw new Error("no snapshot support");
    const stream = await take();
    await source.log.append(registerBytes(600));
    const restored = wrap();
    await restored.sessions.restore?.(metaAt(6), await drain(stream));
    expect(restored.sessions.sessionCount()).toBe(2);
  });
});

function session(clientId: number, lastActivityMs: number) {
  return { clientId, lastActivityMs, floor: 1, results: [] as (readonly [number, Uint8Array])[] };
}

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const copy = bytes.slice();
  copy[at] = (copy[at] as number) ^ 0x40;
  return copy;
}

function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[at] = value;
  return copy;
}

function withLength(bytes: Uint8Array, length: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(5, length);
  return copy;
}
