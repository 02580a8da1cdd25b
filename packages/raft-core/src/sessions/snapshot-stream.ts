import type { SnapshotChunks } from "../storage/storage.js";

/**
 * Streams a header followed by another snapshot stream, chunk by chunk (nothing is buffered).
 * The header is yielded as is: the caller passes a buffer it no longer changes.
 */
export async function* prependHeader(header: Uint8Array, rest: SnapshotChunks): AsyncGenerator<Uint8Array> {
  yield header;
  for await (const chunk of rest) yield chunk;
}

/**
 * Reads a snapshot stream in two parts: first `readExactly` bytes (copied, across any chunk
 * boundaries), then `rest()`, the remaining bytes as a stream that pulls from the source only as
 * its consumer asks (the part of a chunk left over after the header comes first). Memory holds
 * the header and at most one source chunk.
 */
export class SnapshotStreamSplitter {
  private readonly iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private leftover: Uint8Array | undefined;
  private offset = 0;
  private handedOff = false;
  private done = false;

  constructor(source: SnapshotChunks) {
    const asyncSource = source as AsyncIterable<Uint8Array>;
    this.iterator =
      typeof asyncSource[Symbol.asyncIterator] === "function"
        ? asyncSource[Symbol.asyncIterator]()
        : (source as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  /** Bytes consumed from the source by `readExactly` so far. */
  get bytesRead(): number {
    return this.offset;
  }

  /**
   * The next `bytes` bytes as one new buffer.
   * @throws Error when the stream ends first (`what` names the missing part), or yields a
   * chunk that is not a Uint8Array.
   */
  async readExactly(bytes: number, what: string): Promise<Uint8Array> {
    if (this.handedOff) throw new Error("SnapshotStreamSplitter: readExactly after rest()");
    const out = new Uint8Array(bytes);
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.leftover ?? (await this.pull());
      this.leftover = undefined;
      if (chunk === undefined) {
        throw new Error(
          `snapshot ended after ${this.offset} bytes, inside the ${what} (${bytes - filled} bytes missing)`,
        );
      }
      const take = Math.min(bytes - filled, chunk.byteLength);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      this.offset += take;
      if (take < chunk.byteLength) this.leftover = chunk.subarray(take);
    }
    return out;
  }

  /** The bytes after what `readExactly` consumed, as a stream. Call at most once. */
  rest(): AsyncGenerator<Uint8Array> {
    if (this.handedOff) throw new Error("SnapshotStreamSplitter: rest() called twice");
    this.handedOff = true;
    return this.streamRest();
  }

  /** Lets the source release what it holds when the rest will not be read. */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.iterator.return?.();
  }

  private async *streamRest(): AsyncGenerator<Uint8Array> {
    try {
      const leftover = this.leftover;
      this.leftover = undefined;
      if (leftover !== undefined && leftover.byteLength > 0) yield leftover;
      for (;;) {
        const chunk = await this.pull();
        if (chunk === undefined) return;
        yield chunk;
      }
    } finally {
      // A consumer that stops early (or fails) still closes the source.
      await this.close();
    }
  }

  private async pull(): Promise<Uint8Array | undefined> {
    if (this.done) return undefined;
    const next = await this.iterator.next();
    if (next.done) {
      this.done = true;
      return undefined;
    }
    const chunk: unknown = next.value;
    if (!(chunk instanceof Uint8Array)) throw new TypeError("snapshot stream yielded a chunk that is not a Uint8Array");
    return chunk;
  }
}
