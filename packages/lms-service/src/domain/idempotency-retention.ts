import type { WriteLayer } from "./apply-transaction.js";
import { key, paddedTimestamp } from "./keys.js";
import { idempotencyPruneEveryEntries, idempotencyRetentionMs, maxIdempotencyRecordsPrunedPerPass } from "./limits.js";
import type { IdempotencyRecord } from "./records.js";

/**
 * Idempotency records expire, so the state does not grow with every write ever made. Each record
 * has an entry in `expiringIdempotency`, keyed by the command's stamped time, and the accepted
 * commands at every {@link idempotencyPruneEveryEntries}-th log index delete at most
 * {@link maxIdempotencyRecordsPrunedPerPass} of the oldest records whose time is more than
 * {@link idempotencyRetentionMs} before their own stamped time.
 *
 * Deterministic by construction: what is deleted depends only on the state and the command (its
 * stamped `at` and log index, never the applying node's clock), so every replica deletes the same
 * records at the same log index, however its entries are batched. Nothing assumes stamped times only grow: a
 * leader with a slow clock may stamp an earlier time than the last leader did.
 *
 * A pruning pass starts after `pruneCursors/expiringIdempotency` (the last entry it deleted), not
 * at the first entry: a batch of applies, and the LevelDB store's unwritten commits, hold the
 * deletes of earlier passes, and a list from the start would read past all of them. Invariant: no
 * entry at or below the cursor exists. An entry stamped below it (a leader whose clock ran more
 * than the retention behind) drops the cursor, so the next pass starts from the first entry again.
 *
 * Records written before records expired have no `at` and no entry: they are still replayed and
 * are never pruned (their number is fixed, so they do not grow the state; no sweep removes them).
 */

/** Entries a pruning pass reads first; each further read takes four times as many, up to the bound. */
const firstPruneReadEntries = 4;

/** The `pruneCursors` key of the idempotency pruning. */
export const idempotencyPruneCursorKey = "expiringIdempotency";

/** The `expiringIdempotency` key of the record under `recordKey` stamped at `at`. */
export function expiringIdempotencyKey(at: number, recordKey: string): string {
  return key(paddedTimestamp(at), recordKey);
}

/**
 * Stores `record`, the first result of an accepted command's idempotency key, with its entry in
 * expiry order, and at a pruning index (`logIndex` a multiple of {@link idempotencyPruneEveryEntries})
 * prunes expired records first (bounded work). Writes go to `tx`, the command's own layer, so they
 * land together with the command's other writes.
 */
export async function keepFirstResult(
  tx: WriteLayer,
  recordKey: string,
  record: IdempotencyRecord & { readonly at: number },
  logIndex: number,
  pruneEveryEntries: number = idempotencyPruneEveryEntries,
): Promise<void> {
  // Read by every command (a point read, prefetched): an entry stamped below it must drop it.
  const cursor = (await tx.get("pruneCursors", idempotencyPruneCursorKey))?.after;
  const pass = logIndex % pruneEveryEntries === 0;
  let next = pass ? ((await pruneExpired(tx, record.at, cursor)) ?? cursor) : cursor;
  const entryKey = expiringIdempotencyKey(record.at, recordKey);
  // Pruned entries are older than `record.at` minus the retention, so only an old cursor can be
  // above the new entry (its command was stamped by a node whose clock is far behind).
  if (next !== undefined && entryKey <= next) next = undefined;
  if (next !== cursor) {
    if (next === undefined) tx.delete("pruneCursors", idempotencyPruneCursorKey);
    else tx.put("pruneCursors", idempotencyPruneCursorKey, { after: next });
  }
  tx.put("idempotency", recordKey, record);
  tx.put("expiringIdempotency", entryKey, { recordKey, at: record.at });
}

/**
 * Deletes, oldest first, the records stamped more than the retention before `nowMs`, at most
 * {@link maxIdempotencyRecordsPrunedPerPass}, from the entries after `after`. Returns the last
 * entry key deleted, or undefined when none was. The deletes are blind (no read of the record):
 * an entry exists exactly while its record does, as both are written and deleted together.
 */
async function pruneExpired(tx: WriteLayer, nowMs: number, after: string | undefined): Promise<string | undefined> {
  const expiredBeforeMs = nowMs - idempotencyRetentionMs;
  let last: string | undefined;
  let pruned = 0;
  // Small pages first: usually the oldest entry has not expired yet, and one short read says so
  // (a single read of the whole bound would parse up to that many live entries at every pass).
  let page = firstPruneReadEntries;
  while (pruned < maxIdempotencyRecordsPrunedPerPass) {
    const limit = Math.min(page, maxIdempotencyRecordsPrunedPerPass - pruned);
    const oldest = await tx.list("expiringIdempotency", "", { startAfter: last ?? after, limit });
    for (const { key: entryKey, value } of oldest) {
      if (value.at >= expiredBeforeMs) return last;
      tx.delete("idempotency", value.recordKey);
      tx.delete("expiringIdempotency", entryKey);
      last = entryKey;
      pruned++;
    }
    if (oldest.length < limit) return last;
    page *= 4;
  }
  return last;
}
