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
/** Automatic snapshots are off unless `snapshotEveryEntries` is set. */
export const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 0;
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
   * Take a snapshot (and compact the log) each time the state machine has applied this many
   * entries past the last snapshot; 0 (the default) turns automatic snapshots off. Needs a storage
   * with the snapshot methods and a state machine with `snapshot` and `restore`.
   */
  readonly snapshotEveryEntries?: number;
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
  readonly snapshotEveryEntries: number;
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
  };
  const resolvedCore = resolveCoreConfig(core);
  for (const seam of ["clock", "random", "storage", "transport", "stateMachine"] as const) {
    if (options[seam] === undefined || options[seam] === null)
      throw new Error(`RaftServer: options.${seam} is required`);
  }
  const resolved: ResolvedServerOptions = {
    core,
    maxEntryBytes: resolvedCore.maxEntryBytes,
    tickMs: options.tickMs ?? DEFAULT_TICK_MS,
    maxPendingProposals: options.maxPendingProposals ?? DEFAULT_MAX_PENDING_PROPOSALS,
    maxPendingReads: options.maxPendingReads ?? DEFAULT_MAX_PENDING_READS,
    defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    snapshotEveryEntries: options.snapshotEveryEntries ?? DEFAULT_SNAPSHOT_EVERY_ENTRIES,
    snapshotTrailingEntries: options.snapshotTrailingEntries ?? DEFAULT_SNAPSHOT_TRAILING_ENTRIES,
    snapshotChunkBytes: options.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES,
  };
  positiveInteger("tickMs", resolved.tickMs);
  nonNegativeInteger("snapshotEveryEntries", resolved.snapshotEveryEntries);
  nonNegativeInteger("snapshotTrailingEntries", resolved.snapshotTrailingEntries);
  positiveInteger("snapshotChunkBytes", resolved.snapshotChunkBytes);
  if (resolved.snapshotEveryEntries > 0) requireSnapshotSupport(options);
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
function requireSnapshotSupport<Result>(options: RaftServerOptions<Result>): void {
  const missing: string[] = [];
  if (!supportsSnapshots(options.storage)) {
    missing.push("the storage does not implement saveSnapshot, installSnapshot and loadSnapshot");
  }
  const stateMachine = options.stateMachine;
  if (typeof stateMachine.snapshot !== "function" || typeof stateMachine.restore !== "function") {
    missing.push("the state machine does not implement snapshot and restore");
  }
  if (missing.length > 0) {
    throw new Error(
      `RaftServer: options.snapshotEveryEntries is ${options.snapshotEveryEntries}, but ${missing.join(" and ")}; ` +
        "use a storage and state machine with snapshot support, or set snapshotEveryEntries to 0",
    );
  }
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
