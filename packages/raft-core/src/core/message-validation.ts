import type { Entry } from "./types.js";

const ENTRY_TYPES = new Set(["normal", "noop", "config"]);

/**
 * Checks that a message from the wire has the shape and the internal consistency a correct peer
 * produces. Returns a reason string for a bad message, or undefined when it is well formed.
 * Cheap: O(entries). It never throws, whatever `value` is.
 */
export function validateMessage(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not an object";
  const m = value as Record<string, unknown>;
  if (!isId(m.from) || !isId(m.to)) return "from/to must be non-empty strings";
  if (typeof m.clusterId !== "string") return "clusterId must be a string";
  if (!isIndex(m.term)) return "term must be a non-negative safe integer";
  switch (m.type) {
    case "vote":
      if (typeof m.preVote !== "boolean" || typeof m.transfer !== "boolean") return "vote flags must be booleans";
      if (!isIndex(m.lastLogIndex) || !isIndex(m.lastLogTerm)) return "vote log position must be safe integers";
      if ((m.lastLogTerm as number) > (m.term as number)) return "vote lastLogTerm is above its term";
      if ((m.term as number) === 0) return "vote term must be positive";
      return undefined;
    case "voteResp":
      if (typeof m.preVote !== "boolean" || typeof m.granted !== "boolean") return "voteResp flags must be booleans";
      return undefined;
    case "app":
      return validateAppend(m);
    case "appResp":
      if (typeof m.success !== "boolean") return "appResp.success must be a boolean";
      if (!isIndex(m.index) || !isIndex(m.hintIndex) || !isIndex(m.hintTerm))
        return "appResp indexes must be safe integers";
      if ((m.hintIndex as number) > (m.index as number) && m.success === false)
        return "appResp hint is above the rejected index";
      return undefined;
    case "heartbeat":
      if (!isIndex(m.commit) || !isIndex(m.round)) return "heartbeat commit/round must be safe integers";
      return undefined;
    case "heartbeatResp":
      if (!isIndex(m.round)) return "heartbeatResp.round must be a safe integer";
      return undefined;
    case "prop":
      if (!Array.isArray(m.proposals) || m.proposals.length === 0) return "prop.proposals must be a non-empty array";
      for (const p of m.proposals as unknown[]) {
        if (typeof p !== "object" || p === null) return "proposal must be an object";
        const q = p as Record<string, unknown>;
        if (!(q.data instanceof Uint8Array)) return "proposal.data must be bytes";
        if (!isId(q.origin) || q.origin !== m.from) return "proposal.origin must be the sender";
        if (!isIndex(q.requestId)) return "proposal.requestId must be a safe integer";
        // Configuration changes are never forwarded as raw bytes.
        if (q.type !== undefined && q.type !== "normal") return "proposal.type must be normal";
      }
      return undefined;
    case "propReject":
    case "readIndex":
    case "readIndexResp":
      if (!Array.isArray(m.requestIds) || !(m.requestIds as unknown[]).every(isIndex)) {
        return `${m.type}.requestIds must be safe integers`;
      }
      if (m.type === "propReject" && typeof m.leaderHint !== "string") return "propReject.leaderHint must be a string";
      if (m.type === "readIndexResp" && !isIndex(m.index)) return "readIndexResp.index must be a safe integer";
      return undefined;
    case "timeoutNow":
      return undefined;
    case "snap":
      return validateSnapshotMeta(m.meta, m.term as number);
    case "snapChunk":
    case "snapChunkResp":
      // Chunks are assembled and verified by the runtime; one that reaches the core is misrouted.
      return `${m.type} is a runtime message: the core never handles it`;
    default:
      return "unknown message type";
  }
}

/**
 * Checks a snapshot chunk from the wire (the runtime's part of InstallSnapshot): the envelope,
 * the snapshot metadata, a safe byte offset, bytes, the `last` flag and a 32-bit checksum.
 * Returns a reason string for a bad chunk, or undefined when it is well formed. Never throws.
 */
export function validateSnapshotChunk(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not an object";
  const m = value as Record<string, unknown>;
  if (m.type !== "snapChunk") return "not a snapChunk";
  if (!isId(m.from) || !isId(m.to)) return "from/to must be non-empty strings";
  if (typeof m.clusterId !== "string") return "clusterId must be a string";
  if (!isIndex(m.term) || m.term === 0) return "snapChunk.term must be a positive safe integer";
  const metaProblem = validateSnapshotMeta(m.meta, m.term);
  if (metaProblem !== undefined) return metaProblem;
  if (!isIndex(m.offset)) return "snapChunk.offset must be a non-negative safe integer";
  if (!(m.data instanceof Uint8Array)) return "snapChunk.data must be bytes";
  if (!Number.isSafeInteger(m.offset + m.data.byteLength)) return "snapChunk offset overflows";
  if (typeof m.last !== "boolean") return "snapChunk.last must be a boolean";
  if (!isIndex(m.checksum) || m.checksum > 0xffff_ffff) return "snapChunk.checksum must be an unsigned 32-bit integer";
  return undefined;
}

/**
 * Checks a follower's snapshot chunk response from the wire: the envelope, the snapshot metadata,
 * a 32-bit checksum and a safe byte offset. Returns a reason string, or undefined. Never throws.
 */
export function validateSnapshotChunkResponse(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not an object";
  const m = value as Record<string, unknown>;
  if (m.type !== "snapChunkResp") return "not a snapChunkResp";
  if (!isId(m.from) || !isId(m.to)) return "from/to must be non-empty strings";
  if (typeof m.clusterId !== "string") return "clusterId must be a string";
  if (!isIndex(m.term) || m.term === 0) return "snapChunkResp.term must be a positive safe integer";
  const metaProblem = validateSnapshotMeta(m.meta, m.term);
  if (metaProblem !== undefined) return metaProblem;
  if (!isIndex(m.offset)) return "snapChunkResp.offset must be a non-negative safe integer";
  if (!isIndex(m.checksum) || m.checksum > 0xffff_ffff) {
    return "snapChunkResp.checksum must be an unsigned 32-bit integer";
  }
  return undefined;
}

function validateAppend(m: Record<string, unknown>): string | undefined {
  if (!isIndex(m.prevLogIndex) || !isIndex(m.prevLogTerm) || !isIndex(m.leaderCommit)) {
    return "app indexes must be safe integers";
  }
  const term = m.term as number;
  if ((m.prevLogTerm as number) > term) return "app prevLogTerm is above its term";
  if ((m.prevLogIndex as number) === 0 && (m.prevLogTerm as number) !== 0)
    return "app prevLogTerm must be 0 at index 0";
  if (!Array.isArray(m.entries)) return "app.entries must be an array";
  let expectIndex = (m.prevLogIndex as number) + 1;
  let lastTerm = m.prevLogTerm as number;
  for (const raw of m.entries as unknown[]) {
    if (typeof raw !== "object" || raw === null) return "entry must be an object";
    const e = raw as Entry;
    if (e.index !== expectIndex) return `entries are not contiguous at ${String(e.index)}`;
    if (!isIndex(e.term) || e.term === 0 || e.term > term || e.term < lastTerm)
      return `entry ${expectIndex} has an impossible term`;
    if (!ENTRY_TYPES.has(e.type)) return `entry ${expectIndex} has an unknown type`;
    if (!(e.data instanceof Uint8Array)) return `entry ${expectIndex} data must be bytes`;
    if (e.origin !== undefined && !isId(e.origin)) return `entry ${expectIndex} origin must be a string`;
    if (e.requestId !== undefined && !isIndex(e.requestId))
      return `entry ${expectIndex} requestId must be a safe integer`;
    lastTerm = e.term;
    expectIndex++;
  }
  if (!Number.isSafeInteger(expectIndex)) return "app indexes overflow";
  return undefined;
}

function validateSnapshotMeta(value: unknown, term: number): string | undefined {
  if (typeof value !== "object" || value === null) return "snap.meta must be an object";
  const meta = value as Record<string, unknown>;
  if (!isIndex(meta.index) || !isIndex(meta.term)) return "snap.meta index/term must be safe integers";
  if ((meta.term as number) > term) return "snap.meta term is above the message term";
  if ((meta.index as number) === 0 || (meta.term as number) === 0) return "snap.meta must point at a real entry";
  const config = meta.config as Record<string, unknown> | null;
  if (typeof config !== "object" || config === null) return "snap.meta.config must be an object";
  for (const field of ["voters", "outgoing", "learners"]) {
    const list = config[field];
    if (!Array.isArray(list) || !list.every(isId)) return `snap.meta.config.${field} must be a list of ids`;
  }
  if ((config.voters as unknown[]).length === 0) return "snap.meta.config.voters must not be empty";
  return undefined;
}

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isId(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= 256;
}
