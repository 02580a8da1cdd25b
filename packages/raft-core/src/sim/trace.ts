import type { Message, MessageType, NodeId, Role } from "../core/types.js";

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** Second lane: a multiplicative mix with its own seed, so the two 32-bit lanes make a 64-bit hash. */
const MIX_SEED = 0x2545f491;
const MIX_MULTIPLIER = 0x5bd1e995;

/** A stable small number per message type (the hash must not depend on string spelling changes). */
const MESSAGE_TYPE_CODES: Readonly<Partial<Record<MessageType, number>>> = {
  vote: 1,
  voteResp: 2,
  app: 3,
  appResp: 4,
  heartbeat: 5,
  heartbeatResp: 6,
  prop: 7,
  propReject: 8,
  readIndex: 9,
  readIndexResp: 10,
  timeoutNow: 11,
  snap: 12,
  snapChunk: 13,
  snapChunkResp: 14,
};

/** Record kinds, fed into the hash first so a message and a fault with equal numbers differ. */
const KIND_MESSAGE = 1;
const KIND_ROLE = 2;
const KIND_OP = 3;
const KIND_FAULT = 4;
const KIND_NOTE = 5;

/**
 * The fingerprint of one simulation run: a running 2×32-bit hash (FNV-1a and a multiplicative
 * mix) over every delivered message (type, sender, receiver, term and the indexes it carries),
 * every role change, every completed client operation and every fault, in the order they
 * happened. Two runs with the same seed and options must end with the same hash; when they do
 * not, the optional text lines (`keepLines`) show where they diverged.
 *
 * @example
 * const trace = new Trace({ keepLines: true });
 * trace.fault(1_000, "crash n2");
 * trace.hash(); // "5c1d0e0a9b3f7d21"
 */
export class Trace {
  private fnv = FNV_OFFSET_BASIS;
  private mix = MIX_SEED;
  private count = 0;
  /** The trace as text, one record per line; undefined unless `keepLines` was set. */
  readonly lines: string[] | undefined;

  constructor(options: { readonly keepLines?: boolean } = {}) {
    this.lines = options.keepLines === true ? [] : undefined;
  }

  /** Records written so far. */
  get records(): number {
    return this.count;
  }

  /** A message handed to its receiver at `atMs`. */
  message(message: Message, atMs: number): void {
    this.begin(KIND_MESSAGE, atMs);
    this.int(MESSAGE_TYPE_CODES[message.type] ?? 0);
    this.text(message.from);
    this.text(message.to);
    this.int(message.term);
    const detail = this.messageIndexes(message);
    this.lines?.push(`${atMs} msg ${message.type} ${message.from}->${message.to} t${message.term} ${detail}`);
  }

  /** A node's role, term or known leader changed (as observed after an instant). */
  role(node: NodeId, role: Role, term: number, leader: NodeId, atMs: number): void {
    this.begin(KIND_ROLE, atMs);
    this.text(node);
    this.text(role);
    this.int(term);
    this.text(leader);
    this.lines?.push(`${atMs} role ${node} ${role} t${term} leader=${leader || "-"}`);
  }

  /** A client operation ended ("ok", "fail" or "indeterminate"). */
  op(id: number, description: string, outcome: string, atMs: number): void {
    this.begin(KIND_OP, atMs);
    this.int(id);
    this.text(description);
    this.text(outcome);
    this.lines?.push(`${atMs} op #${id} ${description} -> ${outcome}`);
  }

  /** A fault was applied (or skipped; `description` says which). */
  fault(atMs: number, description: string): void {
    this.begin(KIND_FAULT, atMs);
    this.text(description);
    this.lines?.push(`${atMs} fault ${description}`);
  }

  /** A simulator milestone (phase change, check result). */
  note(atMs: number, description: string): void {
    this.begin(KIND_NOTE, atMs);
    this.text(description);
    this.lines?.push(`${atMs} note ${description}`);
  }

  /** The hash so far, 16 lowercase hex digits. */
  hash(): string {
    return hex32(this.fnv) + hex32(this.mix);
  }

  /** Feeds the indexes that identify what a message says and returns them as text for the lines. */
  private messageIndexes(m: Message): string {
    switch (m.type) {
      case "vote":
        this.ints(m.preVote ? 1 : 0, m.lastLogIndex, m.lastLogTerm, m.transfer ? 1 : 0);
        return this.lines ? `pre=${m.preVote} last=${m.lastLogIndex}/${m.lastLogTerm}` : "";
      case "voteResp":
        this.ints(m.preVote ? 1 : 0, m.granted ? 1 : 0);
        return this.lines ? `pre=${m.preVote} granted=${m.granted}` : "";
      case "app": {
        const entries = m.entries;
        const last = entries.length === 0 ? 0 : (entries[entries.length - 1] as { index: number }).index;
        this.ints(m.prevLogIndex, m.prevLogTerm, entries.length, last, m.leaderCommit);
        return this.lines
          ? `prev=${m.prevLogIndex}/${m.prevLogTerm} n=${entries.length} last=${last} commit=${m.leaderCommit}`
          : "";
      }
      case "appResp":
        this.ints(m.success ? 1 : 0, m.index, m.hintIndex, m.hintTerm);
        return this.lines ? `ok=${m.success} index=${m.index} hint=${m.hintIndex}/${m.hintTerm}` : "";
      case "heartbeat":
        this.ints(m.commit, m.round);
        return this.lines ? `commit=${m.commit} round=${m.round}` : "";
      case "heartbeatResp":
        this.int(m.round);
        return this.lines ? `round=${m.round}` : "";
      case "prop":
        this.int(m.proposals.length);
        return this.lines ? `n=${m.proposals.length}` : "";
      case "propReject":
        this.int(m.requestIds.length);
        return this.lines ? `n=${m.requestIds.length} hint=${m.leaderHint || "-"}` : "";
      case "readIndex":
        this.int(m.requestIds.length);
        return this.lines ? `n=${m.requestIds.length}` : "";
      case "readIndexResp":
        this.ints(m.requestIds.length, m.index);
        return this.lines ? `n=${m.requestIds.length} index=${m.index}` : "";
      case "snap":
        this.ints(m.meta.index, m.meta.term);
        return this.lines ? `snapshot=${m.meta.index}/${m.meta.term}` : "";
      case "snapChunk":
        this.ints(m.meta.index, m.meta.term, m.offset, m.data.byteLength, m.last ? 1 : 0);
        return this.lines
          ? `snapshot=${m.meta.index}/${m.meta.term} offset=${m.offset} bytes=${m.data.byteLength} last=${m.last}`
          : "";
      case "snapChunkResp":
        this.ints(m.meta.index, m.meta.term, m.offset);
        return this.lines ? `snapshot=${m.meta.index}/${m.meta.term} have=${m.offset}` : "";
      default:
        // timeoutNow, and any type added later: its type, sender, receiver and term are hashed.
        return "";
    }
  }

  private begin(kind: number, atMs: number): void {
    this.count++;
    this.int(kind);
    this.int(atMs);
  }

  private ints(...values: number[]): void {
    for (const value of values) this.int(value);
  }

  /** Feeds the low 32 bits and, for larger safe integers, the high bits too. */
  private int(value: number): void {
    const low = value >>> 0;
    this.word(low);
    if (value > 0xffffffff || value < 0) this.word(Math.floor(value / 0x1_0000_0000) >>> 0);
  }

  private text(value: string): void {
    this.word(value.length);
    for (let i = 0; i < value.length; i++) this.word(value.charCodeAt(i));
  }

  private word(value: number): void {
    let fnv = this.fnv;
    fnv = Math.imul(fnv ^ (value & 0xff), FNV_PRIME);
    fnv = Math.imul(fnv ^ ((value >>> 8) & 0xff), FNV_PRIME);
    fnv = Math.imul(fnv ^ ((value >>> 16) & 0xff), FNV_PRIME);
    fnv = Math.imul(fnv ^ (value >>> 24), FNV_PRIME);
    this.fnv = fnv >>> 0;
    let mix = Math.imul(this.mix ^ value, MIX_MULTIPLIER);
    mix ^= mix >>> 15;
    this.mix = mix >>> 0;
  }
}

function hex32(value: number): string {
  return (value >>> 0).toString(16).padStart(8, "0");
}
