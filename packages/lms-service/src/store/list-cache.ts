import { type CollectionName, collectionNames } from "../domain/records.js";

/** Most list results a {@link ListCache} holds (the oldest filled go first). */
export const maxCachedLists = 1024;
/** Longer results are not cached: the cache is for the short lists every read repeats. */
export const maxCachedListRecords = 64;

/** A list result as stored: [full key, text] pairs in key order. */
export type ListedTexts = readonly (readonly [string, string])[];

interface CachedList {
  readonly generation: number;
  readonly entries: ListedTexts;
}

/**
 * Results of recent `list` calls, each valid while its collection is unchanged: every commit that
 * writes a collection bumps that collection's generation, which retires its cached lists at once.
 * So writes of one collection (feedback notes) leave the lists of others (a user's courses, a
 * course's members) cached. A list result fills the cache only when its collection did not change
 * while it was being read.
 */
export class ListCache {
  private readonly lists = new Map<string, CachedList>();
  private readonly generations = new Map<CollectionName, number>(collectionNames.map((name) => [name, 0]));

  constructor(private readonly maxLists: number = maxCachedLists) {}

  /** The collection's generation now: pass it to `set` with the result read after this call. */
  generationOf(collection: CollectionName): number {
    return this.generations.get(collection) ?? 0;
  }

  /** The cached result of this list, if its collection has not changed since it was read. */
  get(collection: CollectionName, listKey: string): ListedTexts | undefined {
    const cached = this.lists.get(listKey);
    if (cached === undefined || cached.generation !== this.generationOf(collection)) return undefined;
    return cached.entries;
  }

  /** Keeps a result read when the collection was at `generation` (ignored if it changed since). */
  set(collection: CollectionName, listKey: string, generation: number, entries: ListedTexts): void {
    if (generation !== this.generationOf(collection) || entries.length > maxCachedListRecords) return;
    if (!this.lists.has(listKey) && this.lists.size >= this.maxLists) {
      const oldest = this.lists.keys().next();
      if (oldest.done !== true) this.lists.delete(oldest.value);
    }
    this.lists.set(listKey, { generation, entries });
  }

  /** A commit wrote `collection` (or may have): its cached lists are stale. */
  changed(collection: CollectionName): void {
    this.generations.set(collection, this.generationOf(collection) + 1);
  }

  /** Everything may have changed (restore, failed commit). */
  clear(): void {
    for (const name of collectionNames) this.changed(name);
    this.lists.clear();
  }
}

/** The cache key of one list call (collection, prefix, start and limit). */
export function listKeyOf(
  collection: CollectionName,
  prefix: string,
  startAfter: string | undefined,
  limit: number,
): string {
  const start = startAfter === undefined ? "-" : `+${startAfter}`;
  return `${collection}\u0000${prefix}\u0000${start}\u0000${limit}`;
}
