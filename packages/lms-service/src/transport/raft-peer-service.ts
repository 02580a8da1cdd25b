import type { Server, ServiceDefinition } from "@grpc/grpc-js";
import { RaftPeerService } from "../gen/raft.js";
import type { InboundCall } from "./peer-stream.js";

/** The generated method path, so the raw service below serves exactly what raft.proto declares. */
export const connectPath = RaftPeerService.connect.path;

/** Handles one inbound `RaftPeer.Connect` call. */
export type RaftPeerStreamHandler = (call: InboundCall) => void;

/**
 * `RaftPeer` with frames left as bytes: grpc-js would otherwise decode with the generated
 * deserializer and fail the whole call on one bad frame, where the transport wants to drop that
 * frame, count it and keep the stream.
 */
const rawRaftPeerService: ServiceDefinition = {
  connect: {
    path: connectPath,
    requestStream: true,
    responseStream: true,
    requestSerialize: (frame: Uint8Array) => Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength),
    requestDeserialize: (frame: Buffer) => frame,
    responseSerialize: (frame: Uint8Array) => Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength),
    responseDeserialize: (frame: Buffer) => frame,
    originalName: "connect",
  },
};

/** Registers the raw RaftPeer service with `handler` on `server`. */
export function addRawRaftPeerService(server: Server, handler: RaftPeerStreamHandler): void {
  server.addService(rawRaftPeerService, { connect: handler });
}
