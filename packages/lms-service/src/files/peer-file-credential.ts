import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { NodeId } from "@lectern/raft-core";
import { sha256Pattern } from "../domain/identifiers.js";
import type { Hello } from "../gen/raft.js";
import {
  checkHello,
  type HelloExpectations,
  type HelloRefusal,
  peerProtocolVersion,
} from "../transport/hello-check.js";
import { helloNonceBytes } from "../transport/limits.js";
import type { PeerHello } from "../transport/peer-codec.js";
import { signHello } from "../transport/peer-credential.js";

/**
 * The Raft peer hello (raft.proto `Hello`, HMAC-SHA256 with the cluster secret) reused to prove
 * membership on PeerFiles.FetchFile, kept apart from RaftPeer.Connect in two ways:
 * - the receiver id is the answering node's id behind {@link peerFilesReceiverPrefix}: the Raft
 *   acceptor refuses such a hello (wrong receiver) and this service refuses a Raft hello, so a
 *   hello captured on one service cannot be replayed to the other, whose nonce cache is separate;
 * - `echoNonce` (empty in a Raft dialer's hello) holds the requested file's 32 hash bytes, so the
 *   credential also covers which file is asked for.
 */

/** Prefix of the receiver id in a PeerFiles hello: "peer-files:" + the answering node's id. */
export const peerFilesReceiverPrefix = "peer-files:";

/** The receiver id a PeerFiles hello names for node `nodeId`. */
export function peerFilesReceiverId(nodeId: NodeId): string {
  return `${peerFilesReceiverPrefix}${nodeId}`;
}

/** What a node signs a fetch request with. */
export interface FetchSigner {
  readonly selfId: NodeId;
  readonly clusterId: string;
  readonly clusterSecret: string | Uint8Array;
}

/**
 * A signed hello asking `peerId` for the file `sha256` (a lower-case hex SHA-256).
 *
 * @example
 * ```ts
 * const hello = signFetchHello({ selfId: "n2", clusterId, clusterSecret }, "n1", sha256, Date.now());
 * ```
 */
export function signFetchHello(signer: FetchSigner, peerId: NodeId, sha256: string, nowMs: number): Hello {
  if (!sha256Pattern.test(sha256)) throw new RangeError(`not a SHA-256: ${JSON.stringify(sha256)}`);
  const signed = signHello(signer.clusterSecret, {
    protocolVersion: peerProtocolVersion,
    clusterId: signer.clusterId,
    senderId: signer.selfId,
    receiverId: peerFilesReceiverId(peerId),
    timestampMs: nowMs,
    nonce: new Uint8Array(randomBytes(helloNonceBytes)),
    echoNonce: hashBytes(sha256),
  });
  return { ...signed };
}

/**
 * Checks the hello of a fetch for `sha256` on node `expect.selfId`: present, well formed, signed
 * with the cluster secret, for this node's PeerFiles service, fresh, unseen, from a member, and
 * bound to this hash. Undefined when accepted (its nonce is then remembered).
 */
export function checkFetchHello(
  hello: Hello | undefined,
  sha256: string,
  expect: HelloExpectations,
): HelloRefusal | undefined {
  if (hello === undefined) {
    return {
      reason: "credential",
      code: status.UNAUTHENTICATED,
      message: "no hello: PeerFiles answers cluster members only, which sign their requests with CLUSTER_SECRET",
    };
  }
  const peerHello: PeerHello = { ...hello };
  if (peerHello.nonce.byteLength !== helloNonceBytes) {
    return {
      reason: "credential",
      code: status.UNAUTHENTICATED,
      message: `the hello nonce must be ${helloNonceBytes} bytes`,
    };
  }
  const refusal = checkHello(peerHello, { ...expect, selfId: peerFilesReceiverId(expect.selfId) });
  if (refusal !== undefined) return refusal;
  if (!sha256Pattern.test(sha256) || !sameBytes(peerHello.echoNonce, hashBytes(sha256))) {
    return {
      reason: "echo",
      code: status.INVALID_ARGUMENT,
      message: "the request's sha256 is not a SHA-256 or is not the hash the hello was signed for",
    };
  }
  return undefined;
}

function hashBytes(sha256: string): Uint8Array {
  return sha256Pattern.test(sha256) ? new Uint8Array(Buffer.from(sha256, "hex")) : new Uint8Array();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}
