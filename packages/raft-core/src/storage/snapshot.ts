import type { SnapshotMeta } from "../core/types.js";
import { crc32cUpdate } from "./crc32c.js";
import type { SnapshotChunks, SnapshotReader, Storage } from "./storage.js";

/** A storage that keeps snapshots (and so supports compaction). */
export type SnapshotStorage = Storage &
  Required<Pick<Storage, "saveSnapshot" | "stageSnapshot" | "installSnapshot" | "openSnapshot">>;

/** True when `storage` implements every snapshot method (a storage implements all four or none). */
export function supportsSnapshots(storage: Storage): storage is SnapshotStorage {
  return (
    typeof storage.saveSnapshot === "function" &&
    typeof storage.stageSnapshot === "function" &&
    typeof storage.installSnapshot === "function" &&
    typeof storage.openSnapshot === "function"
  );
}

/** Default size of the pieces `readerChunks` reads. */
export const SNAPSHOT_READ_CHUNK_BYTES = 1024 * 1024;

/**
 * The whole data of `reader` as a stream of pieces of at most `chunkBytes`, read one at a time
 * (memory stays at one piece whatever the snapshot's size). Rejects if the reader does.
 */
export async function* readerChunks(
  reader: SnapshotReader,
  chunkBytes: number = SNAPSHOT_READ_CHUNK_BYTES,
): AsyncGenerator<Uint8Array> {
  let offset = 0;
  while (offset < reader.bytes) {
    const piece = await reader.read(offset, Math.min(chunkBytes, reader.bytes - offset));
    if (piece.byteLength === 0) {
      throw new Error(`snapshot ${reader.meta.index}/${reader.meta.term} ended at ${offset} of ${reader.bytes} bytes`);
    }
    offset += piece.byteLength;
    yield piece;
  }
}

/**
 * Every chunk of `data` in order, checked to be bytes. For small snapshots and tests: this holds
 * the whole snapshot in memory.
 */
export async function collectSnapshot(data: SnapshotChunks): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError(`snapshot chunk ${chunks.length} is not a Uint8Array`);
    chunks.push(chunk);
  }
  return chunks;
}

/** The whole data of a stored snapshot, in memory (for small snapshots and tests). */
export async function readWholeSnapshot(reader: SnapshotReader): Promise<Uint8Array[]> {
  return collectSnapshot(readerChunks(reader));
}

/**
 * Why `meta` cannot describe a snapshot, or undefined when it can: a real entry (index and term
 * positive safe integers) and a configuration of id lists with at least one voter (rule 9).
 */
export function snapshotMetaProblem(meta: SnapshotMeta): string | undefined {
  if (typeof meta !== "object" || meta === null) return "snapshot meta must be an object";
  if (!isPositiveInteger(meta.index)) return `snapshot index must be a positive integer, got ${String(meta.index)}`;
  if (!isPositiveInteger(meta.term)) return `snapshot term must be a positive integer, got ${String(meta.term)}`;
  const config = meta.config;
  if (typeof config !== "object" || config === null) return "snapshot config must be an object";
  for (const field of ["voters", "outgoing", "learners"] as const) {
    const list: unknown = config[field];
    if (!Array.isArray(list) || !list.every((id) => typeof id === "string" && id !== "")) {
      return `snapshot config.${field} must be a list of non-empty ids`;
    }
  }
  if (config.voters.length === 0) return "snapshot config.voters must not be empty";
  const addresses: unknown = config.addresses;
  if (addresses !== undefined) {
    if (typeof addresses !== "object" || addresses === null) return "snapshot config.addresses must be an object";
    for (const value of Object.values(addresses)) {
      if (typeof value !== "string") return "snapshot config.addresses must map ids to strings";
    }
  }
  return undefined;
}

/** Why `data` is not a list of byte chunks, or undefined when it is. */
export function snapshotDataProblem(data: readonly Uint8Array[]): string | undefined {
  if (!Array.isArray(data)) return "snapshot data must be an array of Uint8Array chunks";
  for (let i = 0; i < data.length; i++) {
    if (!(data[i] instanceof Uint8Array)) return `snapshot data[${i}] must be a Uint8Array`;
  }
  return undefined;
}

/** Total bytes of a snapshot's chunks. */
export function snapshotByteLength(data: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const chunk of data) bytes += chunk.byteLength;
  return bytes;
}

/** CRC-32C of a snapshot's data, as if its chunks were one buffer (chunk boundaries do not matter). */
export function snapshotChecksum(data: readonly Uint8Array[]): number {
  let crc = 0;
  for (const chunk of data) crc = crc32cUpdate(crc, chunk);
  return crc;
}

/** Copies of every chunk, so a stored snapshot never changes when the caller reuses its buffers. */
export function copySnapshotData(data: readonly Uint8Array[]): Uint8Array[] {
  return data.map((chunk) => chunk.slice());
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}
