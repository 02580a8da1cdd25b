/**
 * Typed errors of the durable storage. Match on `code`, not `instanceof`: ESM and CJS copies of
 * this package have distinct classes. None of them is retryable: a node whose storage failed
 * stops, and a failed sync is never retried (safety rule 11).
 */
export type StorageErrorCode =
  /** A stored record failed verification; the node must not start on this data. */
  | "STORAGE_CORRUPTION"
  /** The data folder belongs to another cluster or node (rule 10). */
  | "STORAGE_IDENTITY_MISMATCH"
  /** The data folder was written by a newer, unknown on-disk format. */
  | "STORAGE_FORMAT"
  /** Opening, reading, writing or syncing failed (ENOSPC, EIO, a held lock, ...). */
  | "STORAGE_IO"
  /** A write broke the log's invariants (a caller bug); nothing was written. */
  | "STORAGE_INVALID_WRITE"
  /** The storage was closed, or refuses writes after an earlier failure. */
  | "STORAGE_CLOSED";

/** What the remedy for corrupt data is, in every corruption message. */
export const CORRUPTION_REMEDY = "restore this node from a snapshot or remove and re-add it to the cluster";

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  /** Always false: storage errors stop the node. */
  readonly retryable = false;
  /** The data folder concerned. */
  readonly storePath: string;
  constructor(code: StorageErrorCode, storePath: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
    this.code = code;
    this.storePath = storePath;
  }
}

/** Which kind of stored record failed verification ("snapshot": the snapshot record or its data file). */
export type CorruptRecord = "entry" | "hard-state" | "metadata" | "snapshot";

/**
 * A record on disk is damaged or the log breaks an invariant (a gap, decreasing terms, a commit
 * past the last entry). Nothing from this store was returned or applied.
 */
export class StorageCorruptionError extends StorageError {
  readonly record: CorruptRecord;
  /** Log index of the damaged entry, or the snapshot's index; undefined for the hard state and the metadata. */
  readonly index: number | undefined;
  /** What the operator should do. */
  readonly remedy = CORRUPTION_REMEDY;
  constructor(storePath: string, record: CorruptRecord, index: number | undefined, detail: string) {
    const where = record === "entry" ? `log entry ${index}` : `the ${record} record`;
    super(
      "STORAGE_CORRUPTION",
      storePath,
      `storage corruption in ${storePath} at ${where}: ${detail}. The node will not start on this data; ${CORRUPTION_REMEDY}`,
    );
    this.name = "StorageCorruptionError";
    this.record = record;
    this.index = index;
  }
}

/** Who a data folder belongs to. */
export interface StoreIdentity {
  readonly clusterId: string;
  readonly nodeId: string;
}

/** The data folder was created for another cluster or another node. */
export class StorageIdentityError extends StorageError {
  readonly expected: StoreIdentity;
  readonly found: StoreIdentity;
  constructor(storePath: string, expected: StoreIdentity, found: StoreIdentity) {
    super(
      "STORAGE_IDENTITY_MISMATCH",
      storePath,
      `${storePath} belongs to node "${found.nodeId}" of cluster "${found.clusterId}", but node "${expected.nodeId}" of cluster "${expected.clusterId}" tried to open it; point each node at its own data folder`,
    );
    this.name = "StorageIdentityError";
    this.expected = expected;
    this.found = found;
  }
}

/** The data folder uses an on-disk format this version cannot read. */
export class StorageFormatError extends StorageError {
  readonly foundVersion: number;
  readonly supportedVersion: number;
  constructor(storePath: string, foundVersion: number, supportedVersion: number) {
    super(
      "STORAGE_FORMAT",
      storePath,
      `${storePath} uses on-disk format ${foundVersion}, but this version reads format ${supportedVersion} only; upgrade the library`,
    );
    this.name = "StorageFormatError";
    this.foundVersion = foundVersion;
    this.supportedVersion = supportedVersion;
  }
}

/** What the storage was doing when the I/O error happened. */
export type StorageOperation = "open" | "read" | "write" | "close";

/** The system error code of `cause` (ENOSPC, EIO, LEVEL_DATABASE_NOT_OPEN, ...), if any. */
function causeCode(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** An I/O operation failed. After a failed write the storage refuses every further write. */
export class StorageIoError extends StorageError {
  readonly operation: StorageOperation;
  /** The underlying error's code (e.g. ENOSPC, EIO), when it has one. */
  readonly causeCode: string | undefined;
  constructor(storePath: string, operation: StorageOperation, cause: unknown) {
    const code = causeCode(cause);
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "STORAGE_IO",
      storePath,
      `storage ${operation} failed in ${storePath}${code === undefined ? "" : ` (${code})`}: ${reason}`,
      { cause },
    );
    this.name = "StorageIoError";
    this.operation = operation;
    this.causeCode = code;
  }
}

/** A write that breaks the log's invariants; it changed nothing. */
export class StorageInvalidWriteError extends StorageError {
  constructor(storePath: string, problem: string) {
    super("STORAGE_INVALID_WRITE", storePath, `invalid storage write: ${problem}`);
    this.name = "StorageInvalidWriteError";
  }
}

/** The storage is closed, or stopped accepting writes after a failed one (rule 11). */
export class StorageClosedError extends StorageError {
  constructor(storePath: string, reason: string, options?: { cause?: unknown }) {
    super("STORAGE_CLOSED", storePath, `storage ${storePath} refuses the request: ${reason}`, options);
    this.name = "StorageClosedError";
  }
}
