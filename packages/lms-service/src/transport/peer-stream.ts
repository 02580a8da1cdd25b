import { type ClientDuplexStream, type ServerDuplexStream, status } from "@grpc/grpc-js";
import type { NodeId } from "@lectern/raft-core";

/** Raw frames both ways: the transport encodes and decodes itself, so a bad frame never kills the call. */
export type OutboundCall = ClientDuplexStream<Uint8Array, Buffer>;
export type InboundCall = ServerDuplexStream<Buffer, Uint8Array>;

/** What a {@link PeerStream} reports to its owner. */
export interface PeerStreamEvents {
  onFrame(stream: PeerStream, frame: Buffer): void;
  /** The stream's write buffer drained: more frames may be written. */
  onDrain(stream: PeerStream): void;
  /** Called exactly once, whoever closed the stream and however. */
  onClose(stream: PeerStream, reason: string): void;
}

/**
 * One gRPC call of the RaftPeer service, seen the same way whichever side dialed it: frames in,
 * frames out with backpressure, and a single close notification.
 */
export class PeerStream {
  /** The peer's id: known when dialing, learned from the hello when accepting. */
  peerId: NodeId | undefined;
  /** Wall-clock ms when the hello exchange completed; 0 before. */
  authenticatedAtMs = 0;
  /** False after a write filled the call's buffer, until it drains, and for good once retired. */
  writable = true;
  private closed = false;
  private retired = false;

  constructor(
    private readonly call: OutboundCall | InboundCall,
    readonly direction: "outbound" | "inbound",
    peerId: NodeId | undefined,
    private readonly events: PeerStreamEvents,
  ) {
    this.peerId = peerId;
    call.on("data", (frame: Buffer) => {
      if (!this.closed) events.onFrame(this, frame);
    });
    call.on("drain", () => {
      if (this.retired) return;
      this.writable = true;
      if (!this.closed) events.onDrain(this);
    });
    call.on("error", (error: Error) => this.finish(error.message));
    call.on("end", () => {
      // The peer half-closed: it will send nothing more, so this stream is done both ways.
      this.finish("the peer ended the stream");
      if (direction === "inbound") call.end();
    });
    call.on("close", () => this.finish("the stream closed"));
    if (direction === "inbound") call.on("cancelled", () => this.finish("the peer cancelled the stream"));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes one frame; false when the stream is closed or its buffer is now full. Never throws. */
  write(frame: Uint8Array): boolean {
    if (this.closed || !this.writable) return false;
    try {
      this.writable = this.call.write(frame);
    } catch {
      this.finish("write failed");
      return false;
    }
    return this.writable;
  }

  /**
   * Takes the stream out of service without losing what is in flight on it: it takes no more
   * writes but keeps delivering frames until the peer has finished too. A dialed stream half-closes
   * at once (the acceptor then ends it); an accepted stream waits for its dialer's half-close,
   * because a gRPC server that ends a call can read nothing more from it. After `graceMs` the
   * stream is closed whatever the peer did. Idempotent.
   */
  retire(reason: string, graceMs: number): void {
    if (this.closed || this.retired) return;
    this.retired = true;
    this.writable = false;
    const timer = setTimeout(() => this.close(status.CANCELLED, reason), graceMs);
    timer.unref();
    this.call.once("close", () => clearTimeout(timer));
    if (this.direction === "outbound") {
      try {
        this.call.end();
      } catch {
        this.close(status.CANCELLED, reason);
      }
    }
  }

  get isRetired(): boolean {
    return this.retired;
  }

  /**
   * Closes the stream. An accepted stream ends with `code` and `reason` as its gRPC status, so the
   * dialer sees why; a dialed stream is cancelled. Idempotent.
   */
  close(code: status, reason: string): void {
    if (this.closed) return;
    this.finish(reason);
    try {
      if (this.direction === "inbound") {
        (this.call as InboundCall).emit("error", Object.assign(new Error(reason), { code, details: reason }));
      } else {
        (this.call as OutboundCall).cancel();
      }
    } catch {
      // The call is already gone; nothing is left to close.
    }
  }

  /** The peer's network address as gRPC sees it, for logs. */
  remoteAddress(): string {
    try {
      return this.call.getPeer();
    } catch {
      return "unknown";
    }
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.writable = false;
    this.events.onClose(this, reason);
  }
}
