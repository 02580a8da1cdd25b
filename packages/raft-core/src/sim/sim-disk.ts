import type { Entry, HardState } from "../core/types.js";
import { storageWriteProblem } from "../storage/memory-storage.js";
import { decodeEntry, decodeHardState, encodeEntry, encodeHardState, entryKey } from "../storage/record-codec.js";
import { snapshotDataProblem, snapshotMetaProblem } from "../storage/snapshot.js";
import { type SnapshotPosition, snapshotInstallProblem, snapshotSaveProblem } from "../storage/snapshot-rules.js";
import { EMPTY_HARD_STATE, type PersistedState, type StorageWrite } from "../storage/storage.js";
import { StorageCorruptionError, StorageInvalidWriteError } from "../storage/storage-errors.js";
import type { Prng } from "./prng.js";
import { SnapshotFile, type SnapshotFileHeader } from "./sim-snapshot-file.js";
import { batchFrame, entryFrames, parseWalTail } from "./sim-wal-frame.js";

/** One atomic durable operation of a simulated disk. */
export type DiskOperation =
  | { readonly kind: "write"; readonly write: StorageWrite }
  | { readonly kind: "saveSnapshot"; readonly file: SnapshotFile; readonly compactTo: number }
  | { readonly kind: "installSnapshot"; readonly file: SnapshotFile };

/** Which stored record a bit flip damaged. */
export type FlippedRecord = "hard-state" | "entry" | "snapshot-meta" | "snapshot-block";

/** Where a bit flip landed. */
export interface BitFlip {
  readonly record: FlippedRecord;
  /** The entry's index, or the snapshot's index for its meta record and blocks; undefined for the hard state. */
  readonly index: number | undefined;
  /** The block number, for a snapshot block. */
  readonly block?: number;
  readonly byte: number;
  readonly bit: number;
}

/** What `recover` did with the tail a crash left. */
export interface TailRecovery {
  /** Entries of whole frames of a torn append, kept (they continue the log). */
  readonly keptEntries: number;
  /** Bytes of a torn last frame or torn snapshot temp file, discarded. */
  readonly discardedBytes: number;
}

/**
 * The bytes of one simulated disk: the hard-state record and one record per log entry, in the
 * format of record-codec.ts (each with its CRC-32C over key, index, term and bytes), the snapshot
 * file (sim-snapshot-file.ts), and what a crash left half-written: the torn end of the
 * write-ahead log, or a torn snapshot temp file. Beside the bytes it keeps what it believes it
 * wrote (hard state, entries), to check new writes against; `verifiedState` reads the bytes back
 * and checks every checksum, as a node's start-up does.
 */
export class SimDisk implements SnapshotPosition {
  private hardStateValue: HardState = EMPTY_HARD_STATE;
  private hardStateRecord: Uint8Array | undefined;
  /** entries[i] and records[i] hold index entriesFrom + i. */
  private entries: Entry[] = [];
  private records: Uint8Array[] = [];
  private entriesFrom = 1;
  private snapshotFile: SnapshotFile | undefined;
  /** Frames of a write a crash cut short: the unsynced end of the write-ahead log. */
  private logTail: Uint8Array | undefined;
  /** Bytes of a snapshot temp file a crash cut short (it was never renamed into place). */
  private tornSnapshotBytes: number | undefined;

  constructor(readonly storePath: string) {}

  get hardState(): HardState {
    return this.hardStateValue;
  }

  get snapshotIndex(): number {
    return this.snapshotFile?.meta.index ?? 0;
  }

  get firstIndex(): number {
    return Math.max(this.entriesFrom, this.snapshotIndex + 1);
  }

  get lastIndex(): number {
    return Math.max(this.entriesFrom + this.entries.length - 1, this.snapshotIndex);
  }

  termAt(index: number): number | undefined {
    const term = this.entries[index - this.entriesFrom]?.term;
    if (term !== undefined) return term;
    return index === this.snapshotFile?.meta.index ? this.snapshotFile.meta.term : undefined;
  }

  /** The stored snapshot file, if any. */
  get snapshot(): SnapshotFile | undefined {
    return this.snapshotFile;
  }

  /** True while a crash's half-written tail waits for `recover`. */
  hasTornTail(): boolean {
    return this.logTail !== undefined || this.tornSnapshotBytes !== undefined;
  }

  /** Why `operation` cannot be applied now, or undefined. */
  problem(operation: DiskOperation): string | undefined {
    switch (operation.kind) {
      case "write":
        return storageWriteProblem(operation.write, this);
      case "saveSnapshot":
        return snapshotSaveProblem(operation.file.meta, operation.compactTo, this);
      case "installSnapshot":
        return snapshotInstallProblem(operation.file.meta, this);
    }
  }

  /**
   * Applies one operation atomically (after recovering a torn tail, as a reopened disk would).
   * @throws StorageInvalidWriteError naming the problem; nothing changes then.
   */
  apply(operation: DiskOperation): void {
    this.recover();
    const problem = this.problem(operation);
    if (problem !== undefined) throw new StorageInvalidWriteError(this.storePath, problem);
    switch (operation.kind) {
      case "write":
        this.applyWrite(operation.write);
        return;
      case "saveSnapshot":
        this.snapshotFile = operation.file;
        if (operation.compactTo >= this.entriesFrom) {
          const drop = Math.min(operation.compactTo + 1 - this.entriesFrom, this.entries.length);
          this.entries.splice(0, drop);
          this.records.splice(0, drop);
          this.entriesFrom = operation.compactTo + 1;
        }
        return;
      case "installSnapshot":
        this.snapshotFile = operation.file;
        this.entries = [];
        this.records = [];
        this.entriesFrom = operation.file.meta.index + 1;
        return;
    }
  }

  /**
   * A crash caught `operation` half-written: part of its bytes reached the disk. A write that
   * only appends entries (no hard state, no truncation) is written one entry frame at a time, so
   * whole frames before the cut survive; any other write is one batch frame and is cut inside
   * it; a snapshot save or install leaves a partial temp file. An invalid operation, which would
   * have been refused, leaves nothing. Returns whether something was torn.
   */
  tear(operation: DiskOperation, random: Prng): boolean {
    this.recover();
    if (this.problem(operation) !== undefined) return false;
    if (operation.kind !== "write") {
      this.tornSnapshotBytes = random.nextRange(1, operation.file.fileBytes() - 1);
      return true;
    }
    const { write } = operation;
    const first = write.entries[0];
    if (write.hardState === undefined && first === undefined) return false;
    const pureAppend = write.hardState === undefined && first !== undefined && first.index === this.lastIndex + 1;
    const bytes = pureAppend ? entryFrames(write.entries) : batchFrame(write);
    this.logTail = bytes.slice(0, random.nextRange(1, bytes.byteLength - 1));
    return true;
  }

  /**
   * Replays what a crash left half-written, as a disk does when it is opened: whole frames of a
   * torn append are applied (they continue the log), the torn last frame and a torn snapshot
   * temp file are discarded. Returns undefined when there was nothing to recover.
   * @throws StorageCorruptionError when a whole frame is damaged (never from a torn write).
   */
  recover(): TailRecovery | undefined {
    if (!this.hasTornTail()) return undefined;
    const tail = this.logTail === undefined ? { writes: [], tornBytes: 0 } : parseWalTail(this.logTail, this.storePath);
    let keptEntries = 0;
    for (const write of tail.writes) {
      const problem = storageWriteProblem(write, this);
      if (problem !== undefined) {
        throw new StorageCorruptionError(
          this.storePath,
          "entry",
          write.entries[0]?.index,
          `a logged write does not fit the log: ${problem}`,
        );
      }
      this.applyWrite(write);
      keptEntries += write.entries.length;
    }
    const discardedBytes = tail.tornBytes + (this.tornSnapshotBytes ?? 0);
    this.logTail = undefined;
    this.tornSnapshotBytes = undefined;
    return { keptEntries, discardedBytes };
  }

  /**
   * Reads every record back and checks it, as a node's start-up does: the hard-state record, every
   * stored entry record (its checksum covers its key, index, term and bytes), and the whole
   * snapshot file. Returns the snapshot's meta (as read from its file) and the entries after it,
   * decoded from their records (copies).
   * @throws StorageCorruptionError at the first damaged record.
   */
  verifiedState(): PersistedState {
    let hardState: HardState = EMPTY_HARD_STATE;
    if (this.hardStateRecord !== undefined) {
      const decoded = decodeHardState(this.hardStateRecord);
      if (!decoded.ok) throw new StorageCorruptionError(this.storePath, "hard-state", undefined, decoded.problem);
      hardState = decoded.value;
    }
    const header: SnapshotFileHeader | undefined = this.snapshotFile?.verify(this.storePath);
    const after = header?.meta.index ?? 0;
    const entries: Entry[] = [];
    for (let i = 0; i < this.records.length; i++) {
      const index = this.entriesFrom + i;
      const decoded = decodeEntry(index, entryKey(index), this.records[i] as Uint8Array);
      if (!decoded.ok) throw new StorageCorruptionError(this.storePath, "entry", index, decoded.problem);
      if (index > after) entries.push({ ...decoded.value, data: decoded.value.data.slice() });
    }
    return header === undefined ? { hardState, entries } : { hardState, snapshot: header.meta, entries };
  }

  /** What the disk believes it holds, without reading the bytes back (for checkers and tests). */
  believedState(): PersistedState {
    const hardState = { ...this.hardStateValue };
    const meta = this.snapshotFile?.meta;
    const skip = meta === undefined ? 0 : Math.max(0, meta.index + 1 - this.entriesFrom);
    const entries = this.entries.slice(skip);
    return meta === undefined ? { hardState, entries } : { hardState, snapshot: meta, entries };
  }

  /**
   * Flips one bit, drawn from `random`, in one stored (synced) record: the hard-state record, an
   * entry record, or the snapshot file's meta record or a block. The torn tail is not a target: it
   * was never synced. `only` limits the flip to one kind of record. Returns where the flip landed,
   * or undefined when no such record is stored.
   */
  flipBit(random: Prng, only?: FlippedRecord): BitFlip | undefined {
    const targets: { record: FlippedRecord; index: number | undefined; block?: number; bytes: Uint8Array }[] = [];
    if (this.hardStateRecord !== undefined)
      targets.push({ record: "hard-state", index: undefined, bytes: this.hardStateRecord });
    for (let i = 0; i < this.records.length; i++) {
      targets.push({ record: "entry", index: this.entriesFrom + i, bytes: this.records[i] as Uint8Array });
    }
    const file = this.snapshotFile;
    if (file !== undefined) {
      targets.push({ record: "snapshot-meta", index: file.meta.index, bytes: file.metaRecord });
      file.blocks.forEach((bytes, block) => {
        targets.push({ record: "snapshot-block", index: file.meta.index, block, bytes });
      });
    }
    const candidates = only === undefined ? targets : targets.filter((target) => target.record === only);
    if (candidates.length === 0) return undefined;
    const target = random.pick(candidates);
    const bitOffset = random.nextInt(target.bytes.byteLength * 8);
    const byte = bitOffset >>> 3;
    const bit = bitOffset & 7;
    target.bytes[byte] = (target.bytes[byte] as number) ^ (1 << bit);
    const flip = { record: target.record, index: target.index, byte, bit };
    return target.block === undefined ? flip : { ...flip, block: target.block };
  }

  /**
   * Sets the initial content (validated like a write on an empty disk; `snapshotData` is the
   * data of `initial.snapshot`, required with it).
   * @throws Error naming the problem.
   */
  initialize(initial: PersistedState, snapshotData: readonly Uint8Array[] | undefined, blockBytes: number): void {
    const fail = (problem: string): never => {
      throw new Error(`invalid initial storage state: ${problem}`);
    };
    const meta = initial.snapshot;
    if (meta !== undefined) {
      const metaProblem = snapshotMetaProblem(meta);
      if (metaProblem !== undefined) fail(metaProblem);
      if (snapshotData === undefined) fail("a snapshot needs its data (initialSnapshotData)");
      const dataProblem = snapshotDataProblem(snapshotData as readonly Uint8Array[]);
      if (dataProblem !== undefined) fail(dataProblem);
      const first = initial.entries[0];
      if (first !== undefined && first.index !== meta.index + 1) {
        fail(`entries must follow the snapshot at ${meta.index}, but start at ${first.index}`);
      }
      this.snapshotFile = SnapshotFile.write(meta, snapshotData as readonly Uint8Array[], blockBytes);
    } else if (snapshotData !== undefined) fail("snapshot data was given without a snapshot");
    this.entriesFrom = initial.entries[0]?.index ?? (meta?.index ?? 0) + 1;
    const problem = storageWriteProblem(initial, this);
    if (problem !== undefined) fail(problem);
    this.applyWrite(initial);
  }

  private applyWrite(write: StorageWrite): void {
    const entries = write.entries;
    const first = entries[0];
    if (first !== undefined) {
      if (this.entries.length === 0) this.entriesFrom = first.index;
      else {
        this.entries.length = first.index - this.entriesFrom;
        this.records.length = first.index - this.entriesFrom;
      }
      for (const entry of entries) {
        this.entries.push(entry);
        this.records.push(encodeEntry(entryKey(entry.index), entry));
      }
    }
    if (write.hardState !== undefined) {
      this.hardStateValue = { ...write.hardState };
      this.hardStateRecord = encodeHardState(write.hardState);
    }
  }
}
