import type { Keyed, ListOptions, LmsReader, StoreWrite } from "../store/lms-store.js";
import { defaultListLimit } from "../store/lms-store.js";
import { canonicalJson, compareCodeUnits } from "./canonical-json.js";
import type { CollectionName, LmsCollections } from "./records.js";

/** A pending write: the record (with its canonical text, encoded once), or undefined for a delete. */
type Pending = StoreWrite;

function parsed<C extends CollectionName>(write: Pending): LmsCollections[C] | undefined {
  // The text is exactly what the store will hold, so a read here sees what a read of the store
  // would after the commit (a fresh copy, keys in canonical order).
  return write.text === undefined ? undefined : (JSON.parse(write.text) as LmsCollections[C]);
}

function slot(collection: CollectionName, key: string): string {
  return `${collection}\u0000${key}`;
}

/**
 * Writes layered over a reader: reads see this layer's writes first, then the layer below. Apply
 * uses two: a batch layer over the store (the accepted commands of one `apply` call, committed
 * together) and a command layer over the batch (dropped if the command is rejected, so a rejected
 * command changes nothing).
 */
export class WriteLayer implements LmsReader {
  private readonly pending = new Map<string, Pending>();
  private approximateBytes = 0;

  constructor(private readonly below: LmsReader) {}

  async get<C extends CollectionName>(collection: C, key: string): Promise<LmsCollections[C] | undefined> {
    const hit = this.pending.get(slot(collection, key));
    if (hit !== undefined) return parsed<C>(hit);
    return this.below.get(collection, key);
  }

  /**
   * The records of the layer below merged with this layer's. Asks the layer below for `limit`
   * plus the number of deletes here, which is enough: at most that many of its records can vanish.
   */
  async list<C extends CollectionName>(collection: C, prefix: string, options: ListOptions = {}): Promise<Keyed<C>[]> {
    const limit = options.limit ?? defaultListLimit;
    const after = options.startAfter;
    const inRange = (key: string) => key.startsWith(prefix) && (after === undefined || key > after);
    const mine = new Map<string, Pending>();
    let deletes = 0;
    for (const write of this.pending.values()) {
      if (write.collection !== collection || !inRange(write.key)) continue;
      mine.set(write.key, write);
      if (write.value === undefined) deletes++;
    }
    const fromBelow = await this.below.list(collection, prefix, { startAfter: after, limit: limit + deletes });
    if (mine.size === 0) return fromBelow;
    const merged = new Map<string, LmsCollections[C]>();
    for (const record of fromBelow) if (!mine.has(record.key)) merged.set(record.key, record.value);
    for (const [key, write] of mine) {
      const value = parsed<C>(write);
      if (value !== undefined) merged.set(key, value);
    }
    return [...merged.keys()]
      .sort(compareCodeUnits)
      .slice(0, limit)
      .map((key) => ({ key, value: merged.get(key) as LmsCollections[C] }));
  }

  /** Stores `value` under `key` (a copy: later changes to `value` do not leak in). */
  put<C extends CollectionName>(collection: C, key: string, value: LmsCollections[C]): void {
    const text = canonicalJson(value);
    this.record({ collection, key, value: JSON.parse(text), text } as Pending, text.length);
  }

  delete(collection: CollectionName, key: string): void {
    this.record({ collection, key, value: undefined } as Pending, 0);
  }

  /** Moves every write of `layer` into this one (a command accepted into its batch). */
  absorb(layer: WriteLayer): void {
    for (const write of layer.pending.values()) this.record(write, write.text?.length ?? 0);
  }

  /** The writes, in the order of their first write (later writes to a key replace earlier ones). */
  writes(): StoreWrite[] {
    return [...this.pending.values()];
  }

  /** A rough size of the pending writes, to bound a batch. */
  bytes(): number {
    return this.approximateBytes;
  }

  private record(write: Pending, textChars: number): void {
    this.pending.set(slot(write.collection, write.key), write);
    this.approximateBytes += write.key.length + textChars;
  }
}
