import type { WriteLayer } from "./apply-transaction.js";
import type { LmsCommand } from "./commands.js";
import { key } from "./keys.js";
import { idempotencyGenerationMs, maxIdempotencyRecordsPrunedPerPass } from "./limits.js";
import type { IdempotencyRecord } from "./records.js";

/**
 * Idempotency records expire, so the state does not grow with every write ever made, and they do
 * so without a second record per write: a record's key starts with its generation, the command's
 * stamped time divided into {@link idempotencyGenerationMs} spans, so key order is age order and
 * pruning deletes from the front of the collection.
 *
 * - A command looks for its key in its own generation and the two beside it, so a retry stamped
 *   up to one generation after the first attempt, or by a node whose clock is up to one
 *   generation behind, still finds the first result.
 * - The accepted commands at every `idempotencyPruneEveryEntries`-th log index (a state-machine
 *   setting, default in limits.ts) delete, oldest first, at most {@link maxIdempotencyRecordsPrunedPerPass} records of generations more than two
 *   before their own. A record is therefore kept for at least two generations after it was
 *   stamped.
 *
 * Deterministic by construction: what is read and deleted depends only on the state, the command's
 * stamped `at` and its log index, never on the applying node's clock, so every replica does the
 * same at the same log index however its entries are batched.
 *
 * Records written by builds before this one are keyed without a generation. They sort after every
 * generation key (digits sort before letters), are never found by a new lookup and never pruned;
 * their number is fixed.
 */

/** Digits of a generation in a key: enough for the latest time a command may carry. */
const generationDigits = 10;
/** Records one pruning read takes first; each further read takes four times as many. */
const firstPruneReadRecords = 4;

/** The generation of a command stamped at `atMs`. */
export function generationOf(atMs: number): number {
  return Math.floor(atMs / idempotencyGenerationMs);
}

/** Where a first result of `scope`'s `idempotencyKey` stamped in `generation` is kept. */
export function idempotencyRecordKeyIn(generation: number, scope: string, idempotencyKey: string): string {
  return key(String(generation).padStart(generationDigits, "0"), scope, idempotencyKey);
}

/** The keys `command`'s first result may be under, its own generation first. */
export function idempotencyLookupKeys(command: LmsCommand, scope: string): string[] {
  const generation = generationOf(command.at);
  return [generation, generation - 1, generation + 1]
    .filter((g) => g >= 0)
    .map((g) => idempotencyRecordKeyIn(g, scope, command.idempotencyKey));
}

/** The first result kept for `command`'s key, if any (see {@link idempotencyLookupKeys}). */
export async function findFirstResult(
  tx: WriteLayer,
  command: LmsCommand,
  scope: string,
): Promise<IdempotencyRecord | undefined> {
  for (const recordKey of idempotencyLookupKeys(command, scope)) {
    const seen = await tx.get("idempotency", recordKey);
    if (seen !== undefined) return seen;
  }
  return undefined;
}

/**
 * Stores `record`, the first result of an accepted command's idempotency key, in the command's
 * generation, and at a pruning index (`logIndex` a multiple of `pruneEveryEntries`) first prunes
 * old generations (bounded work). Writes go to `tx`, the command's own layer, so they land
 * together with the command's other writes.
 */
export async function keepFirstResult(
  tx: WriteLayer,
  command: LmsCommand,
  scope: string,
  record: IdempotencyRecord,
  logIndex: number,
  pruneEveryEntries: number,
): Promise<void> {
  const generation = generationOf(command.at);
  if (logIndex % pruneEveryEntries === 0) await pruneBefore(tx, generation - 2);
  tx.put("idempotency", idempotencyRecordKeyIn(generation, scope, command.idempotencyKey), record);
}

/**
 * Deletes, oldest first, records of generations below `keptFrom`, at most
 * {@link maxIdempotencyRecordsPrunedPerPass}. Reads in growing pages: usually the oldest record is
 * young enough, and one short read says so.
 */
async function pruneBefore(tx: WriteLayer, keptFrom: number): Promise<void> {
  let pruned = 0;
  let after: string | undefined;
  let page = firstPruneReadRecords;
  while (pruned < maxIdempotencyRecordsPrunedPerPass) {
    const limit = Math.min(page, maxIdempotencyRecordsPrunedPerPass - pruned);
    const oldest = await tx.list("idempotency", "", { startAfter: after, limit });
    for (const { key: recordKey } of oldest) {
      const generation = generationInKey(recordKey);
      if (generation === undefined || generation >= keptFrom) return;
      tx.delete("idempotency", recordKey);
      after = recordKey;
      pruned++;
    }
    if (oldest.length < limit) return;
    page *= 4;
  }
}

/** The generation a record key starts with; undefined for a key of an older build. */
function generationInKey(recordKey: string): number | undefined {
  if (recordKey.length <= generationDigits || recordKey[generationDigits] !== "/") return undefined;
  const digits = recordKey.slice(0, generationDigits);
  return /^\d+$/.test(digits) ? Number(digits) : undefined;
}
