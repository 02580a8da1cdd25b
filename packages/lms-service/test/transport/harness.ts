import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Message, NodeId } from "@lectern/raft-core";
import { nodeServerOptions, peerChannelOptions } from "../../src/transport/grpc-options.js";
import {
  addRaftPeerService,
  GrpcPeerTransport,
  type GrpcPeerTransportOptions,
} from "../../src/transport/grpc-peer-transport.js";
import { peerProtocolVersion } from "../../src/transport/hello-check.js";
import { decodePeerFrame, encodeHelloFrame, type PeerHello } from "../../src/transport/peer-codec.js";
import { signHello, type UnsignedHello } from "../../src/transport/peer-credential.js";
import { addRawRaftPeerService, connectPath } from "../../src/transport/raft-peer-service.js";

export const clusterId = "lectern-test";
export const secret = "test-cluster-secret-0123456789";

/** One node's transport on its own gRPC server, bound to 127.0.0.1, recording what it is told. */
export interface TestNode {
  readonly id: NodeId;
  readonly transport: GrpcPeerTransport;
  readonly port: number;
  readonly received: Message[];
  readonly unreachable: NodeId[];
  stop(): Promise<void>;
}

/** Shared address book, as the configuration in the log would provide it. */
export type AddressBook = Map<NodeId, string>;

export async function startNode(
  id: NodeId,
  addresses: AddressBook,
  options: Partial<GrpcPeerTransportOptions> & { port?: number; members?: readonly NodeId[] } = {},
): Promise<TestNode> {
  const members = options.members;
  const transport = new GrpcPeerTransport({
    id,
    clusterId,
    clusterSecret: secret,
    isMember: (peer) => (members === undefined ? addresses.has(peer) : members.includes(peer)),
    resolveAddress: (peer) => addresses.get(peer),
    ...options,
  });
  const server = new grpc.Server(nodeServerOptions());
  addRaftPeerService(server, transport);
  const port = await bind(server, options.port ?? 0);
  addresses.set(id, `127.0.0.1:${port}`);
  const received: Message[] = [];
  const unreachable: NodeId[] = [];
  transport.start({ onMessage: (m) => received.push(m), onUnreachable: (peer) => unreachable.push(peer) });
  return {
    id,
    transport,
    port,
    received,
    unreachable,
    async stop() {
      await transport.stop();
      server.forceShutdown();
    },
  };
}

export function bind(server: grpc.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
}

/** Polls `check` until it holds, failing with `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A hello from `from` to `to`, signed with `key`; `overrides` change fields before signing. */
export function helloFor(from: NodeId, to: NodeId, overrides: Partial<UnsignedHello> = {}, key = secret): PeerHello {
  return signHello(key, {
    protocolVersion: peerProtocolVersion,
    clusterId,
    senderId: from,
    receiverId: to,
    timestampMs: Date.now(),
    nonce: new Uint8Array(randomBytes(16)),
    echoNonce: new Uint8Array(),
    ...overrides,
  });
}

/** A hand-driven RaftPeer.Connect call, to put on the wire what a GrpcPeerTransport never would. */
export interface RawCall {
  readonly frames: Buffer[];
  readonly status: Promise<grpc.StatusObject>;
  write(frame: Uint8Array): void;
  /** Resolves once the node answered the hello with its own. */
  answered(): Promise<PeerHello>;
  close(): void;
}

export function rawDial(address: string, maxSendBytes?: number): RawCall {
  const options = peerChannelOptions();
  if (maxSendBytes !== undefined) options["grpc.max_send_message_length"] = maxSendBytes;
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), options);
  const call = client.makeBidiStreamRequest<Uint8Array, Buffer>(
    connectPath,
    (f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength),
    (b) => b,
    new grpc.Metadata(),
  );
  const frames: Buffer[] = [];
  call.on("data", (frame: Buffer) => frames.push(frame));
  call.on("error", () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  void status.then(() => client.close());
  return {
    frames,
    status,
    write: (frame) => call.write(frame),
    async answered() {
      await eventually("a hello answer", () => frames.length > 0);
      const decoded = decodePeerFrame(frames[0]);
      if (!decoded.ok || decoded.frame.kind !== "hello") throw new Error("the first answer frame is not a hello");
      return decoded.frame.hello;
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}

/**
 * A gRPC server that poses as `posingAs`: it answers any hello with one built by `answer` and
 * records every frame it receives after the hello.
 */
export async function startImpostor(
  answer: (dialerHello: PeerHello) => PeerHello,
): Promise<{ address: string; framesAfterHello: Buffer[]; stop(): void }> {
  const server = new grpc.Server(nodeServerOptions());
  const framesAfterHello: Buffer[] = [];
  addRawRaftPeerService(server, (call) => {
    let first = true;
    call.on("data", (frame: Buffer) => {
      if (!first) {
        framesAfterHello.push(frame);
        return;
      }
      first = false;
      const decoded = decodePeerFrame(frame);
      if (decoded.ok && decoded.frame.kind === "hello") call.write(encodeHelloFrame(answer(decoded.frame.hello)));
    });
    call.on("error", () => {});
  });
  const port = await bind(server, 0);
  return { address: `127.0.0.1:${port}`, framesAfterHello, stop: () => server.forceShutdown() };
}
