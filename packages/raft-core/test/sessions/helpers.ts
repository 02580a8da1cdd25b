/**
 * Test-local pieces for session tests: a plain counter state machine (no sessions of its own,
 * streaming snapshots), entry builders and a log that applies proposals through a state machine.
 */
import type { Entry, SnapshotMeta } from "../../src/core/types.js";
import type { StateMachine } from "../../src/runtime/state-machine.js";
import { encodeSessionEnvelope } from "../../src/sessions/session-envelope.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a counter command: "add N". */
export function add(amount: number): Uint8Array {
  return encoder.encode(`add ${amount}`);
}

/**
 * Adds the number in each "add N" command to a total and returns the new total: applying a
 * command twice is visible in the total. Records every payload it applied. Snapshots stream the
 * applied index, the total and the applied payloads as JSON in small chunks.
 */
export class CounterStateMachine implements StateMachine<number> {
  total = 0;
  readonly applied: string[] = [];
  private lastApplied = 0;
  /** Chunks the last restore pulled, in order (to check streaming). */
  readonly restoredChunks: Uint8Array[] = [];
  /** Called after each chunk the restore pulls. */
  onRestoreChunk: (chunk: Uint8Array) => void = () => {};

  apply(entries: readonly Entry[]): number[] {
    return entries.map((entry) => {
      if (entry.index !== this.lastApplied + 1) throw new Error(`applied ${entry.index} after ${this.lastApplied}`);
      this.lastApplied = entry.index;
      if (entry.type === "normal") {
        const text = decoder.decode(entry.data);
        const match = /^add (-?\d+)$/.exec(text);
        if (match === null) throw new Error(`not a counter command: ${JSON.stringify(text)}`);
        this.total += Number(match[1]);
        this.applied.push(text);
      }
      return this.total;
    });
  }

  appliedIndex(): number {
    return this.lastApplied;
  }

  snapshot(): Uint8Array[] {
    const bytes = encoder.encode(JSON.stringify({ index: this.lastApplied, total: this.total, applied: this.applied }));
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 16) chunks.push(bytes.slice(at, at + 16));
    return chunks;
  }

  async restore(meta: SnapshotMeta, data: AsyncIterable<Uint8Array>): Promise<void> {
    this.restoredChunks.length = 0;
    for await (const chunk of data) {
      this.restoredChunks.push(chunk);
      this.onRestoreChunk(chunk);
    }
    const whole = concat(this.restoredChunks);
    const state = JSON.parse(decoder.decode(whole)) as { index: number; total: number; applied: string[] };
    if (state.index !== meta.index) throw new Error(`counter snapshot at ${state.index}, meta at ${meta.index}`);
    this.lastApplied = state.index;
    this.total = state.total;
    this.applied.length = 0;
    this.applied.push(...state.applied);
  }
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const whole = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  return whole;
}

export function normalEntry(index: number, data: Uint8Array, term = 1): Entry {
  return { index, term, type: "normal", data };
}

export function noopEntry(index: number, term = 1): Entry {
  return { index, term, type: "noop", data: new Uint8Array(0) };
}

export function registerBytes(timestampMs = 0): Uint8Array {
  return encodeSessionEnvelope({ kind: "register", timestampMs });
}

export function commandBytes(
  clientId: number,
  sequence: number,
  payload: Uint8Array,
  options: { lowestUnacked?: number; timestampMs?: number } = {},
): Uint8Array {
  return encodeSessionEnvelope({
    kind: "command",
    clientId,
    sequence,
    lowestUnacked: options.lowestUnacked ?? 1,
    timestampMs: options.timestampMs ?? 0,
    payload,
  });
}

export function keepAliveBytes(clientId: number, lowestUnacked: number, timestampMs: number): Uint8Array {
  return encodeSessionEnvelope({ kind: "keepAlive", clientId, lowestUnacked, timestampMs });
}

export const META_CONFIG = { voters: ["a"], outgoing: [], learners: [] } as const;

export function metaAt(index: number): SnapshotMeta {
  return { index, term: 1, config: META_CONFIG };
}

/** Drains a snapshot stream into its chunks. */
export async function drain(data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of data) chunks.push(chunk);
  return chunks;
}

/** Appends entries one at a time after the state machine's applied index and applies each at once. */
export class AppliedLog<Result> {
  readonly entries: Entry[] = [];
  constructor(readonly stateMachine: StateMachine<Result>) {}

  async append(data: Uint8Array): Promise<Result> {
    const entry = normalEntry(this.stateMachine.appliedIndex() + 1, data);
    this.entries.push(entry);
    const [result] = await this.stateMachine.apply([entry]);
    return result as Result;
  }
}
