import { randomBytes } from "node:crypto";
import { type ChannelCredentials, Client, credentials, Metadata, type Server, status } from "@grpc/grpc-js";
import type { Logger, Message, NodeId, Transport, TransportHandler } from "@lectern/raft-core";
import { Backoff } from "./backoff.js";
import { peerChannelOptions } from "./grpc-options.js";
import { checkHello, type HelloRefusal, type HelloRefusalReason, peerProtocolVersion } from "./hello-check.js";
import {
  handshakeMaxStreams,
  helloMaxClockSkewMs,
  helloNonceBytes,
  helloNonceCacheMaxEntries,
  helloTimeoutMs,
  peerMaxMessageBytes,
  peerQueueMaxBytes,
  peerQueueMaxFrames,
  reconnectInitialBackoffMs,
  reconnectMaxBackoffMs,
  reconnectStableSessionMs,
} from "./limits.js";
import { NonceCache } from "./nonce-cache.js";
import { OutgoingQueue } from "./outgoing-queue.js";
import { decodePeerFrame, encodeHelloFrame, encodeMessageFrame, type PeerHello } from "./peer-codec.js";
import { signHello } from "./peer-credential.js";
import { type InboundCall, type OutboundCall, PeerStream, type PeerStreamEvents } from "./peer-stream.js";
import { addRawRaftPeerService, connectPath, type RaftPeerStreamHandler } from "./raft-peer-service.js";

/** How a {@link GrpcPeerTransport} is set up. Everything that depends on the cluster's state is a callback. */
export interface GrpcPeerTransportOptions {
  readonly id: NodeId;
  readonly clusterId: string;
  /** CLUSTER_SECRET, shared by every member; proves a peer's hello. */
  readonly clusterSecret: string | Uint8Array;
  /**
   * Admission: true for ids in the current or pending configuration. Asked once per inbound
   * stream, when its hello arrives.
   */
  readonly isMember: (id: NodeId) => boolean;
  /**
   * Where a peer's gRPC server listens (`host:port`), from the configuration in the log (PEERS only
   * bootstraps). Asked at every dial, so a changed address is used at the next reconnect.
   */
  readonly resolveAddress: (id: NodeId) => string | undefined;
  /** Defaults to plaintext; pass TLS credentials to encrypt peer traffic. */
  readonly channelCredentials?: ChannelCredentials;
  readonly logger?: Logger;
  /** Wall clock for hello timestamps, ms since the Unix epoch. Defaults to `Date.now`. */
  readonly wallClockMs?: () => number;
  /** Uniform in [0, 1), for backoff jitter. Defaults to `Math.random`. */
  readonly random?: () => number;
  /** Limits; each defaults to the constant of the same meaning in limits.ts. */
  readonly queueMaxFrames?: number;
  readonly queueMaxBytes?: number;
  readonly helloTimeoutMs?: number;
  readonly maxClockSkewMs?: number;
  readonly reconnectInitialBackoffMs?: number;
  readonly reconnectMaxBackoffMs?: number;
}

/** Counters since start; all monotonic. */
export interface PeerTransportCounters {
  /** Frames written to a peer stream. */
  framesSent: number;
  /** Messages handed to the node. */
  messagesDelivered: number;
  /** `send` dropped the message: the peer's queue was full. */
  droppedQueueFull: number;
  /** `send` dropped the message: it could not be encoded, or its frame is above the size limit. */
  droppedUnencodable: number;
  /** `send` dropped the message: the transport is not running. */
  droppedNotRunning: number;
  /** Queued frames discarded when a peer was disconnected or the transport stopped. */
  droppedOnClose: number;
  /** Received frames that did not decode (or a hello after the first frame); the stream survives. */
  malformedFrames: number;
  /** Received messages whose from / to / cluster id disagree with the authenticated stream. */
  misaddressedFrames: number;
  /** Inbound streams refused at the hello, and dialed streams whose answer was refused. */
  refusedHellos: number;
  /** Outbound dials that did not end in an authenticated stream. */
  failedDials: number;
  /** Authenticated streams, by direction. */
  outboundStreams: number;
  inboundStreams: number;
  /** Streams closed because the pair already had one (simultaneous dials). */
  duplicateStreams: number;
  /** Dials skipped because no address was known for the peer. */
  unresolvedPeers: number;
}

/** One peer as the transport sees it. */
export interface PeerLinkStatus {
  readonly id: NodeId;
  readonly connected: boolean;
  /** Who dialed the stream in use. */
  readonly direction: "outbound" | "inbound" | undefined;
  readonly queuedFrames: number;
  readonly queuedBytes: number;
  /** Frames to this peer dropped because its queue was full. */
  readonly droppedFrames: number;
  /** Wall-clock ms of the last message received from the peer; 0 when never. */
  readonly lastReceivedAtMs: number;
}

export interface PeerTransportStatus {
  readonly counters: Readonly<PeerTransportCounters>;
  /** Streams open right now, in any state (at most one in use per peer, plus handshakes and retired ones draining). */
  readonly openStreams: number;
  readonly refusals: Readonly<Partial<Record<HelloRefusalReason, number>>>;
  readonly peers: readonly PeerLinkStatus[];
}

/** Everything the transport tracks about one peer. */
class PeerLink {
  active: PeerStream | undefined;
  dialing: PeerStream | undefined;
  redialTimer: NodeJS.Timeout | undefined;
  client: Client | undefined;
  clientAddress: string | undefined;
  droppedFrames = 0;
  lastReceivedAtMs = 0;

  constructor(
    readonly id: NodeId,
    readonly queue: OutgoingQueue,
    readonly backoff: Backoff,
  ) {}
}

/**
 * raft-core's `Transport` over gRPC: one long-lived bidirectional `RaftPeer.Connect` stream per
 * pair of nodes, authenticated by an HMAC hello in each direction.
 *
 * - `send` never throws or blocks: it encodes, queues (bounded per peer, dropping and counting when
 *   full) and dials the peer if no stream is up.
 * - Either node dials when it has something to send and no stream; if both dial at once, both keep
 *   the stream dialed by the node whose id sorts first.
 * - Inbound streams are admitted only with a valid hello from an id `isMember` accepts.
 * - A lost stream is reported through `onUnreachable` and redialed with exponential backoff and
 *   jitter while frames are waiting.
 * - A malformed frame on an authenticated stream is dropped and counted and the stream stays up
 *   (Raft treats it as one lost message); a bad FIRST frame closes the stream with INVALID_ARGUMENT.
 *   A frame above the size limit is refused by gRPC itself (RESOURCE_EXHAUSTED) and ends the
 *   stream, which is then redialed.
 *
 * @example
 * ```ts
 * const transport = new GrpcPeerTransport({ id: "n1", clusterId, clusterSecret,
 *   isMember: (id) => config.has(id), resolveAddress: (id) => config.address(id) });
 * const server = new grpc.Server(nodeServerOptions());
 * addRaftPeerService(server, transport);       // shares the server with the client API
 * const raft = new RaftServer({ ..., transport });
 * ```
 */
export class GrpcPeerTransport implements Transport {
  private handler: TransportHandler | undefined;
  private state: "new" | "running" | "stopped" = "new";
  private readonly links = new Map<NodeId, PeerLink>();
  /** Peers whose stream is kept up while idle (see `keepConnected`). */
  private kept = new Set<NodeId>();
  /** Every stream not yet closed: handshaking, in use, or retired and draining. */
  private readonly liveStreams = new Set<PeerStream>();
  /** Streams whose hello exchange has not completed. */
  private readonly handshaking = new Set<PeerStream>();
  /** The nonce each outbound handshake sent, which the answer must echo. */
  private readonly dialNonces = new WeakMap<PeerStream, Uint8Array>();
  private readonly nonces: NonceCache;
  private readonly counters: PeerTransportCounters = {
    framesSent: 0,
    messagesDelivered: 0,
    droppedQueueFull: 0,
    droppedUnencodable: 0,
    droppedNotRunning: 0,
    droppedOnClose: 0,
    malformedFrames: 0,
    misaddressedFrames: 0,
    refusedHellos: 0,
    failedDials: 0,
    outboundStreams: 0,
    inboundStreams: 0,
    duplicateStreams: 0,
    unresolvedPeers: 0,
  };
  private readonly refusals: Partial<Record<HelloRefusalReason, number>> = {};
  private readonly wallClockMs: () => number;
  private readonly random: () => number;
  private readonly logger: Logger | undefined;
  private readonly credentials: ChannelCredentials;
  private readonly queueMaxFrames: number;
  private readonly queueMaxBytes: number;
  private readonly helloTimeoutMs: number;
  private readonly maxClockSkewMs: number;
  private readonly streamEvents: PeerStreamEvents;

  constructor(private readonly options: GrpcPeerTransportOptions) {
    if (options.id === "") throw new Error("GrpcPeerTransport: options.id must be a non-empty node id");
    this.wallClockMs = options.wallClockMs ?? Date.now;
    this.random = options.random ?? Math.random;
    this.logger = options.logger;
    this.credentials = options.channelCredentials ?? credentials.createInsecure();
    this.queueMaxFrames = options.queueMaxFrames ?? peerQueueMaxFrames;
    this.queueMaxBytes = options.queueMaxBytes ?? peerQueueMaxBytes;
    this.helloTimeoutMs = options.helloTimeoutMs ?? helloTimeoutMs;
    this.maxClockSkewMs = options.maxClockSkewMs ?? helloMaxClockSkewMs;
    // Remember nonces for twice the skew: a hello is fresh for skew on either side of "now".
    this.nonces = new NonceCache(2 * this.maxClockSkewMs, helloNonceCacheMaxEntries);
    this.streamEvents = {
      onFrame: (stream, frame) => this.onFrame(stream, frame),
      onDrain: (stream) => this.onDrain(stream),
      onClose: (stream, reason) => this.onStreamClosed(stream, reason),
    };
  }

  /** Begins delivering to `handler` and accepting inbound streams. */
  start(handler: TransportHandler): void {
    if (this.state !== "new") throw new Error(`GrpcPeerTransport.start(): the transport is ${this.state}`);
    this.handler = handler;
    this.state = "running";
  }

  /** Queues `message` for its peer and makes sure a stream is (being) set up. Never throws or blocks. */
  send(message: Message): void {
    if (this.state !== "running") {
      this.counters.droppedNotRunning++;
      return;
    }
    try {
      this.enqueue(message);
    } catch (error) {
      // Only a message no core produces gets here (encoding refused it); Raft treats it as lost.
      this.counters.droppedUnencodable++;
      this.logger?.warn({ err: describe(error) }, "peer message not encodable; dropped");
    }
  }

  /**
   * Keeps a stream to each of `peers` up even while idle (dialed now, redialed with backoff when
   * it drops); peers left out go back to being dialed by their next message. Followers send each
   * other nothing until an election, and a dial then costs a handshake: long enough for two
   * followers to time out together, split the vote and lose another election timeout.
   */
  keepConnected(peers: Iterable<NodeId>): void {
    if (this.state !== "running") return;
    this.kept = new Set(peers);
    this.kept.delete(this.options.id);
    for (const id of this.kept) this.ensureDialing(this.linkFor(id));
  }

  /** Closes every stream and timer. Does not shut down the gRPC server, which the caller owns. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    for (const link of [...this.links.values()]) this.closeLink(link, "node is stopping");
    this.links.clear();
    for (const stream of [...this.liveStreams]) stream.close(status.UNAVAILABLE, "node is stopping");
  }

  /**
   * Drops the streams and the queue of `peer` (e.g. once it left the configuration). A later
   * `send` to it dials again.
   */
  disconnect(peer: NodeId): void {
    const link = this.links.get(peer);
    if (link === undefined) return;
    this.links.delete(peer);
    this.closeLink(link, "disconnected by this node");
  }

  /** True when an authenticated stream to `peer` is up. */
  isConnected(peer: NodeId): boolean {
    return this.links.get(peer)?.active !== undefined;
  }

  /** Counters and every known peer's link state (for cluster status and metrics). */
  status(): PeerTransportStatus {
    return {
      counters: { ...this.counters },
      openStreams: this.liveStreams.size,
      refusals: { ...this.refusals },
      peers: [...this.links.values()].map((link) => ({
        id: link.id,
        connected: link.active !== undefined,
        direction: link.active?.direction,
        queuedFrames: link.queue.length,
        queuedBytes: link.queue.bytes,
        droppedFrames: link.droppedFrames,
        lastReceivedAtMs: link.lastReceivedAtMs,
      })),
    };
  }

  /** Handles one inbound RaftPeer.Connect call (registered on the server by {@link addRaftPeerService}). */
  acceptStream(call: InboundCall): void {
    const stream = this.track(new PeerStream(call, "inbound", undefined, this.streamEvents));
    if (this.state !== "running") {
      stream.close(status.UNAVAILABLE, `node "${this.options.id}" is not running its peer transport`);
      return;
    }
    if (this.inboundHandshakes() >= handshakeMaxStreams) {
      this.refuse(stream, {
        reason: "busy",
        code: status.RESOURCE_EXHAUSTED,
        message: `${handshakeMaxStreams} peer handshakes are already in progress; retry shortly`,
      });
      return;
    }
    this.handshaking.add(stream);
    this.armHelloTimeout(stream);
  }

  private enqueue(message: Message): void {
    const frame = encodeMessageFrame(message);
    if (frame.byteLength > peerMaxMessageBytes || message.to === this.options.id || message.to === "") {
      this.counters.droppedUnencodable++;
      return;
    }
    const link = this.linkFor(message.to);
    if (!link.queue.push(frame)) {
      this.counters.droppedQueueFull++;
      link.droppedFrames++;
      return;
    }
    if (link.active !== undefined) this.flush(link);
    else this.ensureDialing(link);
  }

  private inboundHandshakes(): number {
    let count = 0;
    for (const stream of this.handshaking) if (stream.direction === "inbound") count++;
    return count;
  }

  private track(stream: PeerStream): PeerStream {
    if (!stream.isClosed) this.liveStreams.add(stream);
    return stream;
  }

  private linkFor(peer: NodeId): PeerLink {
    let link = this.links.get(peer);
    if (link === undefined) {
      const queue = new OutgoingQueue(this.queueMaxFrames, this.queueMaxBytes);
      const backoff = new Backoff(
        this.options.reconnectInitialBackoffMs ?? reconnectInitialBackoffMs,
        this.options.reconnectMaxBackoffMs ?? reconnectMaxBackoffMs,
        this.random,
      );
      link = new PeerLink(peer, queue, backoff);
      this.links.set(peer, link);
    }
    return link;
  }

  private ensureDialing(link: PeerLink): void {
    if (link.active !== undefined || link.dialing !== undefined || link.redialTimer !== undefined) return;
    this.dial(link);
  }

  private dial(link: PeerLink): void {
    const address = this.resolve(link.id);
    if (address === undefined) {
      this.counters.unresolvedPeers++;
      this.reportUnreachable(link.id);
      this.scheduleRedial(link);
      return;
    }
    const nonce = new Uint8Array(randomBytes(helloNonceBytes));
    let call: OutboundCall;
    try {
      // Both can throw synchronously: an address gRPC cannot parse, a closed channel.
      const client = this.clientFor(link, address);
      call = client.makeBidiStreamRequest(connectPath, serializeFrame, passThrough, new Metadata());
    } catch (error) {
      this.counters.failedDials++;
      this.logger?.warn({ peer: link.id, address, err: describe(error) }, "could not open a peer stream");
      this.reportUnreachable(link.id);
      this.scheduleRedial(link);
      return;
    }
    const stream = this.track(new PeerStream(call, "outbound", link.id, this.streamEvents));
    link.dialing = stream;
    this.handshaking.add(stream);
    this.dialNonces.set(stream, nonce);
    this.armHelloTimeout(stream);
    stream.write(encodeHelloFrame(this.hello(link.id, nonce, new Uint8Array())));
  }

  private hello(to: NodeId, nonce: Uint8Array, echoNonce: Uint8Array): PeerHello {
    return signHello(this.options.clusterSecret, {
      protocolVersion: peerProtocolVersion,
      clusterId: this.options.clusterId,
      senderId: this.options.id,
      receiverId: to,
      timestampMs: this.wallClockMs(),
      nonce,
      echoNonce,
    });
  }

  private armHelloTimeout(stream: PeerStream): void {
    const timer = setTimeout(() => {
      if (this.handshaking.has(stream)) {
        stream.close(status.DEADLINE_EXCEEDED, `no hello within ${this.helloTimeoutMs} ms`);
      }
    }, this.helloTimeoutMs);
    timer.unref();
  }

  private onFrame(stream: PeerStream, frame: Buffer): void {
    if (this.handshaking.has(stream)) this.onHandshakeFrame(stream, frame);
    else this.onMessageFrame(stream, frame);
  }

  private onHandshakeFrame(stream: PeerStream, frame: Buffer): void {
    this.handshaking.delete(stream);
    const decoded = decodePeerFrame(frame);
    if (!decoded.ok || decoded.frame.kind !== "hello") {
      const detail = decoded.ok ? "a Raft message" : decoded.error.message;
      this.refuse(stream, {
        reason: "bad-first-frame",
        code: status.INVALID_ARGUMENT,
        message: `the first frame must be a hello, got ${detail}`,
      });
      return;
    }
    const hello = decoded.frame.hello;
    if (stream.direction === "inbound") this.onInboundHello(stream, hello);
    else this.onHelloAnswer(stream, hello);
  }

  private onInboundHello(stream: PeerStream, hello: PeerHello): void {
    const refusal = checkHello(hello, {
      selfId: this.options.id,
      clusterId: this.options.clusterId,
      clusterSecret: this.options.clusterSecret,
      nowMs: this.wallClockMs(),
      maxClockSkewMs: this.maxClockSkewMs,
      isMember: (id) => this.admits(id),
      nonces: this.nonces,
    });
    if (refusal !== undefined) {
      this.refuse(stream, refusal);
      return;
    }
    stream.peerId = hello.senderId;
    stream.write(
      encodeHelloFrame(this.hello(hello.senderId, new Uint8Array(randomBytes(helloNonceBytes)), hello.nonce)),
    );
    this.counters.inboundStreams++;
    this.adopt(this.linkFor(hello.senderId), stream);
  }

  private onHelloAnswer(stream: PeerStream, hello: PeerHello): void {
    const peer = stream.peerId as NodeId;
    const refusal = checkHello(hello, {
      selfId: this.options.id,
      clusterId: this.options.clusterId,
      clusterSecret: this.options.clusterSecret,
      nowMs: this.wallClockMs(),
      maxClockSkewMs: this.maxClockSkewMs,
      expectedSender: peer,
      expectedEcho: this.dialNonces.get(stream),
    });
    if (refusal !== undefined) {
      this.refuse(stream, refusal);
      return;
    }
    const link = this.linkFor(peer);
    if (link.dialing === stream) link.dialing = undefined;
    this.counters.outboundStreams++;
    this.adopt(link, stream);
  }

  private refuse(stream: PeerStream, refusal: HelloRefusal): void {
    this.counters.refusedHellos++;
    this.refusals[refusal.reason] = (this.refusals[refusal.reason] ?? 0) + 1;
    this.logger?.warn(
      { peer: stream.peerId, remote: stream.remoteAddress(), direction: stream.direction, reason: refusal.reason },
      `peer stream refused: ${refusal.message}`,
    );
    stream.close(refusal.code, refusal.message);
  }

  /**
   * Makes an authenticated stream the link's stream. When the pair already has one, both nodes keep
   * the same one: the stream dialed by the node whose id sorts first. The other is retired, not cut,
   * so frames already on it still arrive (its dialer half-closes it, its acceptor stops writing and
   * waits for that). A second stream dialed by the same node replaces the first, which is a leftover
   * of a restart and closed at once.
   */
  private adopt(link: PeerLink, stream: PeerStream): void {
    stream.authenticatedAtMs = this.wallClockMs();
    const existing = link.active;
    link.active = stream;
    if (existing !== undefined && !existing.isClosed) {
      this.counters.duplicateStreams++;
      if (existing.direction === stream.direction) {
        existing.close(status.ALREADY_EXISTS, "replaced by a newer stream from the same node");
      } else {
        const keep = this.lowerIdDials(link.id) === stream.direction ? stream : existing;
        const retire = keep === stream ? existing : stream;
        link.active = keep;
        retire.retire("the pair already has a stream: keeping the one dialed by the lower id", this.helloTimeoutMs);
        if (keep !== stream) return;
      }
    }
    if (link.redialTimer !== undefined) {
      clearTimeout(link.redialTimer);
      link.redialTimer = undefined;
    }
    this.logger?.info({ peer: link.id, direction: stream.direction }, "peer stream up");
    this.flush(link);
  }

  /** Which of this node's streams to `peer` is the pair's preferred one. */
  private lowerIdDials(peer: NodeId): "outbound" | "inbound" {
    return this.options.id < peer ? "outbound" : "inbound";
  }

  private onMessageFrame(stream: PeerStream, frame: Buffer): void {
    const decoded = decodePeerFrame(frame);
    if (!decoded.ok || decoded.frame.kind !== "message") {
      this.counters.malformedFrames++;
      this.logger?.debug(
        { peer: stream.peerId, reason: decoded.ok ? "unexpected hello" : decoded.error.message },
        "malformed peer frame dropped",
      );
      return;
    }
    const message = decoded.frame.message;
    if (
      message.from !== stream.peerId ||
      message.to !== this.options.id ||
      message.clusterId !== this.options.clusterId
    ) {
      this.counters.misaddressedFrames++;
      return;
    }
    const link = this.links.get(message.from);
    if (link !== undefined) link.lastReceivedAtMs = this.wallClockMs();
    this.counters.messagesDelivered++;
    try {
      this.handler?.onMessage(message);
    } catch (error) {
      this.logger?.error({ peer: message.from, err: describe(error) }, "the node's message handler threw");
    }
  }

  private onDrain(stream: PeerStream): void {
    const link = stream.peerId === undefined ? undefined : this.links.get(stream.peerId);
    if (link !== undefined && link.active === stream) this.flush(link);
  }

  private flush(link: PeerLink): void {
    const stream = link.active;
    if (stream === undefined) return;
    while (stream.writable && link.queue.length > 0) {
      const frame = link.queue.shift() as Uint8Array;
      this.counters.framesSent++;
      if (!stream.write(frame)) break;
    }
  }

  private onStreamClosed(stream: PeerStream, reason: string): void {
    this.liveStreams.delete(stream);
    const wasHandshaking = this.handshaking.delete(stream);
    this.dialNonces.delete(stream);
    if (this.state !== "running" || stream.peerId === undefined) return;
    const link = this.links.get(stream.peerId);
    if (link === undefined) return;
    if (link.dialing === stream) {
      link.dialing = undefined;
      this.counters.failedDials++;
      this.logger?.debug({ peer: link.id, reason }, "peer dial failed");
      this.reportUnreachable(link.id);
      this.scheduleRedial(link);
    } else if (link.active === stream) {
      link.active = undefined;
      if (this.wallClockMs() - stream.authenticatedAtMs >= reconnectStableSessionMs) link.backoff.reset();
      this.logger?.info({ peer: link.id, direction: stream.direction, reason }, "peer stream down");
      this.reportUnreachable(link.id);
      this.scheduleRedial(link);
    } else if (wasHandshaking) {
      this.logger?.debug({ peer: link.id, reason }, "peer handshake ended");
    }
  }

  private scheduleRedial(link: PeerLink): void {
    if (this.state !== "running" || link.redialTimer !== undefined || link.active !== undefined) return;
    const delayMs = link.backoff.next();
    link.redialTimer = setTimeout(() => {
      link.redialTimer = undefined;
      if (this.state !== "running" || this.links.get(link.id) !== link) return;
      // Redial a kept peer, or one with something to say; any other is dialed by its next send.
      const wanted = link.queue.length > 0 || this.kept.has(link.id);
      if (link.active === undefined && link.dialing === undefined && wanted) this.dial(link);
    }, delayMs);
    link.redialTimer.unref();
  }

  private clientFor(link: PeerLink, address: string): Client {
    if (link.client !== undefined && link.clientAddress === address) return link.client;
    link.client?.close();
    link.client = new Client(address, this.credentials, peerChannelOptions());
    link.clientAddress = address;
    return link.client;
  }

  private closeLink(link: PeerLink, reason: string): void {
    if (link.redialTimer !== undefined) clearTimeout(link.redialTimer);
    link.redialTimer = undefined;
    const active = link.active;
    const dialing = link.dialing;
    link.active = undefined;
    link.dialing = undefined;
    active?.close(status.UNAVAILABLE, reason);
    dialing?.close(status.UNAVAILABLE, reason);
    this.counters.droppedOnClose += link.queue.clear();
    link.client?.close();
    link.client = undefined;
  }

  private admits(id: NodeId): boolean {
    try {
      return this.options.isMember(id);
    } catch (error) {
      this.logger?.error({ peer: id, err: describe(error) }, "isMember threw; refusing the peer");
      return false;
    }
  }

  private resolve(id: NodeId): string | undefined {
    try {
      const address = this.options.resolveAddress(id);
      return address === "" ? undefined : address;
    } catch (error) {
      this.logger?.error({ peer: id, err: describe(error) }, "resolveAddress threw");
      return undefined;
    }
  }

  private reportUnreachable(peer: NodeId): void {
    try {
      this.handler?.onUnreachable?.(peer);
    } catch (error) {
      this.logger?.error({ peer, err: describe(error) }, "the node's onUnreachable handler threw");
    }
  }
}

/**
 * Registers the RaftPeer service on `server`, routing inbound streams to `transport`. The node
 * adds its client API services to the same server.
 */
export function addRaftPeerService(server: Server, transport: GrpcPeerTransport): void {
  const handler: RaftPeerStreamHandler = (call) => transport.acceptStream(call);
  addRawRaftPeerService(server, handler);
}

function serializeFrame(frame: Uint8Array): Buffer {
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}

function passThrough(frame: Buffer): Buffer {
  return frame;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
