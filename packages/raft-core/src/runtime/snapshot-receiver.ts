import type { NodeId, SnapshotChunk, SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "../storage/crc32c.js";

/** A snapshot whose chunks all arrived in order and whose checksum matched. */
export interface ReceivedSnapshot {
  readonly from: NodeId;
  /** The term of the leader that sent it: the core steps it in with this term. */
  readonly term: number;
  readonly meta: SnapshotMeta;
  readonly data: readonly Uint8Array[];
}

/** What one chunk did to the assembly. */
export type ChunkOutcome =
  | { readonly kind: "complete"; readonly snapshot: ReceivedSnapshot }
  | { readonly kind: "accepted" }
  | { readonly kind: "dropped"; readonly reason: string };

/** The snapshot being assembled: its identity, the chunks so far and their running checksum. */
interface Assembly {
  readonly from: NodeId;
  readonly term: number;
  readonly meta: SnapshotMeta;
  readonly checksum: number;
  readonly chunks: Uint8Array[];
  bytes: number;
  crc: number;
}

/**
 * Assembles the snapshot chunks a follower receives (the runtime's half of InstallSnapshot,
 * thesis §5.3). One assembly at a time, identified by (sender, term, snapshot index and term,
 * checksum). Chunks must arrive in order: offset 0 starts (or restarts) an assembly; a chunk at
 * exactly the bytes received so far extends it; a duplicate (an offset already received) or a
 * chunk of another snapshot is ignored; a gap discards the assembly, as the rest can never verify.
 * Once the last chunk arrived, the CRC-32C of the whole data must equal the chunks' checksum,
 * otherwise the snapshot is discarded. The leader resends after a failed attempt.
 *
 * @example
 * const receiver = new SnapshotReceiver();
 * const outcome = receiver.accept(chunk); // "complete" carries the verified snapshot
 */
export class SnapshotReceiver {
  private assembly: Assembly | undefined;
  /** Chunks ignored or that discarded an assembly. */
  chunksDropped = 0;
  /** Snapshots fully received whose checksum did not match. */
  corruptSnapshots = 0;

  /** Bytes held by the assembly in progress. */
  get bufferedBytes(): number {
    return this.assembly?.bytes ?? 0;
  }

  /** Feeds one well-formed chunk addressed to this node (see `validateSnapshotChunk`). */
  accept(chunk: SnapshotChunk): ChunkOutcome {
    if (chunk.offset === 0) {
      this.assembly = {
        from: chunk.from,
        term: chunk.term,
        meta: chunk.meta,
        checksum: chunk.checksum,
        chunks: [],
        bytes: 0,
        crc: 0,
      };
    }
    const assembly = this.assembly;
    if (assembly === undefined || !sameSnapshot(assembly, chunk)) {
      return this.dropped("the chunk belongs to no snapshot being assembled");
    }
    if (chunk.offset < assembly.bytes) return this.dropped(`duplicate chunk at offset ${chunk.offset}`);
    if (chunk.offset > assembly.bytes) {
      this.assembly = undefined;
      return this.dropped(`gap: chunk at offset ${chunk.offset} after ${assembly.bytes} bytes; assembly discarded`);
    }
    if (chunk.data.byteLength > 0) {
      assembly.chunks.push(chunk.data);
      assembly.bytes += chunk.data.byteLength;
      assembly.crc = crc32cUpdate(assembly.crc, chunk.data);
    }
    if (!chunk.last) return { kind: "accepted" };
    this.assembly = undefined;
    if (assembly.crc !== assembly.checksum) {
      this.corruptSnapshots++;
      return this.dropped(
        `checksum mismatch: the data has CRC-32C ${assembly.crc}, the chunks say ${assembly.checksum}; snapshot discarded`,
      );
    }
    return {
      kind: "complete",
      snapshot: { from: assembly.from, term: assembly.term, meta: assembly.meta, data: assembly.chunks },
    };
  }

  /** Forgets the assembly in progress (the node stops, or a newer term began). */
  reset(): void {
    this.assembly = undefined;
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
