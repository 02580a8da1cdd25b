import type { Entry, SnapshotMeta, StateMachine } from "@lectern/raft-core";
import type { FileStore } from "../store/file-store.js";
import type { LmsStore } from "../store/lms-store.js";
import { applyCommand } from "./apply-command.js";
import { likelyReads } from "./apply-prefetch.js";
import { WriteLayer } from "./apply-transaction.js";
import { decodeCommand } from "./command-codec.js";
import { defaultMaxFileBytes, idempotencyPruneEveryEntries } from "./limits.js";
import { invalid, type LmsResult } from "./results.js";

/** One result per entry: undefined for noop and config entries (raft-core ignores those). */
export type LmsApplyResult = LmsResult | undefined;

/** Pending writes above this size are committed before the next entry of a batch is applied. */
export const defaultMaxBatchWriteBytes = 4 * 1024 * 1024;

export interface LmsStateMachineOptions {
  readonly store: LmsStore;
  readonly files: FileStore;
  /**
   * Largest file an upload may reach. It decides results, so it MUST be equal on every node
   * (default 25 MiB); the file store's own limit should match it.
   */
  readonly maxFileBytes?: number;
  /**
   * Log indexes between idempotency pruning passes (default {@link idempotencyPruneEveryEntries}).
   * Like every setting that changes what apply does, it must be the same on every replica; tests
   * set 1 to prune at every accepted command.
   */
  readonly idempotencyPruneEveryEntries?: number;
  /** See {@link defaultMaxBatchWriteBytes}. */
  readonly maxBatchWriteBytes?: number;
}

/**
 * The LMS as a raft-core `StateMachine`. Applying is deterministic and idempotent: every input
 * (actor, time, ids) is in the entry, uniqueness and authorisation are decided here from the
 * store, and a rejected command changes nothing. The store is durable and holds the applied index
 * in the same atomic commit as the writes, so a restarted node resumes after `appliedIndex()`
 * without re-applying; `durableIndex()` tells raft-core how far it may compact.
 *
 * Invariant: entries arrive contiguous (index = appliedIndex + 1, + 2, ...); anything else is a
 * runtime bug and throws before the batch changes anything.
 *
 * @example
 * const machine = new LmsStateMachine({ store: await LevelLmsStore.open(dir), files: await FileStore.open(fileDir) });
 * const server = new RaftServer({ ..., stateMachine: machine });
 * const result = await server.propose(encodeCommand(command)); // an LmsResult
 */
export class LmsStateMachine implements StateMachine<LmsApplyResult> {
  private readonly store: LmsStore;
  private readonly files: FileStore;
  private readonly maxFileBytes: number;
  private readonly idempotencyPruneEveryEntries: number;
  private readonly maxBatchWriteBytes: number;
  private applying = false;

  constructor(options: LmsStateMachineOptions) {
    this.store = options.store;
    this.files = options.files;
    this.maxFileBytes = options.maxFileBytes ?? defaultMaxFileBytes;
    this.idempotencyPruneEveryEntries = options.idempotencyPruneEveryEntries ?? idempotencyPruneEveryEntries;
    if (!Number.isSafeInteger(this.idempotencyPruneEveryEntries) || this.idempotencyPruneEveryEntries < 1) {
      throw new RangeError(
        `LmsStateMachine: idempotencyPruneEveryEntries must be a positive integer, got ${this.idempotencyPruneEveryEntries}`,
      );
    }
    this.maxBatchWriteBytes = options.maxBatchWriteBytes ?? defaultMaxBatchWriteBytes;
  }

  /**
   * Applies committed entries in order. Accepted commands of the call are committed to the store
   * in as few atomic batches as the size bound allows, each with its applied index; non-"normal"
   * entries only move the applied index; a malformed entry gives an `invalid` result.
   */
  async apply(entries: readonly Entry[]): Promise<LmsApplyResult[]> {
    if (this.applying) throw new Error("LmsStateMachine.apply: called while another apply is in flight (runtime bug)");
    this.applying = true;
    try {
      this.checkContiguous(entries);
      const decoded = entries.map(decodeEntry);
      refuseNewerCommands(entries, decoded);
      // One disk round trip for the records the whole batch will most likely read, instead of
      // several awaited point reads per entry (which made the applied index trail the commit).
      await this.store.prefetch(decoded.flatMap((item) => (item?.ok === true ? likelyReads(item.command) : [])));
      const results: LmsApplyResult[] = [];
      let batch = new WriteLayer(this.store);
      let batchEnd = 0;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i];
        results.push(await this.applyDecoded(batch, decoded[i], entry.index));
        batchEnd = entry.index;
        if (batch.bytes() >= this.maxBatchWriteBytes) {
          await this.store.commit(batch.writes(), batchEnd);
          batch = new WriteLayer(this.store);
        }
      }
      if (batchEnd > this.store.appliedIndex()) await this.store.commit(batch.writes(), batchEnd);
      return results;
    } finally {
      this.applying = false;
    }
  }

  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  durableIndex(): number {
    return this.store.durableIndex();
  }

  /** The store's snapshot at `appliedIndex()`; later applies do not change the stream. */
  snapshot(): AsyncIterable<Uint8Array> {
    return this.store.snapshot();
  }

  /**
   * Replaces the state with the snapshot's. The stream's own applied index must equal
   * `meta.index`. Files the snapshot's records name are not fetched here: after a restore the node
   * lists them with `missingFiles` (queries.ts) and fetches them from a peer by hash.
   */
  async restore(meta: SnapshotMeta, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    const restored = await this.store.restore(toAsync(data));
    if (restored !== meta.index) {
      throw new Error(
        `LmsStateMachine.restore: the snapshot data was taken at index ${restored}, its meta says ${meta.index}`,
      );
    }
  }

  private async applyDecoded(batch: WriteLayer, decoded: DecodedEntry, logIndex: number): Promise<LmsApplyResult> {
    if (decoded === undefined) return undefined;
    if (!decoded.ok) return invalid(decoded.error.message);
    return applyCommand(batch, decoded.command, logIndex, {
      files: this.files,
      maxFileBytes: this.maxFileBytes,
      idempotencyPruneEveryEntries: this.idempotencyPruneEveryEntries,
    });
  }

  private checkContiguous(entries: readonly Entry[]): void {
    let expected = this.store.appliedIndex() + 1;
    for (const entry of entries) {
      if (entry.index !== expected) {
        throw new Error(
          `LmsStateMachine: entry ${entry.index} applied out of order; the next entry must be ${expected} (runtime bug)`,
        );
      }
      expected++;
    }
  }
}

/** A decoded command entry; undefined for noop and config entries (nothing to apply). */
type DecodedEntry = ReturnType<typeof decodeCommand> | undefined;

/**
 * Stops before applying anything of the call when an entry was written by a newer build (see
 * `MalformedCommandError.fromNewerVersion`). Upgraded nodes apply such an entry; skipping it here
 * would make this replica differ from theirs for good. Throwing stops Raft on this node (its
 * runtime treats a failed apply as fatal); once the node runs the newer build it applies the entry
 * from its durable applied index like any other.
 */
function refuseNewerCommands(entries: readonly Entry[], decoded: readonly DecodedEntry[]): void {
  for (let i = 0; i < decoded.length; i++) {
    const item = decoded[i];
    if (item === undefined || item.ok || !item.error.fromNewerVersion) continue;
    throw new CommandFromNewerVersionError(entries[i].index, item.error.message);
  }
}

/** A committed entry this build cannot apply because a newer build wrote it: upgrade this node. */
export class CommandFromNewerVersionError extends Error {
  constructor(
    readonly index: number,
    problem: string,
  ) {
    super(
      `entry ${index} was written by a newer Lectern version (${problem}); upgrade this node: it applies the entry once it runs that version`,
    );
    this.name = "CommandFromNewerVersionError";
  }
}

function decodeEntry(entry: Entry): DecodedEntry {
  if (entry.type !== "normal" || entry.data.byteLength === 0) return undefined;
  return decodeCommand(entry.data);
}

async function* toAsync(data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* data;
}
