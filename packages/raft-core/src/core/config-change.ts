import type { ConfigState, NodeId } from "./types.js";

/** The membership an administrator asks for. Addresses travel with the configuration, opaque to the core. */
export interface MembershipChange {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/**
 * What a "config" entry carries. Joint consensus (thesis §4.3) goes in two entries: "joint" moves
 * to C_old,new (`outgoing` = the old voters), then the leader appends "final" for C_new.
 */
export interface ConfigEntryPayload extends ConfigState {
  readonly phase: "joint" | "final";
  readonly addresses: Readonly<Record<NodeId, string>>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Configuration entries are rare and small, so a readable JSON payload costs nothing that matters. */
export function encodeConfigEntry(payload: ConfigEntryPayload): Uint8Array {
  return encoder.encode(JSON.stringify(payload));
}

/** Decodes a config entry's data; returns undefined for bytes no correct leader writes. */
export function decodeConfigEntry(data: Uint8Array): ConfigEntryPayload | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const p = value as Record<string, unknown>;
  if (p.phase !== "joint" && p.phase !== "final") return undefined;
  for (const field of ["voters", "outgoing", "learners"]) {
    const list = p[field];
    if (!Array.isArray(list) || !list.every((id) => typeof id === "string" && id !== "")) return undefined;
  }
  if (typeof p.addresses !== "object" || p.addresses === null) return undefined;
  return p as unknown as ConfigEntryPayload;
}

/** Why a membership change is refused before it is proposed. */
export function membershipProblem(change: MembershipChange): string | undefined {
  if (!Array.isArray(change.voters) || change.voters.length === 0) return "a configuration needs at least one voter";
  const voters = new Set(change.voters);
  if (voters.size !== change.voters.length) return "the voter list has duplicates";
  if (new Set(change.learners).size !== change.learners.length) return "the learner list has duplicates";
  for (const id of [...change.voters, ...change.learners]) {
    if (typeof id !== "string" || id === "") return "member ids must be non-empty strings";
  }
  for (const id of change.learners) if (voters.has(id)) return `${id} cannot be both a voter and a learner`;
  return undefined;
}

export function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((id) => set.has(id));
}
