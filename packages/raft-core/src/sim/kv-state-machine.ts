import type { Entry, SnapshotMeta } from "../core/types.js";
import type { StateMachine } from "../runtime/state-machine.js";
import type { SnapshotChunks } from "../storage/storage.js";
import { applyKvCommandToValue, decodeKvCommand, type KvCommand, type KvResult } from "./kv-command.js";
import { DEFAULT_KV_SNAPSHOT_CHUNK_BYTES, decodeKvSnapshot, encodeKvSnapshot } from "./kv-snapshot-codec.js";

/** One result per applied entry: `undefined` for entries that carry no command (noop, config, empty). */
export type KvApplyResult = KvResult | undefined;

/** The (index, term) of an applied entry, recorded when `recordApplyLog` is on. */
export interface AppliedEntry {
  readonly index: number;
  readonly term: number;
}

export interface KvStateMachineOptions {
  /**
   * Record the (index, term) of every applied entry so tests can compare replicas entry by entry.
   * Off by default: the log grows with every entry.
   */
  readonly recordApplyLog?: boolean;
  /** Largest chunk `snapshot()` produces. Default {@link DEFAULT_KV_SNAPSHOT_CHUNK_BYTES}. */
  readonly snapshotChunkBytes?: number;
}

/** A hash seed and multiplier per lane; two independent 32-bit lanes make a 64-bit digest. */
const fnvOffsetBasis = 0x811c9dc5;
const fnvPrime = 0x01000193;
const mixSeed = 0x9747b28c;
const mixMultiplier = 0x5bd1e995;

/**
 * The simulator's replicated key-value store: an in-memory `StateMachine` that applies encoded
 * {@link KvCommand}s in log order. It is not durable: after a simulated crash a fresh instance
 * starts at applied index 0 and the runtime restores the stored snapshot (if any) and replays the
 * committed log after it. `snapshot()` / `restore()` use the format of kv-snapshot-codec.ts.
 *
 * Invariant: `applied` only ever grows by one per entry; an entry whose index is not `applied + 1`
 * is a runtime bug and throws before anything in the batch is applied.
 *
 * @example
 * const sm = new KvStateMachine();
 * sm.apply([{ index: 1, term: 1, type: "normal", data: encodeKvCommand(putCommand("x", "1")) }]);
 * sm.get("x"); // "1"
 */
export class KvStateMachine implements StateMachine<KvApplyResult> {
  private data = new Map<string, string>();
  private applied = 0;
  private log: AppliedEntry[] | undefined;
  private readonly snapshotChunkBytes: number;

  constructor(options: KvStateMachineOptions = {}) {
    this.log = options.recordApplyLog ? [] : undefined;
    this.snapshotChunkBytes = options.snapshotChunkBytes ?? DEFAULT_KV_SNAPSHOT_CHUNK_BYTES;
  }

  /**
   * Applies committed entries in order and returns one result per entry. Entries of type "noop" or
   * "config", and entries with empty data, advance the applied index with an `undefined` result.
   * Throws (changing nothing) on a gap or repeat in indexes or on bytes that are not a kv command.
   */
  apply(entries: readonly Entry[]): readonly KvApplyResult[] {
    const commands = this.validateBatch(entries);
    const results: KvApplyResult[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const command = commands[i];
      results[i] = command === undefined ? undefined : this.applyCommand(command);
      this.applied = entries[i].index;
      this.log?.push({ index: entries[i].index, term: entries[i].term });
    }
    return results;
  }

  /** The index of the last applied entry (0 before any). */
  appliedIndex(): number {
    return this.applied;
  }

  /**
   * The whole store at exactly `appliedIndex()`, as a stream of chunks (see
   * {@link KvStateMachine.snapshotChunks}). The bytes are captured when this is called, so applies
   * that run while the stream is consumed cannot change them.
   */
  snapshot(): AsyncIterable<Uint8Array> {
    return streamChunks(this.snapshotChunks());
  }

  /**
   * The whole store at exactly `appliedIndex()`, in the binary format of kv-snapshot-codec.ts
   * (sorted pairs, so equal stores give equal bytes), as chunks of at most `snapshotChunkBytes`.
   */
  snapshotChunks(): readonly Uint8Array[] {
    return encodeKvSnapshot({ appliedIndex: this.applied, pairs: this.sortedEntries() }, this.snapshotChunkBytes);
  }

  /**
   * Replaces the store with the snapshot's content, consuming `data`; afterwards `appliedIndex()`
   * is `meta.index`. The whole snapshot is read, decoded and checked before anything changes (a
   * stream that fails, for instance on a damaged stored snapshot, rejects and changes nothing).
   * With `recordApplyLog`, the apply log restarts empty: the entries the snapshot covers were
   * never applied here.
   * @throws KvSnapshotFormatError on undecodable data, or Error when the data was taken at
   * another index than `meta.index`; the state is unchanged then.
   */
  async restore(meta: SnapshotMeta, data: SnapshotChunks): Promise<void> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of data) chunks.push(chunk);
    const content = decodeKvSnapshot(chunks);
    if (content.appliedIndex !== meta.index) {
      throw new Error(
        `KvStateMachine.restore: the snapshot data was taken at index ${content.appliedIndex}, but its meta says ${meta.index}`,
      );
    }
    this.data = new Map(content.pairs);
    this.applied = meta.index;
    if (this.log !== undefined) this.log = [];
  }

  /**
   * The local value of `key` (`null` when absent). Linearizable only after a read barrier
   * (`RaftServer.read()`) and once this state machine has applied up to the barrier's index.
   */
  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /** Number of keys present. */
  size(): number {
    return this.data.size;
  }

  /** Every (key, value) pair, sorted by key with plain `<` (UTF-16 code unit order). */
  sortedEntries(): readonly (readonly [string, string])[] {
    const keys = [...this.data.keys()].sort(compareCodeUnits);
    return keys.map((key) => [key, this.data.get(key) as string] as const);
  }

  /**
   * A deterministic 64-bit digest (16 hex digits) of every key and value, independent of insertion
   * order, for the convergence check: equal stores give equal digests on every replica and run.
   * The applied index is not part of it; compare `appliedIndex()` separately.
   */
  digest(): string {
    let fnv = fnvOffsetBasis;
    let mix = mixSeed;
    const feed = (unit: number) => {
      fnv = Math.imul(fnv ^ (unit & 0xff), fnvPrime);
      fnv = Math.imul(fnv ^ (unit >>> 8), fnvPrime);
      mix = Math.imul(mix ^ unit, mixMultiplier);
      mix ^= mix >>> 15;
    };
    // Length prefixes keep ("a", "bc") and ("ab", "c") apart.
    const feedString = (text: string) => {
      feed(text.length & 0xffff);
      feed(text.length >>> 16);
      for (let i = 0; i < text.length; i++) feed(text.charCodeAt(i));
    };
    for (const [key, value] of this.sortedEntries()) {
      feedString(key);
      feedString(value);
    }
    feed(this.data.size & 0xffff);
    feed(this.data.size >>> 16);
    return hex32(finalMix(fnv)) + hex32(finalMix(mix));
  }

  /** The (index, term) of every entry applied so far; throws unless built with `recordApplyLog`. */
  applyLog(): readonly AppliedEntry[] {
    if (this.log === undefined) {
      throw new Error("KvStateMachine: the apply log is off; construct with { recordApplyLog: true }");
    }
    return this.log;
  }

  /** Checks indexes and decodes every command before the batch changes anything. */
  private validateBatch(entries: readonly Entry[]): (KvCommand | undefined)[] {
    const commands: (KvCommand | undefined)[] = new Array(entries.length);
    let expectedIndex = this.applied + 1;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.index !== expectedIndex) {
        throw new Error(
          `KvStateMachine: entry index ${entry.index} applied out of order; applied index is ${expectedIndex - 1}, ` +
            `so the next entry must be ${expectedIndex} (runtime bug: apply must be contiguous)`,
        );
      }
      expectedIndex++;
      if (entry.type !== "normal" || entry.data.length === 0) continue;
      try {
        commands[i] = decodeKvCommand(entry.data);
      } catch (error) {
        throw new Error(`KvStateMachine: entry ${entry.index} (term ${entry.term}) is not a kv command`, {
          cause: error,
        });
      }
    }
    return commands;
  }

  private applyCommand(command: KvCommand): KvResult {
    const { next, result } = applyKvCommandToValue(this.get(command.key), command);
    if (next === null) this.data.delete(command.key);
    else this.data.set(command.key, next);
    return result;
  }
}

/** Yields `chunks` one at a time, as a state machine streaming from a point-in-time view does. */
async function* streamChunks(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

/** Plain code-unit order; never locale-dependent. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** MurmurHash3's finalizer: spreads every input bit over the output. */
function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, "0");
}
