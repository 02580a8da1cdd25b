import { once } from "node:events";
import { createReadStream } from "node:fs";
import { type Server, type ServerWritableStream, status } from "@grpc/grpc-js";
import type { Logger, NodeId } from "@lectern/raft-core";
import { type FetchFileChunk, type FetchFileRequest, type PeerFilesServer, PeerFilesService } from "../gen/raft.js";
import { type FileStore, FileStoreError } from "../store/file-store.js";
import { helloMaxClockSkewMs, helloNonceCacheMaxEntries } from "../transport/limits.js";
import { NonceCache } from "../transport/nonce-cache.js";
import { checkFetchHello } from "./peer-file-credential.js";

/** Bytes per chunk a node sends of a file a peer fetches (under raft.proto's 1 MiB per chunk). */
export const peerFileChunkBytes = 256 * 1024;

export interface PeerFilesServiceOptions {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly clusterSecret: string | Uint8Array;
  readonly files: FileStore;
  /** Admission as on the Raft peer stream: ids in the current or pending configuration. */
  readonly isMember: (id: NodeId) => boolean;
  readonly logger?: Logger;
  /** Default Date.now (hello freshness is wall-clock time, as on the peer stream). */
  readonly wallClockMs?: () => number;
  /** Default {@link helloMaxClockSkewMs}. */
  readonly maxClockSkewMs?: number;
}

/**
 * PeerFiles (raft.proto): serves this node's stored files to other members that lack them (after
 * installing a snapshot). Only a request whose hello verifies with the cluster secret is answered;
 * anyone else gets UNAUTHENTICATED and learns nothing about the file.
 */
export function peerFilesService(options: PeerFilesServiceOptions): PeerFilesServer {
  const wallClockMs = options.wallClockMs ?? Date.now;
  const maxClockSkewMs = options.maxClockSkewMs ?? helloMaxClockSkewMs;
  // As on the peer stream: a hello is fresh for the skew on either side of "now".
  const nonces = new NonceCache(2 * maxClockSkewMs, helloNonceCacheMaxEntries);
  return {
    fetchFile(call: ServerWritableStream<FetchFileRequest, FetchFileChunk>) {
      const { hello, sha256 } = call.request;
      const refusal = checkFetchHello(hello, sha256, {
        selfId: options.nodeId,
        clusterId: options.clusterId,
        clusterSecret: options.clusterSecret,
        nowMs: wallClockMs(),
        maxClockSkewMs,
        isMember: options.isMember,
        nonces,
      });
      if (refusal !== undefined) {
        options.logger?.warn({ reason: refusal.reason, peer: hello?.senderId }, "refused a file fetch");
        call.emit("error", { code: refusal.code, details: refusal.message });
        return;
      }
      sendFile(options.files, sha256, call).then(
        () => call.end(),
        (error: unknown) => {
          if (call.cancelled) return;
          const missing = (error as { code?: unknown }).code === "FILE_NOT_FOUND";
          if (!missing) options.logger?.error({ sha256, err: String(error) }, "serving a file to a peer failed");
          call.emit(
            "error",
            missing
              ? { code: status.NOT_FOUND, details: `node "${options.nodeId}" does not hold file ${sha256} either` }
              : { code: status.INTERNAL, details: `node "${options.nodeId}" could not read file ${sha256}` },
          );
        },
      );
    },
  };
}

async function sendFile(
  files: FileStore,
  sha256: string,
  call: ServerWritableStream<FetchFileRequest, FetchFileChunk>,
): Promise<void> {
  if (!(await files.has(sha256))) throw new FileStoreError("FILE_NOT_FOUND", `no stored file ${sha256}`);
  const stream = createReadStream(files.pathOf(sha256), { highWaterMark: peerFileChunkBytes });
  try {
    for await (const data of stream as AsyncIterable<Buffer>) {
      if (call.cancelled) return;
      if (!call.write({ data })) await once(call, "drain");
    }
  } finally {
    stream.destroy();
  }
}

/** Adds PeerFiles to a node's gRPC server (next to RaftPeer and the client API). */
export function addPeerFilesService(server: Server, options: PeerFilesServiceOptions): void {
  server.addService(PeerFilesService, peerFilesService(options));
}
