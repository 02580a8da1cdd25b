import type { ChannelOptions, ServerOptions } from "@grpc/grpc-js";
import {
  clientMaxMessageBytes,
  keepaliveMinPingIntervalMs,
  keepaliveTimeMs,
  keepaliveTimeoutMs,
  peerMaxMessageBytes,
  reconnectInitialBackoffMs,
  reconnectMaxBackoffMs,
  sharedServerMaxMessageBytes,
} from "./limits.js";

/**
 * Options for the one gRPC server a node runs for both the Raft peer service and the client API:
 * explicit message size limits, server keepalive pings, and a ping policy that accepts the
 * clients' keepalive rate (so no implementation answers GOAWAY `too_many_pings`).
 *
 * @example
 * ```ts
 * const server = new grpc.Server(nodeServerOptions());
 * addRaftPeerService(server, transport);
 * ```
 */
export function nodeServerOptions(): ServerOptions {
  return {
    "grpc.max_receive_message_length": sharedServerMaxMessageBytes,
    "grpc.max_send_message_length": sharedServerMaxMessageBytes,
    "grpc.keepalive_time_ms": keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    // Ping policy (honoured by gRPC core servers; grpc-js accepts and ignores it).
    "grpc.http2.min_ping_interval_without_data_ms": keepaliveMinPingIntervalMs,
    "grpc.http2.max_pings_without_data": 0,
  };
}

/**
 * Channel options for a node dialing a peer's Raft service: peer-sized messages, keepalive below
 * the server's ping policy, and channel reconnect backoff bounded like the transport's own, so a
 * restarted peer is reachable again within about a second.
 */
export function peerChannelOptions(): ChannelOptions {
  return {
    "grpc.max_receive_message_length": peerMaxMessageBytes,
    "grpc.max_send_message_length": peerMaxMessageBytes,
    "grpc.keepalive_time_ms": keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.initial_reconnect_backoff_ms": reconnectInitialBackoffMs,
    "grpc.max_reconnect_backoff_ms": reconnectMaxBackoffMs,
    // Peer streams are long-lived and replayed by Raft itself; gRPC retries would only duplicate.
    "grpc.enable_retries": 0,
  };
}

/**
 * Channel options for a client of the LMS API (the web front): client-sized messages, the same
 * keepalive policy as peers, no gRPC-level retries, and the same bounded reconnect backoff — grpc-js's default grows to
 * 120 s, so a client that can reach only a restarted node would otherwise wait up to two minutes.
 */
export function clientChannelOptions(): ChannelOptions {
  return {
    "grpc.max_receive_message_length": clientMaxMessageBytes,
    "grpc.max_send_message_length": clientMaxMessageBytes,
    "grpc.keepalive_time_ms": keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.initial_reconnect_backoff_ms": reconnectInitialBackoffMs,
    "grpc.max_reconnect_backoff_ms": reconnectMaxBackoffMs,
    // LmsClient retries itself (another node, the same idempotency key). grpc-js's own retry
    // layer would only buffer every call's messages for a replay that never comes.
    "grpc.enable_retries": 0,
  };
}
