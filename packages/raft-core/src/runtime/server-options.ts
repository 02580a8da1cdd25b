import { type CoreConfig, resolveCoreConfig } from "../core/config.js";
import { supportsSnapshots } from "../storage/snapshot.js";
import type { Storage } from "../storage/storage.js";
import type { Clock } from "./clock.js";
import type { Logger } from "./logger.js";
import type { StateMachine } from "./state-machine.js";
import type { Transport } from "./transport.js";

/** One logical tick every 10 ms: with the core's defaults, heartbeats every 50 ms and elections after 300-600 ms. */
export const DEFAULT_TICK_MS = 10;
export const DEFAULT_MAX_PENDING_PROPOSALS = 10_000;
export const DEFAULT_MAX_PENDING_READS = 10_000;
/** How long `propose` and `read` wait when the call gives no `timeoutMs`. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/**
 * A snapshot is taken after this many applied entries, when the storage and the state machine
 * both support snapshots (otherwise automatic snapshots are off unless asked for, which fails).
 */
export const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 10_000;
/** ... or after this many bytes of applied entry data, whichever comes first (same condition). */
export const DEFAULT_SNAPSHOT_EVERY_BYTES = 64 * 1024 * 1024;
/** Entries kept in the log behind a snapshot, so a follower slightly behind still gets appends. */
export const DEFAULT_SNAPSHOT_TRAILING_ENTRIES = 1_000;
/** Largest data payload of one snapshot chunk message. */
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/**
 * Everything a `RaftServer` needs. The core's settings (`id`, `clusterId`, `voters`, `random`,
 * `electionTicks`, ...) are passed through to it; the rest is the runtime's.
 */
export interface RaftServerOptions<Result = unknown> extends CoreConfig {
  readonly clock: Clock;
  readonly storage: Storage;
  readonly transport: Transport;
  readonly stateMachine: StateMachine<Result>;
  /** Defaults to a logger that discards everything. */
  readonly logger?: Logger;
  /** Milliseconds per logical tick of the core. */
  readonly tickMs?: number;
  /** Proposals waiting for an outcome (queued or in the core) before `propose` fails with OVERLOADED. */
  readonly maxPendingProposals?: number;
  /** Reads waiting for an outcome before `read` fails with OVERLOADED. */
  readonly maxPendingReads?: number;
  /** Timeout of a `propose` or `read` that gives none; `Infinity` waits forever. */
  readonly defaultTimeoutMs?: number;
  /**
   * How long a `propose` or `read` that reaches this node while it knows no leader (an election
   * is running) waits for one before it fails with NOT_LEADER (a proposal) or READ_FAILED (a
   * read); the call's own timeout still applies. Within the same time, a call refused by the
   * leader it was forwarded to because that node just stepped down (a proposal it never appended,
   * a read whose leadership it could not confirm) is offered to the core again, at most 3 times.
   * 0 (the default) refuses such calls at once. A few election timeouts is a good value for a
   * server whose callers would only retry: they then reach the new leader as soon as it is known,
   * without a backoff round of their own.
   */
  readonly leaderWaitMs?: number;
  /**
   * Take a snapshot (and compact the log) each time the state machine has applied this many
   * entries past the last snapshot; 0 (the default) turns automatic snapshots off. Needs a storage
   * with the snapshot methods and a state machine with `snapshot` and `restore`.
   */
  readonly snapshotEveryEntries?: number;
  /**
   * Also take a snapshot once this many bytes of entry data were applied past the last one
   * (whichever of the two limits comes first); 0 turns the byte limit off. Defaults like
   * `snapshotEveryEntries`.
   */
  readonly snapshotEveryBytes?: number;
  /**
   * Entries kept in the log behind a snapshot for followers slightly behind: the log is compacted
   * up to the snapshot index minus this (never below the previous compaction point).
   */
  readonly snapshotTrailingEntries?: number;
  /** Largest data payload of one snapshot chunk sent to a follower. */
  readonly snapshotChunkBytes?: number;
}

/** Options of one `propose` or `read` call. */
export interface CallOptions {
  /** Aborting fails the call: "not applied" before it reached the core, OUTCOME_UNKNOWN after. */
  readonly signal?: AbortSignal;
  /** Milliseconds to wait for the outcome; `Infinity` waits forever. Defaults to `defaultTimeoutMs`. */
  readonly timeoutMs?: number;
}

/** The runtime's settings with defaults filled in, plus the core's part. */
export interface ResolvedServerOptions {
  readonly core: CoreConfig;
  readonly maxEntryBytes: number;
  readonly tickMs: number;
  readonly maxPendingProposals: number;
  readonly maxPendingReads: number;
  readonly defaultTimeoutMs: number;
  readonly leaderWaitMs: number;
  readonly snapshotEveryEntries: number;
  readonly snapshotEveryBytes: number;
  readonly snapshotTrailingEntries: number;
  readonly snapshotChunkBytes: number;
}

/**
 * Fills defaults and rejects settings that cannot work, naming the setting. The core's settings
 * are checked here too, so a bad option fails in the constructor rather than in `start()`.
 */
export function resolveServerOptions<Result>(options: RaftServerOptions<Result>): ResolvedServerOptions {
  const core: CoreConfig = {
    id: options.id,
    clusterId: options.clusterId,
    voters: options.voters,
    learners: options.learners,
    random: options.random,
    electionTicks: options.electionTicks,
    heartbeatTicks: options.heartbeatTicks,
    preVote: options.preVote,
    checkQuorum: options.checkQuorum,
    maxInflightMessages: options.maxInflightMessages,
    maxMessageBytes: options.maxMessageBytes,
    maxEntryBytes: options.maxEntryBytes,
    maxUncommittedBytes: options.maxUncommittedBytes,
    forwardProposals: options.forwardProposals,
    readMode: options.readMode,
    leaseDriftTicks: options.leaseDriftTicks,
    maxTransferHeldProposals: options.maxTransferHeldProposals,
  };
  const resolvedCore = resolveCoreConfig(core);
  for (const seam of ["clock", "random", "storage", "transport", "stateMachine"] as const) {
    if (options[seam] === undefined || options[seam] === null)
      throw new Error(`RaftServer: options.${seam} is required`);
  }
  const autoSnapshots = missingSnapshotSupport(options).length === 0;
  const resolved: ResolvedServerOptions = {
    core,
    maxEntryBytes: resolvedCore.maxEntryBytes,
    tickMs: options.tickMs ?? DEFAULT_TICK_MS,
    maxPendingProposals: options.maxPendingProposals ?? DEFAULT_MAX_PENDING_PROPOSALS,
    maxPendingReads: options.maxPendingReads ?? DEFAULT_MAX_PENDING_READS,
    defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    leaderWaitMs: options.leaderWaitMs ?? 0,
    snapshotEveryEntries: options.snapshotEveryEntries ?? (autoSnapshots ? DEFAULT_SNAPSHOT_EVERY_ENTRIES : 0),
    snapshotEveryBytes: options.snapshotEveryBytes ?? (autoSnapshots ? DEFAULT_SNAPSHOT_EVERY_BYTES : 0),
    snapshotTrailingEntries: options.snapshotTrailingEntries ?? DEFAULT_SNAPSHOT_TRAILING_ENTRIES,
    snapshotChunkBytes: options.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES,
  };
  positiveInteger("tickMs", resolved.tickMs);
  nonNegativeInteger("leaderWaitMs", resolved.leaderWaitMs);
  nonNegativeInteger("snapshotEveryEntries", resolved.snapshotEveryEntries);
  nonNegativeInteger("snapshotEveryBytes", resolved.snapshotEveryBytes);
  nonNegativeInteger("snapshotTrailingEntries", resolved.snapshotTrailingEntries);
  positiveInteger("snapshotChunkBytes", resolved.snapshotChunkBytes);
  if (resolved.snapshotEveryEntries > 0 || resolved.snapshotEveryBytes > 0) requireSnapshotSupport(options, resolved);
  positiveInteger("maxPendingProposals", resolved.maxPendingProposals);
  positiveInteger("maxPendingReads", resolved.maxPendingReads);
  const timeout = resolved.defaultTimeoutMs;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout <= 0) {
    throw new Error(
      `RaftServer: options.defaultTimeoutMs must be a positive number or Infinity, got ${String(timeout)}`,
    );
  }
  return resolved;
}

/** Automatic snapshots need both seams to implement snapshots; says exactly what is missing. */
function requireSnapshotSupport<Result>(options: RaftServerOptions<Result>, resolved: ResolvedServerOptions): void {
  const missing = missingSnapshotSupport(options);
  if (missing.length > 0) {
    throw new Error(
      `RaftServer: automatic snapshots are on (snapshotEveryEntries ${resolved.snapshotEveryEntries}, snapshotEveryBytes ${resolved.snapshotEveryBytes}), but ${missing.join(" and ")}; ` +
        "use a storage and state machine with snapshot support, or set both to 0",
    );
  }
}

/** What keeps the seams from taking snapshots; empty when both support them. */
function missingSnapshotSupport<Result>(options: RaftServerOptions<Result>): string[] {
  const missing: string[] = [];
  if (options.storage !== undefined && options.storage !== null && !supportsSnapshots(options.storage)) {
    missing.push("the storage does not implement saveSnapshot, stageSnapshot, installSnapshot and openSnapshot");
  }
  const stateMachine = options.stateMachine;
  if (
    stateMachine !== undefined &&
    stateMachine !== null &&
    (typeof stateMachine.snapshot !== "function" || typeof stateMachine.restore !== "function")
  ) {
    missing.push("the state machine does not implement snapshot and restore");
  }
  return missing;
}

function nonNegativeInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`RaftServer: options.${name} must be a non-negative integer, got ${String(value)}`);
  }
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`RaftServer: options.${name} must be a positive integer, got ${String(value)}`);
  }
}
