import type { SnapshotMeta } from "../core/types.js";
import type { SnapshotFileWriter } from "./snapshot-files.js";
import type { SnapshotStaging } from "./storage.js";
import { StorageInvalidWriteError, StorageIoError } from "./storage-errors.js";

/** Where a staging is in its life. */
type StagingState = "open" | "discarded" | "installed" | "failed";

/**
 * A snapshot being received from the leader, streamed into a temp file as its chunks arrive
 * (memory stays at one chunk whatever the snapshot's size). Belongs to the storage that created
 * it (`owner`), which alone may install it.
 */
export class FileSnapshotStaging implements SnapshotStaging {
  private state: StagingState = "open";
  /** The append in progress, if any: appends run one after another, and discard waits for it. */
  private tail: Promise<void> = Promise.resolve();
  private discarding: Promise<void> | undefined;

  constructor(
    readonly meta: SnapshotMeta,
    /** The storage that created this staging. */
    readonly owner: object,
    private readonly writer: SnapshotFileWriter,
    private readonly storePath: string,
    /** Told about a failed write; the storage then refuses further writes (rule 11). */
    private readonly onFailure: (failure: StorageIoError) => void,
  ) {}

  get bytes(): number {
    return this.writer.bytes;
  }

  /** True until the staging is discarded, installed or failed. */
  get isOpen(): boolean {
    return this.state === "open";
  }

  get checksum(): number {
    return this.writer.checksum;
  }

  append(chunk: Uint8Array): Promise<void> {
    const next = this.tail.then(() => this.appendNow(chunk));
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Deletes the temp file (after any append in progress). Idempotent. */
  discard(): Promise<void> {
    if (this.discarding === undefined) {
      const wasOpen = this.state === "open" || this.state === "failed";
      if (this.state === "open") this.state = "discarded";
      this.discarding = wasOpen ? this.tail.then(() => this.writer.abort()) : Promise.resolve();
    }
    return this.discarding;
  }

  /** Why this staging cannot be installed into `storage`, or undefined when it can. */
  installProblem(storage: object): string | undefined {
    if (this.owner !== storage) return "the snapshot staging belongs to another storage";
    if (this.state !== "open") return `the snapshot staging was ${this.state}`;
    return undefined;
  }

  /**
   * Hands the temp file over to `storage`, which installs it, once the append in progress ended;
   * the staging is spent afterwards.
   * @throws StorageInvalidWriteError when `installProblem` names a problem.
   */
  async take(storage: object): Promise<SnapshotFileWriter> {
    await this.tail;
    const problem = this.installProblem(storage);
    if (problem !== undefined) throw new StorageInvalidWriteError(this.storePath, `snapshot install: ${problem}`);
    this.state = "installed";
    return this.writer;
  }

  private async appendNow(chunk: Uint8Array): Promise<void> {
    if (this.state !== "open") {
      throw new StorageInvalidWriteError(this.storePath, `the snapshot staging was ${this.state}`);
    }
    if (!(chunk instanceof Uint8Array)) {
      throw new StorageInvalidWriteError(this.storePath, "a snapshot chunk must be a Uint8Array");
    }
    try {
      await this.writer.append(chunk);
    } catch (error) {
      this.state = "failed";
      const failure = new StorageIoError(this.storePath, "write", error);
      this.onFailure(failure);
      await this.writer.abort();
      throw failure;
    }
  }
}
