/**
 * Encoded frames waiting for one peer's stream, bounded by count and by bytes. A push past either
 * bound is refused (the caller drops and counts the frame): Raft tolerates loss, while an
 * unbounded queue would let one slow peer exhaust the node's memory.
 */
export class OutgoingQueue {
  private frames: Uint8Array[] = [];
  /** Index of the oldest frame in `frames`; the array is compacted as the head advances. */
  private head = 0;
  private queuedBytes = 0;

  constructor(
    readonly maxFrames: number,
    readonly maxBytes: number,
  ) {}

  /** Appends a frame; false (and nothing queued) when it would exceed a bound. */
  push(frame: Uint8Array): boolean {
    if (this.length >= this.maxFrames || this.queuedBytes + frame.byteLength > this.maxBytes) return false;
    this.frames.push(frame);
    this.queuedBytes += frame.byteLength;
    return true;
  }

  /** Removes and returns the oldest frame. */
  shift(): Uint8Array | undefined {
    if (this.head >= this.frames.length) return undefined;
    const frame = this.frames[this.head];
    this.head++;
    this.queuedBytes -= frame.byteLength;
    if (this.head >= this.frames.length) {
      this.frames = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return frame;
  }

  /** Drops every queued frame; returns how many there were. */
  clear(): number {
    const dropped = this.length;
    this.frames = [];
    this.head = 0;
    this.queuedBytes = 0;
    return dropped;
  }

  get length(): number {
    return this.frames.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }
}
