/** Default bound of a {@link RecordCache}: about this many bytes of keys and record text. */
export const defaultRecordCacheBytes = 32 * 1024 * 1024;

/** What a cache entry costs beyond its key and text (Map slot, string headers), roughly. */
const entryOverheadBytes = 64;

/** A cached answer: the record's stored text, or null when the store is known to hold no record. */
export type CachedText = string | null;

interface Slot {
  text: CachedText;
  /** Read since it was last passed by eviction: it gets a second chance. */
  used: boolean;
}

/**
 * A bounded map from a store key to what the store holds under it (its text, or null for "no
 * record"), evicting by second chance (CLOCK): the oldest entry goes unless it was read since the
 * last pass, in which case it moves to the back. A hit changes only a flag, never the Map's order:
 * deleting and re-inserting a hot key on every hit leaves deleted slots in its hash chain until
 * the next rehash and makes its lookups slow.
 *
 * It knows nothing about coherence: the store that owns it writes every commit through it (`set`)
 * and fills it from reads only when no commit ran during the read.
 */
export class RecordCache {
  private readonly entries = new Map<string, Slot>();
  private bytes = 0;

  constructor(private readonly maxBytes: number = defaultRecordCacheBytes) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`the record cache bound must be a non-negative integer of bytes, got ${maxBytes}`);
    }
  }

  /** The cached answer for `key`, or undefined when not cached. */
  get(key: string): CachedText | undefined {
    const slot = this.entries.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.text;
  }

  /** Records what the store now holds under `key`; evicts past the bound. */
  set(key: string, text: CachedText): void {
    const cost = costOf(key, text);
    const slot = this.entries.get(key);
    if (slot !== undefined) {
      this.bytes += cost - costOf(key, slot.text);
      slot.text = text;
    } else {
      this.entries.set(key, { text, used: false });
      this.bytes += cost;
    }
    this.evictPastBound();
  }

  forget(key: string): void {
    const slot = this.entries.get(key);
    if (slot === undefined) return;
    this.entries.delete(key);
    this.bytes -= costOf(key, slot.text);
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  /** Entries held (for tests and metrics). */
  size(): number {
    return this.entries.size;
  }

  private evictPastBound(): void {
    // Each pass either evicts or clears a flag, so this ends within two passes of the entries.
    while (this.bytes > this.maxBytes) {
      const oldest = this.entries.entries().next();
      if (oldest.done === true) return;
      const [key, slot] = oldest.value;
      this.entries.delete(key);
      if (slot.used) {
        slot.used = false;
        this.entries.set(key, slot);
      } else {
        this.bytes -= costOf(key, slot.text);
      }
    }
  }
}

function costOf(key: string, text: CachedText): number {
  return key.length + (text === null ? 0 : text.length) + entryOverheadBytes;
}
