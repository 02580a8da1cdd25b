import type { NodeId, SnapshotChunk, SnapshotMeta } from "../core/types.js";
import { snapshotByteLength, snapshotChecksum } from "../storage/snapshot.js";
import type { StoredSnapshot } from "../storage/storage.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { Transport } from "./transport.js";

/**
 * Bytes of chunks handed to the transport for one peer before the sender pauses: the transport
 * gives no back-pressure signal, so this bounds what can pile up in its buffers per peer.
 */
export const MAX_SNAPSHOT_BURST_BYTES = 4 * 1024 * 1024;

/**
 * A snapshot loaded for sending, with its size and checksum computed once. Sends hold it, so a
 * snapshot being sent stays in memory even after storage replaced it (pinned, rule 9).
 */
export interface PinnedSnapshot {
  readonly meta: SnapshotMeta;
  readonly data: readonly Uint8Array[];
  readonly bytes: number;
  /** CRC-32C of the whole data, carried by every chunk. */
  readonly checksum: number;
}

/** Computes what every chunk of `stored` carries. */
export function pinSnapshot(stored: StoredSnapshot): PinnedSnapshot {
  return {
    meta: stored.meta,
    data: stored.data,
    bytes: snapshotByteLength(stored.data),
    checksum: snapshotChecksum(stored.data),
  };
}

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
   * Called by the pause timer; the server posts it to its inbox and calls `resume(to, sendId)`
   * from there, so sending stays inside the event loop (determinism contract).
   */
  readonly onPauseOver: (to: NodeId, sendId: number) => void;
}

/** Where a send stands. */
export type SendProgress = "done" | "paused" | "stale";

interface OutgoingSnapshot {
  readonly id: number;
  readonly to: NodeId;
  readonly term: number;
  readonly snapshot: PinnedSnapshot;
  /** Bytes handed to the transport so far. */
  offset: number;
  /** Position in `snapshot.data`: chunk index and offset inside it. */
  part: number;
  inPart: number;
  timer: TimerHandle | undefined;
}

/**
 * Streams snapshots to followers as `snapChunk` messages (the leader runtime's half of
 * InstallSnapshot, thesis §5.3), at most one send per peer: a newer send to the same peer aborts
 * the older one. Chunks go out in bursts of about `burstBytes` per peer with a clock pause in
 * between, so a big snapshot never floods the transport.
 *
 * @example
 * const sender = new SnapshotSender({ selfId: "a", clusterId: "c", clock, transport, chunkBytes: 1 << 20,
 *   burstBytes: 4 << 20, pauseMs: 10, onPauseOver: (to, id) => post({ kind: "snapshotSendResume", to, sendId: id }) });
 * if (sender.start("b", term, pinned) === "done") core.reportSnapshot("b", true);
 */
export class SnapshotSender {
  private readonly sends = new Map<NodeId, OutgoingSnapshot>();
  private nextId = 1;

  constructor(private readonly options: SnapshotSenderOptions) {}

  /** Peers with a send in progress. */
  get activeCount(): number {
    return this.sends.size;
  }

  /** Starts sending `snapshot` to `to` in `term`, aborting any send to `to` in progress. */
  start(to: NodeId, term: number, snapshot: PinnedSnapshot): SendProgress {
    this.abort(to);
    const send: OutgoingSnapshot = {
      id: this.nextId++,
      to,
      term,
      snapshot,
      offset: 0,
      part: 0,
      inPart: 0,
      timer: undefined,
    };
    this.sends.set(to, send);
    return this.burst(send);
  }

  /** Continues send `sendId` to `to` after its pause; "stale" when it was aborted or replaced meanwhile. */
  resume(to: NodeId, sendId: number): SendProgress {
    const send = this.sends.get(to);
    if (send === undefined || send.id !== sendId) return "stale";
    send.timer = undefined;
    return this.burst(send);
  }

  /** The snapshot a send in progress holds for `meta`, to share it instead of loading it again. */
  pinned(meta: SnapshotMeta): PinnedSnapshot | undefined {
    for (const send of this.sends.values()) {
      if (send.snapshot.meta.index === meta.index && send.snapshot.meta.term === meta.term) return send.snapshot;
    }
    return undefined;
  }

  /** Stops the send to `to`, if any. */
  abort(to: NodeId): void {
    const send = this.sends.get(to);
    if (send === undefined) return;
    if (send.timer !== undefined) this.options.clock.cancelTimer(send.timer);
    this.sends.delete(to);
  }

  /** Stops every send (leadership or term changed, or the node stops). */
  abortAll(): void {
    for (const to of [...this.sends.keys()]) this.abort(to);
  }

  private burst(send: OutgoingSnapshot): SendProgress {
    const { chunkBytes, burstBytes } = this.options;
    let sentThisBurst = 0;
    for (;;) {
      const data = this.nextData(send, chunkBytes);
      const offset = send.offset;
      send.offset += data.byteLength;
      const last = send.offset >= send.snapshot.bytes;
      this.options.transport.send(this.chunk(send, offset, data, last));
      if (last) {
        this.sends.delete(send.to);
        return "done";
      }
      sentThisBurst += data.byteLength;
      if (sentThisBurst >= burstBytes) break;
    }
    send.timer = this.options.clock.setTimer(this.options.pauseMs, () => {
      send.timer = undefined;
      this.options.onPauseOver(send.to, send.id);
    });
    return "paused";
  }

  /**
   * The next up-to-`maxBytes` of the snapshot: a view when it lies inside one stored chunk, a copy
   * when it spans several.
   */
  private nextData(send: OutgoingSnapshot, maxBytes: number): Uint8Array {
    const parts = send.snapshot.data;
    const wanted = Math.min(maxBytes, send.snapshot.bytes - send.offset);
    this.skipExhausted(send);
    const current = parts[send.part];
    if (current !== undefined && current.byteLength - send.inPart >= wanted) {
      const view = current.subarray(send.inPart, send.inPart + wanted);
      send.inPart += wanted;
      return view;
    }
    const out = new Uint8Array(wanted);
    let filled = 0;
    while (filled < wanted) {
      this.skipExhausted(send);
      const part = parts[send.part] as Uint8Array;
      const take = Math.min(wanted - filled, part.byteLength - send.inPart);
      out.set(part.subarray(send.inPart, send.inPart + take), filled);
      send.inPart += take;
      filled += take;
    }
    return out;
  }

  private skipExhausted(send: OutgoingSnapshot): void {
    const parts = send.snapshot.data;
    while (send.part < parts.length && send.inPart >= (parts[send.part] as Uint8Array).byteLength) {
      send.part++;
      send.inPart = 0;
    }
  }

  private chunk(send: OutgoingSnapshot, offset: number, data: Uint8Array, last: boolean): SnapshotChunk {
    return {
      type: "snapChunk",
      from: this.options.selfId,
      to: send.to,
      term: send.term,
      clusterId: this.options.clusterId,
      meta: send.snapshot.meta,
      offset,
      data,
      last,
      checksum: send.snapshot.checksum,
    };
  }
}
