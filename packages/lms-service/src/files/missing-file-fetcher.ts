import type { Logger } from "@lectern/raft-core";
import type { FileStore } from "../store/file-store.js";
import { Backoff } from "../transport/backoff.js";
import type { PeerFileSource } from "./peer-file-client.js";

/** First wait before a pass that left files missing runs again; doubles up to {@link fetchRetryMaxBackoffMs}. */
export const fetchRetryInitialBackoffMs = 200;
export const fetchRetryMaxBackoffMs = 30_000;

export interface MissingFileFetcherOptions {
  readonly files: FileStore;
  /** The hashes the LMS store names but the file store lacks (queries.ts `missingFiles`). */
  readonly listMissing: () => Promise<readonly string[]>;
  /** The members to fetch from, without this node; asked afresh for every file. */
  readonly peers: () => readonly PeerFileSource[];
  /**
   * The file's bytes from `peer` (PeerFileClient.fetch); unverified, the file store checks them.
   * `signal` aborts when the fetcher stops, which should end the transfer.
   */
  readonly fetch: (peer: PeerFileSource, sha256: string, signal: AbortSignal) => AsyncIterable<Uint8Array>;
  readonly logger?: Logger;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Uniform in [0, 1): backoff jitter. Default Math.random. */
  readonly random?: () => number;
}

/** What one pass over the missing files did. */
export interface FetchPassResult {
  /** Files copied from a peer and stored (hash verified). */
  readonly fetched: readonly string[];
  /** Files no peer could supply this pass. */
  readonly failed: readonly string[];
}

/**
 * Copies the files a node lacks from its peers. Files are not part of a Raft snapshot: a node that
 * installs one holds records naming files whose bytes it never received (and a node that crashed
 * mid-copy still lacks some). A pass lists the missing hashes and fetches each from one peer after
 * another until one supplies it; `FileStore.store` verifies the SHA-256 before the file becomes
 * visible, so a peer that sends wrong bytes stores nothing and the next peer is asked. While files
 * stay missing, passes repeat with jittered exponential backoff until all are copied or the
 * fetcher stops.
 *
 * @example
 * ```ts
 * const fetcher = new MissingFileFetcher({ files, listMissing: () => missingFiles(store, files),
 *   peers: () => otherMembers(), fetch: (peer, sha) => client.fetch(peer, sha), logger });
 * fetcher.request("snapshot restored");
 * ```
 */
export class MissingFileFetcher {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly backoff: Backoff;
  private readonly stopSignal = new AbortController();

  constructor(private readonly options: MissingFileFetcherOptions) {
    this.backoff = new Backoff(
      options.initialBackoffMs ?? fetchRetryInitialBackoffMs,
      options.maxBackoffMs ?? fetchRetryMaxBackoffMs,
      options.random,
    );
  }

  /**
   * Starts copying missing files (after a snapshot restore, at node start). A request while a pass
   * runs makes one more pass follow it, and one during a backoff wait ends the wait.
   */
  request(reason: string): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      this.wake?.();
      return;
    }
    this.options.logger?.debug({ reason }, "checking for files missing on this node");
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once no pass runs or waits to run (every file copied, or stopped). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops: the copy in flight is cut (nothing half-written is kept); later requests do nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort();
    this.wake?.();
    await this.idle();
  }

  /** One pass: every missing file, each from the first peer that supplies it. */
  async fetchMissing(): Promise<FetchPassResult> {
    const missing = await this.options.listMissing();
    const fetched: string[] = [];
    const failed: string[] = [];
    if (missing.length > 0) {
      this.options.logger?.info({ missing: missing.length }, "copying files missing on this node from peers");
    }
    for (const [position, sha256] of missing.entries()) {
      if (this.stopped) break;
      // Starting at a different peer per file spreads the copying over the cluster.
      const from = await this.fetchOne(sha256, position);
      if (from === undefined) {
        failed.push(sha256);
        continue;
      }
      fetched.push(sha256);
      this.options.logger?.info(
        { sha256, peer: from, copied: fetched.length, missing: missing.length },
        "copied a missing file from a peer",
      );
    }
    return { fetched, failed };
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.again = false;
      let fetched = 0;
      let stillMissing = 0;
      try {
        const result = await this.fetchMissing();
        fetched = result.fetched.length;
        stillMissing = result.failed.length;
      } catch (error) {
        // Listing failed (a read error, or the store is closing): try again after a backoff.
        this.options.logger?.warn({ err: describe(error) }, "could not list the files missing on this node");
        stillMissing = 1;
      }
      if (this.stopped) return;
      if (fetched > 0) this.backoff.reset();
      if (stillMissing === 0) {
        if (this.again) continue;
        this.backoff.reset();
        return;
      }
      const waitMs = this.backoff.next();
      this.options.logger?.warn(
        { missing: stillMissing, retryInMs: waitMs },
        "files still missing on this node: no peer could supply them yet; retrying",
      );
      if (!this.again) await this.sleep(waitMs);
      if (this.stopped) return;
    }
  }

  /** Tries the peers in turn; the id of the one that supplied the file, or undefined. */
  private async fetchOne(sha256: string, position: number): Promise<string | undefined> {
    const peers = this.options.peers();
    if (peers.length === 0) {
      this.options.logger?.warn({ sha256 }, "no peer to copy a missing file from");
      return undefined;
    }
    for (let attempt = 0; attempt < peers.length; attempt++) {
      if (this.stopped) return undefined;
      const peer = peers[(position + attempt) % peers.length];
      try {
        await this.options.files.store(sha256, undefined, this.options.fetch(peer, sha256, this.stopSignal.signal));
        return peer.id;
      } catch (error) {
        if (this.stopped) return undefined;
        const code = (error as { code?: unknown }).code;
        const fields = { sha256, peer: peer.id, err: describe(error) };
        if (code === "FILE_HASH_MISMATCH" || code === "FILE_TOO_LARGE") {
          this.options.logger?.error(fields, "a peer sent a file that does not match its hash; refused it");
        } else {
          this.options.logger?.warn(fields, "could not copy a missing file from this peer; trying another");
        }
      }
    }
    return undefined;
  }

  /** Waits `ms`, or less when {@link request} or {@link stop} wakes the fetcher. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
