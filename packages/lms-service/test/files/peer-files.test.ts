import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { credentials, Server, ServerCredentials, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MissingFileFetcher } from "../../src/files/missing-file-fetcher.js";
import { PeerFileClient } from "../../src/files/peer-file-client.js";
import { signFetchHello } from "../../src/files/peer-file-credential.js";
import { addPeerFilesService, peerFileChunkBytes } from "../../src/files/peer-file-service.js";
import { type FetchFileChunk, type Hello, PeerFilesClient } from "../../src/gen/raft.js";
import { FileStore } from "../../src/store/file-store.js";
import { peerProtocolVersion } from "../../src/transport/hello-check.js";
import { signHello } from "../../src/transport/peer-credential.js";
import { Cleanup } from "../domain/harness.js";
import { MemoryLogger } from "../node/cluster-harness.js";

/**
 * PeerFiles.FetchFile over real gRPC on 127.0.0.1: members holding CLUSTER_SECRET get the file in
 * chunks; anyone else is refused with the status raft.proto documents and is sent no byte.
 */

const cleanup = new Cleanup();
const clusterSecret = randomBytes(32).toString("base64url");
const clusterId = "lectern-test-cluster";
/** Larger than several chunks, so the stream and its order matter. */
const content = randomBytes(3 * peerFileChunkBytes + 1234);
const sha = createHash("sha256").update(content).digest("hex");
const absentSha = "0".repeat(64);

let server: Server;
let address = "";
let serverLogger: MemoryLogger;

beforeAll(async () => {
  const files = await FileStore.open(await cleanup.tempDir());
  await files.store(
    sha,
    content.byteLength,
    (async function* () {
      yield content;
    })(),
  );
  serverLogger = new MemoryLogger("n1");
  server = new Server();
  addPeerFilesService(server, {
    nodeId: "n1",
    clusterId,
    clusterSecret,
    files,
    isMember: (id) => id === "n1" || id === "n2" || id === "n3",
    logger: serverLogger,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(async () => {
  server?.forceShutdown();
  await cleanup.run();
});

/** Sends one raw FetchFile request; the bytes received, or the status it ended with. */
async function rawFetch(hello: Hello | undefined, sha256: string): Promise<{ bytes: number; error?: ServiceError }> {
  const client = new PeerFilesClient(address, credentials.createInsecure());
  let bytes = 0;
  try {
    for await (const chunk of client.fetchFile({ hello, sha256 }) as AsyncIterable<FetchFileChunk>) {
      bytes += chunk.data.byteLength;
    }
    return { bytes };
  } catch (error) {
    return { bytes, error: error as ServiceError };
  } finally {
    client.close();
  }
}

const member = { selfId: "n2", clusterId, clusterSecret };

describe("PeerFiles.FetchFile", () => {
  test("a member gets the whole file in order, and the fetcher stores it after checking the hash", async () => {
    const client = new PeerFileClient(member);
    try {
      const chunks: Uint8Array[] = [];
      for await (const chunk of client.fetch({ id: "n1", address }, sha)) chunks.push(chunk);
      expect(chunks.length).toBeGreaterThan(1);
      expect(Math.max(...chunks.map((chunk) => chunk.byteLength))).toBeLessThanOrEqual(peerFileChunkBytes);
      expect(Buffer.concat(chunks).equals(content)).toBe(true);

      const local = await FileStore.open(await cleanup.tempDir());
      const fetcher = new MissingFileFetcher({
        files: local,
        listMissing: async () => ((await local.has(sha)) ? [] : [sha]),
        // The first peer is down: the fetcher fails over to n1.
        peers: () => [
          { id: "n3", address: "127.0.0.1:1" },
          { id: "n1", address },
        ],
        fetch: (peer, sha256) => client.fetch(peer, sha256),
      });
      expect(await fetcher.fetchMissing()).toEqual({ fetched: [sha], failed: [] });
      expect((await readFile(local.pathOf(sha))).equals(content)).toBe(true);
    } finally {
      client.close();
    }
  });

  test("a caller without the cluster secret gets UNAUTHENTICATED and no byte", async () => {
    const noHello = await rawFetch(undefined, sha);
    expect(noHello.error?.code).toBe(status.UNAUTHENTICATED);
    expect(noHello.bytes).toBe(0);
    const wrongSecret = await rawFetch(
      signFetchHello({ ...member, clusterSecret: "not the cluster secret" }, "n1", sha, Date.now()),
      sha,
    );
    expect(wrongSecret.error?.code).toBe(status.UNAUTHENTICATED);
    expect(wrongSecret.error?.details).toContain("CLUSTER_SECRET");
    expect(wrongSecret.bytes).toBe(0);
    const forged = signFetchHello(member, "n1", sha, Date.now());
    forged.credential = new Uint8Array(32);
    expect((await rawFetch(forged, sha)).error?.code).toBe(status.UNAUTHENTICATED);
    const stale = await rawFetch(signFetchHello(member, "n1", sha, Date.now() - 10 * 60_000), sha);
    expect(stale.error?.code).toBe(status.UNAUTHENTICATED);
    expect(serverLogger.lines.some((line) => line.includes("refused a file fetch"))).toBe(true);
  });

  test("a replayed request, a Raft stream hello, a hello for another file or node, a non-member: refused", async () => {
    const hello = signFetchHello(member, "n1", sha, Date.now());
    expect((await rawFetch(hello, sha)).bytes).toBe(content.byteLength);
    const replay = await rawFetch(hello, sha);
    expect(replay.error?.code).toBe(status.UNAUTHENTICATED);
    expect(replay.bytes).toBe(0);
    // A hello as RaftPeer.Connect's dialer sends it (receiver "n1", no echo): not for this service.
    const raftHello = signHello(clusterSecret, {
      protocolVersion: peerProtocolVersion,
      clusterId,
      senderId: "n2",
      receiverId: "n1",
      timestampMs: Date.now(),
      nonce: new Uint8Array(randomBytes(16)),
      echoNonce: new Uint8Array(),
    });
    expect((await rawFetch({ ...raftHello }, sha)).error?.code).toBe(status.FAILED_PRECONDITION);
    // Signed for another file: the credential binds the hash.
    const otherFile = await rawFetch(signFetchHello(member, "n1", absentSha, Date.now()), sha);
    expect(otherFile.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(otherFile.bytes).toBe(0);
    expect((await rawFetch(signFetchHello(member, "n3", sha, Date.now()), sha)).error?.code).toBe(
      status.FAILED_PRECONDITION,
    );
    const stranger = await rawFetch(signFetchHello({ ...member, selfId: "n9" }, "n1", sha, Date.now()), sha);
    expect(stranger.error?.code).toBe(status.PERMISSION_DENIED);
    const otherCluster = await rawFetch(signFetchHello({ ...member, clusterId: "other" }, "n1", sha, Date.now()), sha);
    expect(otherCluster.error?.code).toBe(status.FAILED_PRECONDITION);
  });

  test("a file the answering node lacks too is NOT_FOUND", async () => {
    const absent = await rawFetch(signFetchHello(member, "n1", absentSha, Date.now()), absentSha);
    expect(absent.error?.code).toBe(status.NOT_FOUND);
    expect(absent.error?.details).toContain("does not hold");
  });
});
