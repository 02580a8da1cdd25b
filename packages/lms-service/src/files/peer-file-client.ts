import { type ChannelCredentials, credentials } from "@grpc/grpc-js";
import type { NodeId } from "@lectern/raft-core";
import { type FetchFileChunk, PeerFilesClient } from "../gen/raft.js";
import { peerChannelOptions } from "../transport/grpc-options.js";
import { type FetchSigner, signFetchHello } from "./peer-file-credential.js";

/** A whole fetch of one file from one peer must finish within this (25 MiB is seconds on a LAN). */
export const peerFetchDeadlineMs = 120_000;

/** A member to fetch files from. */
export interface PeerFileSource {
  readonly id: NodeId;
  /** The peer's gRPC address (`host:port`). */
  readonly address: string;
}

export interface PeerFileClientOptions extends FetchSigner {
  /** Default insecure, as the peer transport's. */
  readonly channelCredentials?: ChannelCredentials;
  /** Default Date.now (the hello's timestamp). */
  readonly wallClockMs?: () => number;
  /** Default {@link peerFetchDeadlineMs}. */
  readonly fetchDeadlineMs?: number;
}

/**
 * Fetches files from peers over PeerFiles.FetchFile, one gRPC channel per peer address, each
 * request signed with the cluster secret (peer-file-credential.ts). The bytes it yields are
 * unverified: the caller stores them with `FileStore.store`, which checks the hash.
 *
 * @example
 * ```ts
 * const client = new PeerFileClient({ selfId: "n2", clusterId, clusterSecret });
 * await files.store(sha256, undefined, client.fetch({ id: "n1", address: "10.0.0.1:7000" }, sha256));
 * ```
 */
export class PeerFileClient {
  private readonly clients = new Map<string, PeerFilesClient>();
  private readonly wallClockMs: () => number;

  constructor(private readonly options: PeerFileClientOptions) {
    this.wallClockMs = options.wallClockMs ?? Date.now;
  }

  /**
   * The file's bytes as `peer` sends them; ends with the peer's gRPC error if it refuses or fails,
   * and with CANCELLED once `signal` aborts (a stopping node).
   */
  async *fetch(peer: PeerFileSource, sha256: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    signal?.throwIfAborted();
    const hello = signFetchHello(this.options, peer.id, sha256, this.wallClockMs());
    const deadline = Date.now() + (this.options.fetchDeadlineMs ?? peerFetchDeadlineMs);
    const call = this.clientFor(peer.address).fetchFile({ hello, sha256 }, { deadline });
    const cancel = () => call.cancel();
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      for await (const chunk of call as AsyncIterable<FetchFileChunk>) yield chunk.data;
    } finally {
      signal?.removeEventListener("abort", cancel);
      // A consumer that stops early (a hash or size refusal) ends the call instead of leaving it open.
      call.cancel();
    }
  }

  /** Closes every channel. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private clientFor(address: string): PeerFilesClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new PeerFilesClient(
        address,
        this.options.channelCredentials ?? credentials.createInsecure(),
        peerChannelOptions(),
      );
      this.clients.set(address, client);
    }
    return client;
  }
}
