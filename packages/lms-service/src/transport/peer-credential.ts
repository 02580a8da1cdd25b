import { createHmac, timingSafeEqual } from "node:crypto";
import type { PeerHello } from "./peer-codec.js";

/** Domain separation: a hello MAC can never be mistaken for any other HMAC made with the secret. */
const helloMacLabel = "lectern-raft-hello";

/** A hello before it is signed. */
export type UnsignedHello = Omit<PeerHello, "credential">;

/**
 * HMAC-SHA256(clusterSecret, canonical hello), the `credential` of a hello. The canonical form is
 * the label "lectern-raft-hello" then every other hello field in field-number order, each as a
 * 4-byte big-endian length and its bytes (numbers as decimal text), so no two different hellos
 * share an encoding.
 *
 * @example
 * ```ts
 * const credential = helloCredential(secret, { protocolVersion: 1, clusterId: "c", senderId: "n1",
 *   receiverId: "n2", timestampMs: Date.now(), nonce, echoNonce: new Uint8Array() });
 * ```
 */
export function helloCredential(clusterSecret: string | Uint8Array, hello: UnsignedHello): Uint8Array {
  const mac = createHmac("sha256", clusterSecret);
  for (const part of [
    helloMacLabel,
    String(hello.protocolVersion),
    hello.clusterId,
    hello.senderId,
    hello.receiverId,
    String(hello.timestampMs),
    hello.nonce,
    hello.echoNonce,
  ]) {
    const bytes = typeof part === "string" ? Buffer.from(part, "utf8") : part;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.byteLength);
    mac.update(length);
    mac.update(bytes);
  }
  return new Uint8Array(mac.digest());
}

/** Signs a hello with the cluster secret. */
export function signHello(clusterSecret: string | Uint8Array, hello: UnsignedHello): PeerHello {
  return { ...hello, credential: helloCredential(clusterSecret, hello) };
}

/** True when the hello's credential is the MAC of its fields under `clusterSecret`; constant time. */
export function helloCredentialValid(clusterSecret: string | Uint8Array, hello: PeerHello): boolean {
  const expected = helloCredential(clusterSecret, hello);
  // timingSafeEqual throws on a length difference; the codec already pins the length, but check anyway.
  return hello.credential.byteLength === expected.byteLength && timingSafeEqual(hello.credential, expected);
}
