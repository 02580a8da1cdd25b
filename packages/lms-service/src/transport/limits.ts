/**
 * Every limit of the gRPC layer in one place, each a named constant with its unit last.
 *
 * Sizing: raft-core refuses proposals above 8 MiB (`DEFAULT_MAX_ENTRY_BYTES`), keeps one append's
 * payload near 1 MiB (`DEFAULT_MAX_MESSAGE_BYTES`) but always sends at least one entry (safety rule
 * 5), and streams snapshots in 1 MiB chunks. The largest peer frame is therefore one 8 MiB entry
 * plus up to 1 MiB of others plus framing; 16 MiB leaves room without letting one frame pin
 * unbounded memory.
 */

const mebibyte = 1024 * 1024;

/** Largest frame on the Raft peer stream, both directions. */
export const peerMaxMessageBytes = 16 * mebibyte;

/**
 * Largest client API message, both directions. File bytes travel in chunks of at most
 * {@link fileChunkMaxBytes}, so nothing legitimate comes near it.
 */
export const clientMaxMessageBytes = 4 * mebibyte;

/** Largest `chunk` in FileService.Upload / Download. */
export const fileChunkMaxBytes = mebibyte;

/**
 * Receive limit of a gRPC server that hosts both the peer service and the client API. grpc-js has
 * one limit per server, not per method, so it is the larger of the two; client handlers check
 * their own fields against {@link clientMaxMessageBytes} / {@link fileChunkMaxBytes}.
 */
export const sharedServerMaxMessageBytes = Math.max(peerMaxMessageBytes, clientMaxMessageBytes);

/** Frames waiting for one peer's stream; past it `send` drops (Raft tolerates loss). */
export const peerQueueMaxFrames = 4096;

/** Bytes waiting for one peer's stream; past it `send` drops. Holds two maximal frames. */
export const peerQueueMaxBytes = 2 * peerMaxMessageBytes;

/** A stream whose hello (or hello answer) has not arrived by then is closed. */
export const helloTimeoutMs = 5_000;

/**
 * Inbound streams that may wait for their hello at once. Before the hello nobody is authenticated,
 * so this (with {@link helloTimeoutMs} and the server's message limit) bounds what strangers can pin.
 */
export const handshakeMaxStreams = 16;

/** A hello whose timestamp is further than this from the receiver's wall clock is refused. */
export const helloMaxClockSkewMs = 30_000;

/** Nonces of accepted hellos remembered to refuse replays within the skew window. */
export const helloNonceCacheMaxEntries = 4096;

/** Bytes of a hello nonce. */
export const helloNonceBytes = 16;

/** Bytes of an HMAC-SHA256 credential. */
export const helloCredentialBytes = 32;

/** Longest node id accepted on the wire (raft-core's own bound). */
export const nodeIdMaxChars = 256;

/** First redial delay after a failed dial or a lost stream (before jitter). */
export const reconnectInitialBackoffMs = 25;

/** Redial delays double up to this bound; well under an election timeout's worth of seconds. */
export const reconnectMaxBackoffMs = 1_000;

/** A stream that stayed up this long resets the backoff: its loss is news, not a flapping peer. */
export const reconnectStableSessionMs = 5_000;

/**
 * Keepalive: the client pings after this much silence on the connection, so a peer that vanished
 * without closing TCP is noticed within `keepaliveTimeMs + keepaliveTimeoutMs`.
 */
export const keepaliveTimeMs = 10_000;

/** A keepalive ping unanswered for this long closes the connection. */
export const keepaliveTimeoutMs = 5_000;

/**
 * Servers accept pings this often even without data (gRPC core's policy option; grpc-js servers
 * do not police pings, other implementations do and would answer GOAWAY `too_many_pings`).
 */
export const keepaliveMinPingIntervalMs = 5_000;
