import type { NodeId, SnapshotChunk, SnapshotChunkResponse, SnapshotMeta } from "../core/types.js";
import type { SnapshotReader } from "../storage/storage.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { Transport } from "./transport.js";

/**
 * Bytes of chunks handed to the transport for one peer before the sender pauses: the transport
 * gives no back-pressure signal, so this bounds what can pile up in its buffers per peer.
 */
export const MAX_SNAPSHOT_BURST_BYTES = 4 * 1024 * 1024;

/**
 * How long a finished send stays around (with its reader pinned) to answer a follower that lost
 * chunks and asks to resume, before it is dropped.
 */
export const FINISHED_SEND_LINGER_MS = 5_000;

export interface SnapshotSenderOptions {
  readonly selfId: NodeId;
  readonly clusterId: string;
  readonly clock: Clock;
  readonly transport: Transport;
  /** Largest data payload of one chunk. */
  readonly chunkBytes: number;
  /** Bytes handed to the transport per peer before pausing; at least one chunk per burst. */
  readonly burstBytes: number;
  /** Pause between bursts. */
  readonly pauseMs: number;
  /**
   * Called by a send's timer; the server posts it to its inbox and calls `resume(to, sendId)`
   * from there, so sending stays inside the event loop (determinism contract).
   */
  readonly onTimer: (to: NodeId, sendId: number) => void;
  /**
   * A read for send `sendId` finished; the server posts it to its inbox and calls
   * `onRead(to, sendId, offset, data)` from there.
   */
  readonly onReadDone: (to: NodeId, sendId: number, offset: number, data: Uint8Array) => void;
  /** A read failed: the stored snapshot is damaged or unreadable (fatal, like any storage error). */
  readonly onReadFailed: (error: unknown) => void;
}

/** Where a send stands after a step. "done" is reported once per pass over the data. */
export type SendProgress = "done" | "sending" | "paused" | "stale";

type SendState = "reading" | "paused" | "finished";

interface OutgoingSnapshot {
  readonly id: number;
  readonly to: NodeId;
  readonly term: number;
  readonly reader: SnapshotReader;
  /** Bytes handed to the transport so far, in order: the next chunk starts here. */
  offset: number;
  state: SendState;
  /** Bytes sent since the last pause. */
  sentThisBurst: number;
  /** A resume request arrived while a read was in flight: continue from here instead. */
  rewindTo: number | undefined;
  timer: TimerHandle | undefined;
}

/**
 * Streams snapshots to followers as `snapChunk` messages (the leader runtime's half of
 * InstallSnapshot, thesis §5.3), reading them piece by piece from storage so memory stays at a
 * few chunks whatever the snapshot's size. At most one send per peer: a newer send to the same
 * peer aborts the older one. Chunks go out in bursts of about `burstBytes` per peer with a clock
 * pause in between, so a big snapshot never floods the transport.
 *
 * Resumable: a follower that lost a chunk answers `snapChunkResp` with the bytes it holds, and
 * the send continues from there (also for a while after it finished), instead of starting over.
 *
 * Pinned: readers are shared between sends of the same snapshot and closed when the last send
 * using one ends, so storage keeps a snapshot being sent even after compaction replaced it (rule 9).
 */
export class SnapshotSender {
  private readonly sends = new Map<NodeId, OutgoingSnapshot>();
  private readonly readerUsers = new Map<SnapshotReader, number>();
  private nextId = 1;

  constructor(private readonly options: SnapshotSenderOptions) {}

  /** Peers with a send in progress (finished sends lingering for resume requests excluded). */
  get activeCount(): number {
    let active = 0;
    for (const send of this.sends.values()) if (send.state !== "finished") active++;
    return active;
  }

  /** A reader a send holds for `meta`, to share it instead of opening the snapshot again. */
  pinned(meta: SnapshotMeta): SnapshotReader | undefined {
    for (const send of this.sends.values()) {
      if (send.reader.meta.index === meta.index && send.reader.meta.term === meta.term) return send.reader;
    }
    return undefined;
  }

  /**
   * Starts sending the snapshot `reader` holds to `to` in `term`, aborting any send to `to`. The
   * sender takes a share of the reader and closes it when no send uses it any more; a caller that
   * opened the reader and starts no send with it must close it.
   */
  start(to: NodeId, term: number, reader: SnapshotReader): SendProgress {
    this.abort(to);
    const send: OutgoingSnapshot = {
      id: this.nextId++,
      to,
      term,
      reader,
      offset: 0,
      state: "reading",
      sentThisBurst: 0,
      rewindTo: undefined,
      timer: undefined,
    };
    this.readerUsers.set(reader, (this.readerUsers.get(reader) ?? 0) + 1);
    this.sends.set(to, send);
    return this.next(send);
  }

  /** A read finished (see `onReadDone`): sends the chunk and goes on. */
  onRead(to: NodeId, sendId: number, offset: number, data: Uint8Array): SendProgress {
    const send = this.sends.get(to);
    if (send === undefined || send.id !== sendId || send.state !== "reading" || offset !== send.offset) return "stale";
    if (send.rewindTo !== undefined) {
      send.offset = send.rewindTo;
      send.rewindTo = undefined;
      return this.next(send);
    }
    if (data.byteLength === 0 && send.offset < send.reader.bytes) {
      this.options.onReadFailed(
        new Error(
          `snapshot ${send.reader.meta.index}/${send.reader.meta.term} ended at ${offset} of ${send.reader.bytes} bytes`,
        ),
      );
      this.abort(to);
      return "stale";
    }
    send.offset += data.byteLength;
    const last = send.offset >= send.reader.bytes;
    this.options.transport.send(this.chunk(send, offset, data, last));
    if (last) {
      this.linger(send);
      return "done";
    }
    send.sentThisBurst += data.byteLength;
    if (send.sentThisBurst < this.options.burstBytes) return this.next(send);
    send.sentThisBurst = 0;
    send.state = "paused";
    this.setTimer(send, this.options.pauseMs);
    return "paused";
  }

  /** A send's timer fired (see `onTimer`): a pause ends, or a finished send is dropped. */
  resume(to: NodeId, sendId: number): SendProgress {
    const send = this.sends.get(to);
    if (send === undefined || send.id !== sendId) return "stale";
    send.timer = undefined;
    if (send.state === "finished") {
      this.abort(to);
      return "stale";
    }
    if (send.state !== "paused") return "stale";
    return this.next(send);
  }

  /**
   * A follower asks to continue from the bytes it holds. Returns true when the send to it moved
   * (it will resend from there); false when the request is stale or malformed.
   */
  onResponse(response: SnapshotChunkResponse): boolean {
    const send = this.sends.get(response.from);
    if (send === undefined || response.term !== send.term) return false;
    const meta = send.reader.meta;
    if (response.meta.index !== meta.index || response.meta.term !== meta.term) return false;
    if (response.checksum !== send.reader.checksum || response.offset > send.reader.bytes) return false;
    if (response.offset === send.reader.bytes && send.state === "finished") return false;
    switch (send.state) {
      case "reading":
        send.rewindTo = response.offset;
        return true;
      case "paused":
        send.offset = response.offset;
        return true;
      case "finished":
        // Resend the missing part after a pause, which also lets a slow disk on the follower drain.
        if (send.timer !== undefined) this.options.clock.cancelTimer(send.timer);
        send.offset = response.offset;
        send.sentThisBurst = 0;
        send.state = "paused";
        this.setTimer(send, this.options.pauseMs);
        return true;
    }
  }

  /** Stops the send to `to`, if any, and releases its share of the reader. */
  abort(to: NodeId): void {
    const send = this.sends.get(to);
    if (send === undefined) return;
    if (send.timer !== undefined) this.options.clock.cancelTimer(send.timer);
    this.sends.delete(to);
    const users = (this.readerUsers.get(send.reader) ?? 1) - 1;
    if (users > 0) {
      this.readerUsers.set(send.reader, users);
      return;
    }
    this.readerUsers.delete(send.reader);
    send.reader.close().catch(() => undefined);
  }

  /** Stops every send (leadership or term changed, or the node stops). */
  abortAll(): void {
    for (const to of [...this.sends.keys()]) this.abort(to);
  }

  /** Reads the next chunk, or sends the single empty chunk of an empty snapshot. */
  private next(send: OutgoingSnapshot): SendProgress {
    send.state = "reading";
    const offset = send.offset;
    const wanted = Math.min(this.options.chunkBytes, send.reader.bytes - offset);
    if (wanted <= 0) {
      // Only an empty snapshot gets here with nothing sent: its one chunk is empty and last.
      this.options.transport.send(this.chunk(send, offset, new Uint8Array(0), true));
      this.linger(send);
      return "done";
    }
    let read: Promise<Uint8Array>;
    try {
      read = send.reader.read(offset, wanted);
    } catch (error) {
      read = Promise.reject(error);
    }
    const { to, id } = send;
    read.then(
      (data) => this.options.onReadDone(to, id, offset, data),
      (error: unknown) => {
        if (this.sends.get(to)?.id === id) this.options.onReadFailed(error);
      },
    );
    return "sending";
  }

  private linger(send: OutgoingSnapshot): void {
    send.state = "finished";
    this.setTimer(send, FINISHED_SEND_LINGER_MS);
  }

  private setTimer(send: OutgoingSnapshot, delayMs: number): void {
    const { to, id } = send;
    send.timer = this.options.clock.setTimer(delayMs, () => {
      send.timer = undefined;
      this.options.onTimer(to, id);
    });
  }

  private chunk(send: OutgoingSnapshot, offset: number, data: Uint8Array, last: boolean): SnapshotChunk {
    return {
      type: "snapChunk",
      from: this.options.selfId,
      to: send.to,
      term: send.term,
      clusterId: this.options.clusterId,
      meta: send.reader.meta,
      offset,
      data,
      last,
      checksum: send.reader.checksum,
    };
  }
}
