/**
 * The appends sent to one follower and not yet acknowledged, as a ring of their last indexes and
 * sizes. Bounds both the count (`maxCount`) and, softly, the bytes in flight (flow control).
 */
export class Inflights {
  private readonly lastIndexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {
    this.lastIndexes = new Array<number>(maxCount).fill(0);
    this.sizes = new Array<number>(maxCount).fill(0);
  }

  /** Records an append ending at `lastIndex`; indexes must increase. */
  add(lastIndex: number, bytes: number): void {
    if (this.count === this.maxCount) throw new Error("Inflights.add: window is full; check full() before sending");
    const slot = (this.start + this.count) % this.maxCount;
    this.lastIndexes[slot] = lastIndex;
    this.sizes[slot] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every append whose last index is at or below `index` (they were acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.lastIndexes[this.start] <= index) {
      this.bytes -= this.sizes[this.start];
      this.start = (this.start + 1) % this.maxCount;
      this.count--;
    }
  }

  full(): boolean {
    return this.count === this.maxCount || this.bytes >= this.maxBytes;
  }

  size(): number {
    return this.count;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
