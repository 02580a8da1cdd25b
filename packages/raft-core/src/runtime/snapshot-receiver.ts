import type { NodeId, SnapshotChunk, SnapshotChunkResponse, SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "../storage/crc32c.js";
import type { SnapshotStaging } from "../storage/storage.js";

/**
 * Bytes of received chunks waiting for the storage to write them before further chunks are
 * refused (and asked for again later): the sender paces itself by time, not by the disk, so this
 * bounds the receiver's memory whatever the snapshot's size.
 */
export const MAX_SNAPSHOT_RECEIVE_BUFFER_BYTES = 16 * 1024 * 1024;

/** A snapshot whose chunks all arrived in order, were staged and whose checksum matched. */
export interface ReceivedSnapshot {
  readonly from: NodeId;
  /** The term of the leader that sent it: the core steps it in with this term. */
  readonly term: number;
  readonly meta: SnapshotMeta;
  /** The staged data; the server installs or discards it. */
  readonly staging: SnapshotStaging;
}

/** What one chunk did. "staging" means the last chunk arrived and the data is being written. */
export type ChunkOutcome =
  | { readonly kind: "accepted" }
  | { readonly kind: "staging" }
  | { readonly kind: "dropped"; readonly reason: string };

export interface SnapshotReceiverOptions {
  readonly selfId: NodeId;
  readonly clusterId: string;
  /** Starts a staging in storage (`Storage.stageSnapshot`). */
  readonly stage: (meta: SnapshotMeta) => Promise<SnapshotStaging>;
  /** Sends a resume request to the leader. */
  readonly send: (message: SnapshotChunkResponse) => void;
  /**
   * Every byte of assembly `id` is staged and verified; the server posts this to its inbox and
   * calls `take(id)` from there (the determinism contract: state changes happen in the loop).
   */
  readonly onStaged: (id: number) => void;
  /** The storage failed while staging: fatal, like any storage error (rule 11). */
  readonly onFailure: (error: unknown) => void;
  readonly maxBufferedBytes: number;
}

/** The snapshot being assembled: its identity, how far it got and its running checksum. */
interface Assembly {
  readonly id: number;
  readonly from: NodeId;
  readonly term: number;
  readonly meta: SnapshotMeta;
  readonly checksum: number;
  /** Bytes accepted in order (written or waiting to be). */
  accepted: number;
  crc: number;
  /** Bytes accepted but not yet written by the storage. */
  buffered: number;
  /** The appends, chained in order; resolves with the staging once everything queued is written. */
  tail: Promise<SnapshotStaging>;
  /** The last chunk was accepted and the checksum matched. */
  complete: boolean;
  /** `accepted` when the last resume request was sent, so a burst of gap chunks asks only once. */
  respondedAt: number;
  /** The storage's staging, once `stageSnapshot` resolved. */
  staging: SnapshotStaging | undefined;
}

/**
 * Assembles the snapshot chunks a follower receives (the runtime's half of InstallSnapshot,
 * thesis §5.3) into a storage staging — a temp file on disk — so memory stays bounded whatever
 * the snapshot's size. One assembly at a time, identified by (sender, term, snapshot index and
 * term, checksum).
 *
 * Resumable: offset 0 of a new snapshot starts an assembly; a chunk at exactly the bytes accepted
 * so far extends it; after a lost chunk (a gap) or when the leader starts the same snapshot over,
 * the receiver keeps what it has and answers `snapChunkResp` with the byte count it holds, and the
 * leader continues from there. Once the last chunk arrived, the CRC-32C of the whole data must
 * equal the chunks' checksum, otherwise the assembly is discarded.
 */
export class SnapshotReceiver {
  private assembly: Assembly | undefined;
  private nextId = 1;
  /** Chunks ignored: duplicates, gaps, other snapshots' chunks, a full buffer. */
  chunksDropped = 0;
  /** Snapshots fully received whose checksum did not match. */
  corruptSnapshots = 0;

  constructor(private readonly options: SnapshotReceiverOptions) {}

  /** Bytes accepted but not yet written to the staging. */
  get bufferedBytes(): number {
    return this.assembly?.buffered ?? 0;
  }

  /** Feeds one well-formed chunk addressed to this node (see `validateSnapshotChunk`). */
  accept(chunk: SnapshotChunk): ChunkOutcome {
    let assembly = this.assembly;
    if (chunk.offset === 0 && (assembly === undefined || !sameSnapshot(assembly, chunk))) {
      this.discard();
      assembly = this.begin(chunk);
    }
    if (assembly === undefined || !sameSnapshot(assembly, chunk)) {
      return this.dropped("the chunk belongs to no snapshot being assembled");
    }
    if (chunk.offset !== assembly.accepted || assembly.complete) {
      // A resent start of a snapshot partly held, or a gap after a lost chunk: ask the leader to
      // continue from what is held (once per position, not once per chunk of a burst).
      if (chunk.offset === 0 || (chunk.offset > assembly.accepted && assembly.respondedAt !== assembly.accepted)) {
        this.requestResume(assembly);
      }
      return this.dropped(
        chunk.offset < assembly.accepted
          ? `duplicate chunk at offset ${chunk.offset}`
          : `gap: chunk at offset ${chunk.offset} after ${assembly.accepted} bytes`,
      );
    }
    const size = chunk.data.byteLength;
    if (size > 0 && assembly.buffered + size > this.options.maxBufferedBytes) {
      return this.dropped(`receive buffer full (${assembly.buffered} bytes waiting for the disk)`);
    }
    if (size > 0) this.append(assembly, chunk.data);
    if (!chunk.last) return { kind: "accepted" };
    if (assembly.crc !== assembly.checksum) {
      this.corruptSnapshots++;
      this.discard();
      return this.dropped(
        `checksum mismatch: the data has CRC-32C ${assembly.crc}, the chunks say ${assembly.checksum}; snapshot discarded`,
      );
    }
    assembly.complete = true;
    const current = assembly;
    current.tail.then(
      () => {
        if (this.assembly === current) this.options.onStaged(current.id);
      },
      () => undefined, // reported by append's own handler
    );
    return { kind: "staging" };
  }

  /**
   * Hands over the complete assembly `id` (the caller installs or discards its staging), or
   * undefined when it was replaced or discarded since it was reported.
   */
  take(id: number): ReceivedSnapshot | undefined {
    const assembly = this.assembly;
    if (assembly === undefined || assembly.id !== id || !assembly.complete) return undefined;
    // `onStaged` fired after every append was written, so the staging is known.
    const staging = assembly.staging;
    if (staging === undefined) return undefined;
    this.assembly = undefined;
    return { from: assembly.from, term: assembly.term, meta: assembly.meta, staging };
  }

  /** Forgets the assembly in progress and deletes its staging (the node stops, or a newer snapshot began). */
  reset(): void {
    this.discard();
  }

  private begin(chunk: SnapshotChunk): Assembly {
    const assembly: Assembly = {
      id: this.nextId++,
      from: chunk.from,
      term: chunk.term,
      meta: chunk.meta,
      checksum: chunk.checksum,
      accepted: 0,
      crc: 0,
      buffered: 0,
      tail: callAsync(() => this.options.stage(chunk.meta)),
      complete: false,
      respondedAt: -1,
      staging: undefined,
    };
    assembly.tail = assembly.tail.then((staging) => {
      assembly.staging = staging;
      return staging;
    });
    assembly.tail.catch((error: unknown) => this.failed(assembly, error));
    this.assembly = assembly;
    return assembly;
  }

  private append(assembly: Assembly, data: Uint8Array): void {
    const size = data.byteLength;
    assembly.accepted += size;
    assembly.crc = crc32cUpdate(assembly.crc, data);
    assembly.buffered += size;
    assembly.tail = assembly.tail.then(async (staging) => {
      await staging.append(data);
      assembly.buffered -= size;
      return staging;
    });
    assembly.tail.catch((error: unknown) => this.failed(assembly, error));
  }

  private failed(assembly: Assembly, error: unknown): void {
    // Only the current assembly's failure matters; a replaced one is being discarded anyway.
    if (this.assembly !== assembly) return;
    this.assembly = undefined;
    this.options.onFailure(error);
  }

  private discard(): void {
    const assembly = this.assembly;
    if (assembly === undefined) return;
    this.assembly = undefined;
    // Best effort: a temp file left behind by a failed delete is swept when the storage reopens.
    assembly.tail.then(
      (staging) => staging.discard().catch(() => undefined),
      () => undefined,
    );
  }

  private requestResume(assembly: Assembly): void {
    assembly.respondedAt = assembly.accepted;
    this.options.send({
      type: "snapChunkResp",
      from: this.options.selfId,
      to: assembly.from,
      term: assembly.term,
      clusterId: this.options.clusterId,
      meta: assembly.meta,
      checksum: assembly.checksum,
      offset: assembly.accepted,
    });
  }

  private dropped(reason: string): ChunkOutcome {
    this.chunksDropped++;
    return { kind: "dropped", reason };
  }
}

function sameSnapshot(assembly: Assembly, chunk: SnapshotChunk): boolean {
  return (
    assembly.from === chunk.from &&
    assembly.term === chunk.term &&
    assembly.meta.index === chunk.meta.index &&
    assembly.meta.term === chunk.meta.term &&
    assembly.checksum === chunk.checksum
  );
}

function callAsync<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error);
  }
}
