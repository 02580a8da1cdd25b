import { canonicalJson, compareCodeUnits } from "../domain/canonical-json.js";
import { type CollectionName, collectionNames, type LmsCollections } from "../domain/records.js";
import {
  defaultListLimit,
  type Keyed,
  type ListOptions,
  type LmsStore,
  type RecordRef,
  type StoreWrite,
} from "./lms-store.js";
import { decodeSnapshot, encodeSnapshot, type SnapshotRecordText } from "./snapshot-format.js";

/**
 * An `LmsStore` in memory, for tests and simulations: the reference the contract suite holds the
 * real stores to. Values are kept as canonical JSON text, so reads return fresh copies and a
 * snapshot taken now never sees later commits. Everything is "durable" (there is no crash).
 */
export class MemoryLmsStore implements LmsStore {
  private readonly data = new Map<CollectionName, Map<string, string>>(
    collectionNames.map((name) => [name, new Map()]),
  );
  private applied = 0;

  appliedIndex(): number {
    return this.applied;
  }

  durableIndex(): number {
    return this.applied;
  }

  async get<C extends CollectionName>(collection: C, key: string): Promise<LmsCollections[C] | undefined> {
    const text = this.table(collection).get(key);
    return text === undefined ? undefined : (JSON.parse(text) as LmsCollections[C]);
  }

  /** Everything is in memory already. */
  async prefetch(_refs: readonly RecordRef[]): Promise<void> {}

  async list<C extends CollectionName>(collection: C, prefix: string, options: ListOptions = {}): Promise<Keyed<C>[]> {
    const limit = options.limit ?? defaultListLimit;
    const after = options.startAfter;
    const keys = [...this.table(collection).keys()]
      .filter((key) => key.startsWith(prefix) && (after === undefined || key > after))
      .sort(compareCodeUnits)
      .slice(0, limit);
    return keys.map((key) => ({ key, value: JSON.parse(this.table(collection).get(key) as string) }));
  }

  async commit(writes: readonly StoreWrite[], appliedIndex: number): Promise<void> {
    if (!(appliedIndex > this.applied)) {
      throw new Error(`MemoryLmsStore.commit: applied index ${appliedIndex} does not follow ${this.applied}`);
    }
    // Encode everything first so a bad value throws before anything changes.
    const encoded = writes.map(
      (write) => [write, write.value === undefined ? undefined : (write.text ?? canonicalJson(write.value))] as const,
    );
    for (const [write, text] of encoded) {
      if (text === undefined) this.table(write.collection).delete(write.key);
      else this.table(write.collection).set(write.key, text);
    }
    this.applied = appliedIndex;
  }

  async sync(): Promise<void> {}

  snapshot(): AsyncIterable<Uint8Array> {
    // Copy now: the stream must show the state at this call, whatever commits follow.
    const records: SnapshotRecordText[] = [];
    for (const collection of collectionNames) {
      const table = this.table(collection);
      for (const key of [...table.keys()].sort(compareCodeUnits)) {
        records.push({ collection, key, valueJson: table.get(key) as string });
      }
    }
    return encodeSnapshot(this.applied, fromArray(records));
  }

  async restore(data: AsyncIterable<Uint8Array>): Promise<number> {
    const fresh = new Map<CollectionName, Map<string, string>>(collectionNames.map((name) => [name, new Map()]));
    let appliedIndex = 0;
    for await (const record of decodeSnapshot(data, (index) => {
      appliedIndex = index;
    })) {
      fresh.get(record.collection)?.set(record.key, canonicalJson(record.value));
    }
    for (const [name, table] of fresh) this.data.set(name, table);
    this.applied = appliedIndex;
    return appliedIndex;
  }

  async close(): Promise<void> {}

  private table(collection: CollectionName): Map<string, string> {
    const table = this.data.get(collection);
    if (table === undefined) throw new Error(`MemoryLmsStore: no collection "${collection}"`);
    return table;
  }
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
