import { timingSafeEqual } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { NodeId } from "@lectern/raft-core";
import { ProtocolVersion } from "../gen/raft.js";
import type { NonceCache } from "./nonce-cache.js";
import type { PeerHello } from "./peer-codec.js";
import { helloCredentialValid } from "./peer-credential.js";

/** The protocol version this node speaks (raft.proto `ProtocolVersion`). */
export const peerProtocolVersion = ProtocolVersion.PROTOCOL_VERSION_1;

/** Why a hello was refused; `code` is the gRPC status the stream ends with. */
export interface HelloRefusal {
  readonly reason: HelloRefusalReason;
  readonly code: status;
  /** Says what to fix; sent to the peer as the status details. */
  readonly message: string;
}

export type HelloRefusalReason =
  /** The first frame did not decode, or was a Raft message instead of a hello. */
  | "bad-first-frame"
  /** Too many inbound handshakes in progress; the stream was refused before its hello. */
  | "busy"
  | "protocol-version"
  | "credential"
  | "cluster-id"
  | "receiver"
  | "sender"
  | "echo"
  | "stale"
  | "replay"
  | "not-member";

/** What a node checks a peer's hello against. */
export interface HelloExpectations {
  readonly selfId: NodeId;
  readonly clusterId: string;
  readonly clusterSecret: string | Uint8Array;
  readonly nowMs: number;
  readonly maxClockSkewMs: number;
  /** Accepting side: admission by current or pending configuration. */
  readonly isMember?: (id: NodeId) => boolean;
  /** Accepting side: refuses a nonce seen before within the skew window. */
  readonly nonces?: NonceCache;
  /** Dialing side: the peer it dialed must answer. */
  readonly expectedSender?: NodeId;
  /** Dialing side: the answer must echo the dialer's nonce. */
  readonly expectedEcho?: Uint8Array;
}

/**
 * Checks a peer's hello. The credential is checked right after the version, so a caller without
 * the secret learns nothing about the cluster's id or membership. Returns undefined when the hello
 * is accepted (and then remembers its nonce).
 */
export function checkHello(hello: PeerHello, expect: HelloExpectations): HelloRefusal | undefined {
  if (hello.protocolVersion !== peerProtocolVersion) {
    return refuse(
      "protocol-version",
      status.FAILED_PRECONDITION,
      `peer protocol version ${hello.protocolVersion} is not ${peerProtocolVersion}: run the same Lectern release on every node`,
    );
  }
  if (!helloCredentialValid(expect.clusterSecret, hello)) {
    return refuse("credential", status.UNAUTHENTICATED, "hello credential does not verify: check CLUSTER_SECRET");
  }
  if (hello.clusterId !== expect.clusterId) {
    return refuse(
      "cluster-id",
      status.FAILED_PRECONDITION,
      `cluster id "${hello.clusterId}" is not this node's "${expect.clusterId}": the peer belongs to another cluster`,
    );
  }
  if (hello.receiverId !== expect.selfId) {
    return refuse(
      "receiver",
      status.FAILED_PRECONDITION,
      `this is node "${expect.selfId}", not "${hello.receiverId}": check the address configured for it`,
    );
  }
  if (expect.expectedSender !== undefined && hello.senderId !== expect.expectedSender) {
    return refuse(
      "sender",
      status.FAILED_PRECONDITION,
      `node "${hello.senderId}" answered at the address of "${expect.expectedSender}"`,
    );
  }
  if (expect.expectedEcho !== undefined && !sameBytes(hello.echoNonce, expect.expectedEcho)) {
    return refuse("echo", status.UNAUTHENTICATED, "hello answer does not echo this stream's nonce (a replay?)");
  }
  if (Math.abs(hello.timestampMs - expect.nowMs) > expect.maxClockSkewMs) {
    return refuse(
      "stale",
      status.UNAUTHENTICATED,
      `hello timestamp is ${Math.round((expect.nowMs - hello.timestampMs) / 1000)} s off this node's clock (limit ${expect.maxClockSkewMs / 1000} s): sync the clocks`,
    );
  }
  if (expect.isMember !== undefined && !expect.isMember(hello.senderId)) {
    return refuse(
      "not-member",
      status.PERMISSION_DENIED,
      `node "${hello.senderId}" is not in this node's current or pending configuration`,
    );
  }
  if (expect.nonces !== undefined && !expect.nonces.remember(hello.nonce, expect.nowMs)) {
    return refuse("replay", status.UNAUTHENTICATED, "hello nonce was already used (a replayed hello)");
  }
  return undefined;
}

function refuse(reason: HelloRefusalReason, code: status, message: string): HelloRefusal {
  return { reason, code, message };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}
