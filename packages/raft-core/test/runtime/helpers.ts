/**
 * Test-local seams for RaftServer tests: a manual clock, an in-process network, an in-memory
 * storage whose writes can be held or failed, a list state machine and a seeded Random. All
 * deterministic: time moves only when a test advances the clock.
 */
import type { Random } from "../../src/core/random.js";
import type { Entry, HardState, Message, NodeId, SnapshotMeta } from "../../src/core/types.js";
import type { Clock, TimerHandle } from "../../src/runtime/clock.js";
import type { Logger } from "../../src/runtime/logger.js";
import { RaftServer } from "../../src/runtime/raft-server.js";
import type { RaftServerOptions } from "../../src/runtime/server-options.js";
import type { StateMachine } from "../../src/runtime/state-machine.js";
import type { Transport, TransportHandler } from "../../src/runtime/transport.js";
import { crc32cUpdate } from "../../src/storage/crc32c.js";
import { collectSnapshot } from "../../src/storage/snapshot.js";
import {
  EMPTY_HARD_STATE,
  type PersistedState,
  type SnapshotChunks,
  type SnapshotReader,
  type SnapshotStaging,
  type Storage,
  type StorageWrite,
} from "../../src/storage/storage.js";

/** Lets every queued microtask (and those they queue) run: Node drains them before the check phase. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface ManualTimer {
  readonly atMs: number;
  readonly sequence: number;
  readonly delayMs: number;
  fn: (() => void) | undefined;
}

/** A clock whose time moves only in `advance`; timers fire in (time, creation) order. */
export class ManualClock implements Clock {
  private nowMs = 0;
  private sequence = 0;
  private timers: ManualTimer[] = [];
  /** Every delay ever passed to setTimer, in order (to observe yields). */
  readonly requestedDelaysMs: number[] = [];

  now(): number {
    return this.nowMs;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: ManualTimer = { atMs: this.nowMs + delayMs, sequence: this.sequence++, delayMs, fn };
    this.requestedDelaysMs.push(delayMs);
    let low = 0;
    let high = this.timers.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.timers[mid].atMs <= timer.atMs) low = mid + 1;
      else high = mid;
    }
    this.timers.splice(low, 0, timer);
    return timer;
  }

  cancelTimer(handle: TimerHandle): void {
    const timer = handle as ManualTimer;
    if (timer.fn === undefined) return;
    timer.fn = undefined;
    const at = this.timers.indexOf(timer);
    if (at >= 0) this.timers.splice(at, 1);
  }

  /** Timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.timers.length;
  }

  /** Pending timers that were set with a zero delay (the runtime's yields). */
  pendingZeroDelayTimers(): number {
    return this.timers.filter((t) => t.delayMs === 0).length;
  }

  /** Moves time forward by `ms`, firing due timers one by one and settling microtasks after each. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    await settle();
    for (;;) {
      const next = this.timers[0];
      if (next === undefined || next.atMs > target) break;
      this.timers.shift();
      this.nowMs = next.atMs;
      const fn = next.fn;
      next.fn = undefined;
      fn?.();
      await settle();
    }
    this.nowMs = target;
  }
}

/** A seeded xorshift32 stream (integer arithmetic only). */
export class SeededRandom implements Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  nextInt(boundExclusive: number): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return Math.floor((x / 2 ** 32) * boundExclusive);
  }
}

/** Delivers messages between in-process transports after `latencyMs` of clock time. */
export class LocalNetwork {
  latencyMs = 1;
  /** Every message handed to any transport, in send order, dropped or not. */
  readonly sent: Message[] = [];
  /**
   * Sees every message that passes the partitions, at send time: return it (or a changed copy)
   * to deliver, or undefined to lose it.
   */
  intercept: (message: Message) => Message | undefined = (message) => message;
  private readonly handlers = new Map<NodeId, TransportHandler>();
  private readonly cutOff = new Set<NodeId>();
  readonly stopped = new Set<NodeId>();

  constructor(private readonly clock: Clock) {}

  transport(id: NodeId): Transport {
    return {
      start: (handler) => {
        this.handlers.set(id, handler);
        this.stopped.delete(id);
      },
      send: (message) => this.send(message),
      stop: async () => {
        this.handlers.delete(id);
        this.stopped.add(id);
      },
    };
  }

  /** Drops every message to or from `id` until `heal`. */
  isolate(id: NodeId): void {
    this.cutOff.add(id);
  }

  heal(): void {
    this.cutOff.clear();
  }

  /** Hands `message` to its receiver synchronously, bypassing latency and partitions. */
  deliverNow(message: Message): void {
    this.handlers.get(message.to)?.onMessage(message);
  }

  private send(message: Message): void {
    this.sent.push(message);
    if (this.cutOff.has(message.from) || this.cutOff.has(message.to)) return;
    const delivered = this.intercept(message);
    if (delivered === undefined) return;
    this.clock.setTimer(this.latencyMs, () => {
      if (this.cutOff.has(delivered.from) || this.cutOff.has(delivered.to)) return;
      this.handlers.get(delivered.to)?.onMessage(delivered);
    });
  }
}

interface HeldWrite {
  readonly write: StorageWrite;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** In-memory storage: counts writes, can hold writes for the test to resolve, or fail them. */
export class TestStorage implements Storage {
  hardState: HardState = EMPTY_HARD_STATE;
  entries: Entry[] = [];
  writes = 0;
  /** Writes currently in flight (the runtime promises at most one). */
  inFlight = 0;
  maxInFlight = 0;
  closed = false;
  /** When true, writes wait in `held` until the test resolves them. */
  hold = false;
  readonly held: HeldWrite[] = [];
  private failure: Error | undefined;

  async load(): Promise<PersistedState> {
    return { hardState: this.hardState, entries: [...this.entries] };
  }

  write(write: StorageWrite): Promise<void> {
    this.writes++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.inFlight--;
      return Promise.reject(failure);
    }
    if (!this.hold) {
      this.persist(write);
      this.inFlight--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.held.push({
        write,
        resolve: () => {
          this.persist(write);
          this.inFlight--;
          resolve();
        },
        reject: (error) => {
          this.inFlight--;
          reject(error);
        },
      });
    });
  }

  /** Every later write rejects with `error`. */
  failWrites(error: Error): void {
    this.failure = error;
  }

  /** Resolves every held write, oldest first. */
  releaseHeld(): void {
    for (const write of this.held.splice(0)) write.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private persist(write: StorageWrite): void {
    if (write.hardState !== undefined) this.hardState = write.hardState;
    if (write.entries.length > 0) {
      const first = write.entries[0].index;
      this.entries = this.entries.filter((e) => e.index < first).concat(write.entries);
    }
  }
}

/**
 * TestStorage with snapshots: a save keeps a copy of the data and drops the entries up to its
 * compaction point; an install keeps a copy and drops every entry; `load()` returns the snapshot's
 * meta and the entries after it.
 */
export class SnapshotTestStorage extends TestStorage {
  snapshot: { readonly meta: SnapshotMeta; readonly data: Uint8Array } | undefined;
  saves = 0;
  installs = 0;
  /** Readers opened and not yet closed. */
  openReaders = 0;
  /** `compactTo` of every save, in order. */
  readonly compactions: number[] = [];

  override async load(): Promise<PersistedState> {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return super.load();
    return {
      hardState: this.hardState,
      snapshot: snapshot.meta,
      entries: this.entries.filter((e) => e.index > snapshot.meta.index),
    };
  }

  /** When set, every later snapshot save and install rejects with it. */
  snapshotFailure: Error | undefined;

  async saveSnapshot(meta: SnapshotMeta, data: SnapshotChunks, compactTo: number): Promise<void> {
    const chunks = await collectSnapshot(data);
    if (this.snapshotFailure !== undefined) throw this.snapshotFailure;
    if (compactTo > meta.index) throw new Error(`compactTo ${compactTo} is past the snapshot ${meta.index}`);
    if (this.snapshot !== undefined && meta.index <= this.snapshot.meta.index) {
      throw new Error(`snapshot ${meta.index} is not newer than the stored ${this.snapshot.meta.index}`);
    }
    this.saves++;
    this.compactions.push(compactTo);
    this.snapshot = { meta, data: concatBytes(chunks) };
    this.entries = this.entries.filter((e) => e.index > compactTo);
  }

  async stageSnapshot(meta: SnapshotMeta): Promise<SnapshotStaging> {
    const parts: Uint8Array[] = [];
    let bytes = 0;
    let crc = 0;
    return {
      meta,
      get bytes() {
        return bytes;
      },
      get checksum() {
        return crc;
      },
      parts,
      append: async (chunk: Uint8Array) => {
        parts.push(chunk.slice());
        bytes += chunk.length;
        crc = crc32cUpdate(crc, chunk);
      },
      discard: async () => {
        parts.length = 0;
      },
    } as SnapshotStaging;
  }

  async installSnapshot(staging: SnapshotStaging): Promise<void> {
    if (this.snapshotFailure !== undefined) throw this.snapshotFailure;
    this.installs++;
    const parts = (staging as SnapshotStaging & { parts: Uint8Array[] }).parts;
    this.snapshot = { meta: staging.meta, data: concatBytes(parts) };
    this.entries = [];
  }

  async openSnapshot(): Promise<SnapshotReader | undefined> {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return undefined;
    this.openReaders++;
    let open = true;
    return {
      meta: snapshot.meta,
      bytes: snapshot.data.length,
      checksum: crc32cUpdate(0, snapshot.data),
      read: async (offset, maxBytes) => {
        if (!open) throw new Error("read after close");
        return snapshot.data.slice(offset, offset + maxBytes);
      },
      close: async () => {
        if (open) this.openReaders--;
        open = false;
      },
    };
  }
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Encodes a test command. */
export function command(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Records every normal command it applies and returns how many it has applied so far (1, 2, ...).
 * `gate` makes `apply` return a promise that waits for `openGate`; `throwOnApply` makes it throw.
 */
export class ListStateMachine implements StateMachine<number> {
  readonly commands: string[] = [];
  readonly appliedEntries: Entry[] = [];
  applyCalls = 0;
  gate = false;
  throwOnApply: Error | undefined;
  /** Snapshots taken and restores done. */
  snapshots = 0;
  restores = 0;
  private waiting: (() => void)[] = [];
  private lastApplied = 0;

  apply(entries: readonly Entry[]): readonly number[] | Promise<readonly number[]> {
    this.applyCalls++;
    if (this.throwOnApply !== undefined) throw this.throwOnApply;
    if (!this.gate) return this.applyNow(entries);
    return new Promise((resolve) => this.waiting.push(() => resolve(this.applyNow(entries))));
  }

  openGate(): void {
    this.gate = false;
    for (const run of this.waiting.splice(0)) run();
  }

  appliedIndex(): number {
    return this.lastApplied;
  }

  /** The applied index and the commands as JSON, cut into 100-byte chunks (to exercise chunking). */
  snapshot(): readonly Uint8Array[] {
    this.snapshots++;
    const bytes = encoder.encode(JSON.stringify({ applied: this.lastApplied, commands: this.commands }));
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 100) chunks.push(bytes.subarray(at, at + 100));
    return chunks;
  }

  async restore(meta: SnapshotMeta, data: AsyncIterable<Uint8Array>): Promise<void> {
    this.restores++;
    const whole = concatBytes(await collectSnapshot(data));
    const state = JSON.parse(decoder.decode(whole)) as { applied: number; commands: string[] };
    if (state.applied !== meta.index) throw new Error(`snapshot data is at ${state.applied}, meta at ${meta.index}`);
    this.lastApplied = meta.index;
    this.commands.length = 0;
    this.commands.push(...state.commands);
    this.appliedEntries.length = 0;
  }

  private applyNow(entries: readonly Entry[]): number[] {
    const results: number[] = [];
    for (const entry of entries) {
      if (entry.index !== this.lastApplied + 1) throw new Error(`applied ${entry.index} after ${this.lastApplied}`);
      this.lastApplied = entry.index;
      this.appliedEntries.push(entry);
      if (entry.type === "normal") this.commands.push(decoder.decode(entry.data));
      results.push(this.commands.length);
    }
    return results;
  }
}

/** Keeps every log line. */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  debug(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: "debug", fields, message });
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: "info", fields, message });
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: "warn", fields, message });
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.lines.push({ level: "error", fields, message });
  }
}

export interface TestNode {
  readonly server: RaftServer<number>;
  readonly storage: TestStorage;
  readonly stateMachine: ListStateMachine;
  readonly logger: RecordingLogger;
}

export interface TestCluster {
  readonly clock: ManualClock;
  readonly network: LocalNetwork;
  readonly nodes: Record<NodeId, TestNode>;
  /** Advances 1 ms at a time until `predicate` holds; false if `limitMs` passed first. */
  waitFor(predicate: () => boolean, limitMs?: number): Promise<boolean>;
  /** Campaigns on `id` and waits until it leads and has applied its first entry of the term. */
  elect(id: NodeId): Promise<void>;
  /**
   * Stops `id` and starts a new server on the same storage with a fresh (empty, in-memory)
   * state machine, as after a process restart.
   */
  restart(id: NodeId): Promise<TestNode>;
  stopAll(): Promise<void>;
}

/** Fast timing for tests: elections after 100-200 ms, heartbeats every 20 ms. */
export const TEST_TIMING = { tickMs: 10, electionTicks: 10, heartbeatTicks: 2 } as const;

type ServerOverrides = Partial<Omit<RaftServerOptions<number>, "id" | "clock" | "transport">>;

/** Builds and starts one server per id on a shared manual clock and network. */
export async function createCluster(
  ids: readonly NodeId[],
  options: {
    seed?: number;
    overrides?: ServerOverrides;
    perNode?: Record<NodeId, ServerOverrides>;
    /** Use SnapshotTestStorage (snapshot support) instead of TestStorage. */
    snapshotStorage?: boolean;
  } = {},
): Promise<TestCluster> {
  const clock = new ManualClock();
  const network = new LocalNetwork(clock);
  const nodes: Record<NodeId, TestNode> = {};
  let seed = options.seed ?? 1;
  const build = (id: NodeId, storage: TestStorage, nodeSeed: number): TestNode => {
    const stateMachine = new ListStateMachine();
    const logger = new RecordingLogger();
    const server = new RaftServer<number>({
      id,
      clusterId: "test",
      voters: ids,
      random: new SeededRandom(nodeSeed * 7919),
      clock,
      storage,
      transport: network.transport(id),
      stateMachine,
      logger,
      ...TEST_TIMING,
      ...options.overrides,
      ...options.perNode?.[id],
    });
    return { server, storage, stateMachine, logger };
  };
  for (const id of ids) {
    nodes[id] = build(id, options.snapshotStorage ? new SnapshotTestStorage() : new TestStorage(), seed++);
  }
  for (const id of ids) await nodes[id].server.start();
  const waitFor = async (predicate: () => boolean, limitMs = 5_000): Promise<boolean> => {
    for (let elapsed = 0; elapsed <= limitMs; elapsed++) {
      if (predicate()) return true;
      await clock.advance(1);
    }
    return predicate();
  };
  return {
    clock,
    network,
    nodes,
    waitFor,
    async elect(id) {
      nodes[id].server.campaign();
      const ok = await waitFor(() => {
        const status = nodes[id].server.status();
        return status.role === "leader" && status.stateMachineApplied === status.lastIndex;
      });
      if (!ok) throw new Error(`${id} did not become leader`);
    },
    async restart(id) {
      await nodes[id].server.stop();
      const storage = nodes[id].storage;
      storage.closed = false;
      nodes[id] = build(id, storage, seed++);
      await nodes[id].server.start();
      return nodes[id];
    },
    async stopAll() {
      for (const id of ids) await nodes[id].server.stop();
    },
  };
}

/** Observes a promise without awaiting it, so tests can assert "not settled yet". */
export function track<T>(promise: Promise<T>): {
  state: "pending" | "resolved" | "rejected";
  value?: T;
  error?: unknown;
} {
  const tracked: { state: "pending" | "resolved" | "rejected"; value?: T; error?: unknown } = { state: "pending" };
  promise.then(
    (value) => {
      tracked.state = "resolved";
      tracked.value = value;
    },
    (error: unknown) => {
      tracked.state = "rejected";
      tracked.error = error;
    },
  );
  return tracked;
}
