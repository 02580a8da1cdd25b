import { createHash } from "node:crypto";
import {
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  status,
} from "@grpc/grpc-js";
import type { Principal } from "../auth/tokens.js";
import { encodeCommand } from "../domain/command-codec.js";
import type { Actor, CommandOf, CommandStamp, LmsCommandKind } from "../domain/commands.js";
import { isTokenRevoked, type QueryResult } from "../domain/queries.js";
import type { OkValues } from "../domain/results.js";
import { ReadConsistency } from "../gen/lms.js";
import { clientMaxMessageBytes } from "../transport/limits.js";
import { invalidArgument, LmsCallError } from "./call-error.js";
import { rejectionError, toServiceError } from "./error-mapping.js";
import { ReadBarrierBatcher } from "./read-barrier-batcher.js";
import type { LmsServiceContext } from "./service-context.js";
import { VerifiedTokenCache } from "./verified-token-cache.js";

/** How long a write waits for its outcome before the client is told to retry (same key). */
export const proposeTimeoutMs = 5_000;
/** How long a linearizable read waits for the leader's confirmation. */
export const readTimeoutMs = 3_000;
/** lms.proto: keys of 16 to 128 characters from [A-Za-z0-9_-]. */
const idempotencyKeyPattern = /^[A-Za-z0-9_-]{16,128}$/;
/** lms.proto paging: default and largest page. */
export const defaultPageSize = 100;
export const maxPageSize = 500;
const maxBearerChars = 8192;

/** A handler for one unary RPC; thrown errors become gRPC statuses with trailers. */
export function unary<Req, Res>(
  context: LmsServiceContext,
  handler: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handler(call.request, call).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(context, error)),
    );
  };
}

/** A handler for one server-streaming RPC; it writes with `call.write` and returns when done. */
export function serverStream<Req, Res>(
  context: LmsServiceContext,
  handler: (request: Req, call: ServerWritableStream<Req, Res>) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    handler(call.request, call).then(
      () => call.end(),
      (error: unknown) => {
        if (call.cancelled) return;
        call.emit("error", toServiceError(context, error));
      },
    );
  };
}

/** A handler for one client-streaming RPC. */
export function clientStream<Req, Res>(
  context: LmsServiceContext,
  handler: (call: ServerReadableStream<Req, Res>) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    handler(call).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(context, error)),
    );
  };
}

/** The verified caller: the token's principal and the actor its commands carry. */
export interface Caller extends Principal {
  readonly actor: Actor;
}

/**
 * Verifies `authorization: Bearer <jwt>`: signature, issuer, audience, expiry, and that no logout
 * revoked it (the replicated revocation list in this node's store).
 */
export async function authenticate(context: LmsServiceContext, metadata: Metadata): Promise<Caller> {
  const values = metadata.get("authorization");
  const header = values.length === 1 && typeof values[0] === "string" ? values[0] : "";
  if (header.length > maxBearerChars) throw new LmsCallError(status.UNAUTHENTICATED, "the token is too long");
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (match === null) {
    throw new LmsCallError(status.UNAUTHENTICATED, "no token: send `authorization: Bearer <token>` from Login");
  }
  const principal = verifiedPrincipal(context, match[1]);
  if (await isTokenRevoked(context.store, principal.tokenId)) {
    throw new LmsCallError(status.UNAUTHENTICATED, "the session was logged out: log in again");
  }
  return { ...principal, actor: { userId: principal.userId, role: principal.role } };
}

/**
 * One cache of verified tokens per service context (a node's), held beside it rather than in it
 * so the context's shape stays what the node builds; it goes away with the context.
 */
const tokenCaches = new WeakMap<LmsServiceContext, VerifiedTokenCache>();

/** The token's principal: from the cache while unexpired, else verified now (throws if invalid). */
function verifiedPrincipal(context: LmsServiceContext, token: string): Principal {
  let cache = tokenCaches.get(context);
  if (cache === undefined) {
    cache = new VerifiedTokenCache();
    tokenCaches.set(context, cache);
  }
  const cached = cache.get(token, context.wallClockMs());
  if (cached !== undefined) return cached;
  const principal = context.tokens.authenticate(token);
  cache.add(token, principal);
  return principal;
}

/** Checks a client's idempotency key against lms.proto's rule. */
export function checkIdempotencyKey(key: string): string {
  if (!idempotencyKeyPattern.test(key)) {
    throw invalidArgument("idempotency_key", "must be 16 to 128 characters from A-Z, a-z, 0-9, '_' and '-'");
  }
  return key;
}

/**
 * A key derived from a client's key for one of several commands one RPC proposes (an upload's
 * start, chunks and commit). Deterministic, so a retry of the RPC derives the same keys; hashed so
 * the result stays within the domain's 128-character limit whatever the client key's length.
 */
export function derivedIdempotencyKey(clientKey: string, part: string): string {
  const digest = createHash("sha256").update(clientKey).digest("base64url").slice(0, 32);
  return `d.${digest}.${part}`;
}

/** The stamp of a command: actor (from the token, never the body), key and this node's time. */
export function stamp(context: LmsServiceContext, actor: Actor | null, idempotencyKey: string): CommandStamp {
  return { actor, idempotencyKey, at: context.stampTime() };
}

/**
 * Encodes and proposes `command` through Raft (forwarded to the leader when this node follows;
 * during an election, or when the leader it reached just stepped down, Raft holds it for the new
 * leader: raft-core's `leaderWaitMs`, lms-node.ts) and returns what the state machine accepted; a
 * refusal becomes the matching gRPC status.
 */
export async function propose<K extends LmsCommandKind>(
  context: LmsServiceContext,
  command: CommandOf<K>,
  conflictCode: status = status.FAILED_PRECONDITION,
): Promise<OkValues[K]> {
  const bytes = encodeCommand(command);
  const result = await context.raft.propose(bytes, { timeoutMs: proposeTimeoutMs });
  if (result === undefined) throw new Error(`the state machine returned no result for a ${command.kind} command`);
  if (result.status !== "ok") throw rejectionError(result, conflictCode);
  if (result.kind !== command.kind) {
    throw new Error(`the state machine answered a ${command.kind} command with a ${result.kind} result`);
  }
  return result.value as OkValues[K];
}

/** One read batcher per service context (a node's), beside it like the token caches. */
const readBatchers = new WeakMap<LmsServiceContext, ReadBarrierBatcher>();

/**
 * Waits until this node's state reflects every write acknowledged before the call (ReadIndex,
 * shared with concurrent calls: read-barrier-batcher.ts), unless the caller opted into a possibly
 * stale local read.
 */
export async function readBarrier(context: LmsServiceContext, consistency: ReadConsistency | undefined): Promise<void> {
  if (consistency === ReadConsistency.READ_CONSISTENCY_LOCAL) return;
  let batcher = readBatchers.get(context);
  if (batcher === undefined) {
    const raft = context.raft;
    batcher = new ReadBarrierBatcher(() => raft.read({ timeoutMs: readTimeoutMs }));
    readBatchers.set(context, batcher);
  }
  await batcher.barrier();
}

/** The value of a query, or its rejection as a gRPC status. */
export function queried<T>(result: QueryResult<T>): T {
  if (result.status !== "ok") throw rejectionError(result);
  return result.value;
}

/**
 * Most bytes of items one page carries, measured as their JSON: half a client message, so the
 * page's protobuf encoding (more compact than JSON for the same fields, whatever the mapping adds)
 * stays well inside `clientMaxMessageBytes`. 500 notes of 10,000 characters would be 5 MB or more.
 */
export const maxPageItemBytes = clientMaxMessageBytes / 2;

/**
 * One page of `items` (already in a stable order) and the token of the next page: at most
 * `pageSize` items, fewer when they would pass {@link maxPageItemBytes} (always at least one; the
 * domain's field limits keep any single item far below it).
 */
export function paginate<T>(
  items: readonly T[],
  pageSize: number,
  pageToken: string,
): { readonly page: T[]; readonly nextPageToken: string } {
  const size = pageSize === 0 ? defaultPageSize : pageSize;
  if (!Number.isSafeInteger(size) || size < 1 || size > maxPageSize) {
    throw invalidArgument("page_size", `must be from 1 to ${maxPageSize} (0 means ${defaultPageSize})`);
  }
  let offset = 0;
  if (pageToken !== "") {
    offset = /^\d{1,9}$/.test(pageToken) ? Number(pageToken) : -1;
    if (offset < 0) throw invalidArgument("page_token", "is not a token from a previous page");
  }
  const end = Math.min(items.length, offset + size);
  let next = offset;
  let bytes = 0;
  while (next < end) {
    bytes += Buffer.byteLength(JSON.stringify(items[next]));
    if (next > offset && bytes > maxPageItemBytes) break;
    next++;
  }
  return { page: items.slice(offset, next), nextPageToken: next < items.length ? String(next) : "" };
}

/** Checks a required id field (the domain's id shape) and returns it. */
export function requiredId(field: string, value: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value))
    throw invalidArgument(field, "must be an id of 1 to 64 letters, digits, '_' or '-'");
  return value;
}

/** An optional id field: empty means absent. */
export function optionalId(field: string, value: string): string | undefined {
  return value === "" ? undefined : requiredId(field, value);
}
