export { Backoff } from "./backoff.js";
export { clientChannelOptions, nodeServerOptions, peerChannelOptions } from "./grpc-options.js";
export {
  addRaftPeerService,
  GrpcPeerTransport,
  type GrpcPeerTransportOptions,
  type PeerLinkStatus,
  type PeerTransportCounters,
  type PeerTransportStatus,
} from "./grpc-peer-transport.js";
export { checkHello, type HelloRefusal, type HelloRefusalReason, peerProtocolVersion } from "./hello-check.js";
export * from "./limits.js";
export {
  type DecodedPeerFrame,
  decodePeerFrame,
  encodeHelloFrame,
  encodeMessageFrame,
  type MalformedPeerFrame,
  type MalformedPeerFrameKind,
  type PeerFrameDecodeResult,
  type PeerHello,
  peerMessageTypes,
} from "./peer-codec.js";
export { helloCredential, helloCredentialValid, signHello, type UnsignedHello } from "./peer-credential.js";
