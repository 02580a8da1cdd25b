/** An item the heap can hold: ordered by `readIndex`, and it remembers its slot so it can be removed. */
export interface ReadIndexHeapItem {
  readonly readIndex: number;
  /** Slot in the heap, or -1 when not in it. Maintained by the heap only. */
  heapSlot: number;
}

/**
 * A binary min-heap on `readIndex` with O(log n) removal of any item. Reads wait here until the
 * state machine's applied index reaches their read index; a read that times out leaves at once,
 * so a node that stops applying cannot accumulate abandoned reads.
 */
export class ReadIndexHeap<Item extends ReadIndexHeapItem> {
  private readonly items: Item[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Item | undefined {
    return this.items[0];
  }

  push(item: Item): void {
    this.items.push(item);
    this.siftUp(this.items.length - 1, item);
  }

  pop(): Item | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes `item` if it is in this heap. */
  remove(item: Item): void {
    const slot = item.heapSlot;
    if (slot >= 0 && this.items[slot] === item) this.removeAt(slot);
  }

  private removeAt(slot: number): void {
    const items = this.items;
    const removed = items[slot];
    removed.heapSlot = -1;
    const last = items.pop() as Item;
    if (slot === items.length) return;
    if (slot > 0 && last.readIndex < items[(slot - 1) >> 1].readIndex) this.siftUp(slot, last);
    else this.siftDown(slot, last);
  }

  private siftUp(start: number, item: Item): void {
    const items = this.items;
    let slot = start;
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = items[parentSlot];
      if (parent.readIndex <= item.readIndex) break;
      items[slot] = parent;
      parent.heapSlot = slot;
      slot = parentSlot;
    }
    items[slot] = item;
    item.heapSlot = slot;
  }

  private siftDown(start: number, item: Item): void {
    const items = this.items;
    const length = items.length;
    let slot = start;
    for (;;) {
      const left = 2 * slot + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && items[right].readIndex < items[left].readIndex ? right : left;
      if (items[child].readIndex >= item.readIndex) break;
      items[slot] = items[child];
      items[slot].heapSlot = slot;
      slot = child;
    }
    items[slot] = item;
    item.heapSlot = slot;
  }
}
