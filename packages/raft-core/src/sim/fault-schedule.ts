import type { NodeId } from "../core/types.js";
import { MAX_SIM_VOTERS, MIN_SIM_VOTERS } from "./membership-admin.js";
import type { Prng } from "./prng.js";
import { clusterNodeIds, MAX_NODES } from "./sim-cluster.js";
import { PER_MILLION } from "./sim-network.js";

/**
 * Faults as data: a fault schedule is a list of timed faults that the simulator applies during
 * its safety phase. Being plain data, a schedule can be generated from a seed, written to a JSON
 * scenario file, generated and shrunk by fast-check, and replayed exactly.
 *
 * Faults at the same `atMs` are applied in list order.
 */
export type Fault =
  /** Power loss on one node: unsynced writes are lost (a random prefix survives), timers die. */
  | { readonly atMs: number; readonly kind: "crash"; readonly node: NodeId }
  /**
   * Arms a crash of `node` for the moment it next has a storage write in flight (between the
   * write and its sync), the moment most likely to expose a durability bug. A later `restart` of
   * the node disarms it.
   */
  | { readonly atMs: number; readonly kind: "crash-during-write"; readonly node: NodeId }
  /**
   * Arms a torn write: the node crashes at its next storage write, and its disk leaves the first
   * operation the crash loses half-written (some bytes reached the platter, the rest did not).
   * The restarted node must recognise the torn tail and discard it. A later `restart` disarms it.
   */
  | { readonly atMs: number; readonly kind: "torn-write"; readonly node: NodeId }
  /**
   * Flips one bit in a stored (synced) record or snapshot block of the node's disk. The node
   * detects it when it next reads the record (at its next start, or when reading its snapshot) and
   * halts for good. Refused (no effect) when it would damage the disks of a majority of the nodes.
   */
  | { readonly atMs: number; readonly kind: "bit-flip"; readonly node: NodeId }
  /** Restarts a crashed node from its disk (a no-op when it is up or halted). */
  | { readonly atMs: number; readonly kind: "restart"; readonly node: NodeId }
  | { readonly atMs: number; readonly kind: "crash-all" }
  | { readonly atMs: number; readonly kind: "restart-all" }
  /** Full partition: nodes talk only within their group; a node in no group reaches nobody. */
  | { readonly atMs: number; readonly kind: "partition"; readonly groups: readonly (readonly NodeId[])[] }
  /** Cuts one node off from all others in both directions. */
  | { readonly atMs: number; readonly kind: "isolate"; readonly node: NodeId }
  /** One-way cut: messages from `from` to `to` are dropped. */
  | { readonly atMs: number; readonly kind: "cut"; readonly from: NodeId; readonly to: NodeId }
  /** Removes every partition, isolation and cut. */
  | { readonly atMs: number; readonly kind: "heal" }
  /** Random message loss from now on, per million messages (0 turns it off). */
  | { readonly atMs: number; readonly kind: "loss"; readonly perMillion: number }
  /** Random message duplication from now on, per million messages (0 turns it off). */
  | { readonly atMs: number; readonly kind: "duplicate"; readonly perMillion: number }
  /**
   * Membership: starts `node` as a brand-new server (empty disk; it catches up from the leader's
   * log or a snapshot) and asks the leader to add it as a learner. `node` must not be one of the
   * initial nodes; naming it here makes it a node of the schedule (crash, partition... may name
   * it too).
   */
  | { readonly atMs: number; readonly kind: "add-learner"; readonly node: NodeId }
  /** Membership: asks the leader to promote learner `node` to voter (NOT_CAUGHT_UP while it lags). */
  | { readonly atMs: number; readonly kind: "promote"; readonly node: NodeId }
  /** Membership: asks the leader to remove `node` (a voter or a learner; removing the leader is allowed). */
  | { readonly atMs: number; readonly kind: "remove"; readonly node: NodeId }
  /**
   * Membership: replaces voter `node` by the brand-new node `by`: adds `by` as a learner, promotes
   * it once it has caught up, then removes `node`.
   */
  | { readonly atMs: number; readonly kind: "replace"; readonly node: NodeId; readonly by: NodeId };

export type FaultKind = Fault["kind"];
export type FaultSchedule = readonly Fault[];

export const FAULT_KINDS: readonly FaultKind[] = [
  "crash",
  "crash-during-write",
  "torn-write",
  "bit-flip",
  "restart",
  "crash-all",
  "restart-all",
  "partition",
  "isolate",
  "cut",
  "heal",
  "loss",
  "duplicate",
  "add-learner",
  "promote",
  "remove",
  "replace",
];

/** The fault kinds that change the membership (applied on the leader through `RaftServer`'s API). */
export const MEMBERSHIP_FAULT_KINDS: readonly FaultKind[] = ["add-learner", "promote", "remove", "replace"];

/** How hard the generated schedule hits the cluster. */
export type FaultProfile = "none" | "standard" | "heavy";
export const FAULT_PROFILES: readonly FaultProfile[] = ["none", "standard", "heavy"];

/** A schedule or scenario that does not validate; the message names the field and what is wrong. */
export class FaultScheduleError extends Error {
  readonly code = "FAULT_SCHEDULE";
  constructor(message: string) {
    super(message);
    this.name = "FaultScheduleError";
  }
}

/** Stable field order of one fault in JSON. */
const FIELD_ORDER = ["atMs", "kind", "node", "by", "from", "to", "groups", "perMillion"] as const;

/**
 * Checks that `value` is a fault schedule for a cluster of `nodes` and returns it as typed data,
 * sorted by `atMs` (stable: faults at the same time keep their order). Throws
 * {@link FaultScheduleError} naming the first bad field, e.g. `schedule[2].node: "n9" is not a node`.
 * @example validateSchedule(JSON.parse(text), { nodes: ["n1", "n2", "n3"] })
 */
export function validateSchedule(value: unknown, options: { readonly nodes: readonly NodeId[] }): Fault[] {
  if (!Array.isArray(value)) throw new FaultScheduleError("schedule: expected an array of faults");
  // Nodes a membership fault brings in (add-learner's node, replace's `by`) are nodes of the schedule too.
  const initial = new Set(options.nodes);
  const joining = value.flatMap((item, i) => joiningNode(item, `schedule[${i}]`, initial));
  const all = [...options.nodes, ...joining.filter((id, i) => joining.indexOf(id) === i)];
  const known = new Set(all);
  const faults = value.map((item, i) => validateFault(item, `schedule[${i}]`, known, all));
  return sortSchedule(faults);
}

/** Ids a node may have when it joins: "n1".."n9", the simulator's id space. */
const JOINABLE_IDS: ReadonlySet<NodeId> = new Set(clusterNodeIds(MAX_NODES));

/** The new node an add-learner or replace fault names (checked), or nothing. */
function joiningNode(item: unknown, where: string, initial: ReadonlySet<NodeId>): NodeId[] {
  if (typeof item !== "object" || item === null) return [];
  const fields = item as Record<string, unknown>;
  const field = fields.kind === "add-learner" ? "node" : fields.kind === "replace" ? "by" : undefined;
  if (field === undefined) return [];
  const id = fields[field];
  if (typeof id !== "string" || !JOINABLE_IDS.has(id) || initial.has(id)) {
    throw new FaultScheduleError(
      `${where}.${field}: a joining node must be a new id in n1..n${MAX_NODES} that is not an initial node, got ${JSON.stringify(id)}`,
    );
  }
  return [id];
}

/**
 * Parses a JSON schedule (an array of faults).
 * @example parseSchedule('[{"atMs":100,"kind":"crash","node":"n1"}]', { nodes: ["n1", "n2", "n3"] })
 */
export function parseSchedule(text: string, options: { readonly nodes: readonly NodeId[] }): Fault[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FaultScheduleError(`schedule: not JSON (${(error as Error).message})`);
  }
  return validateSchedule(parsed, options);
}

/**
 * The schedule as plain JSON-ready objects with a stable field order (so equal schedules
 * serialise to equal bytes).
 */
export function scheduleToData(schedule: FaultSchedule): Record<string, unknown>[] {
  return schedule.map((fault) => {
    const source = fault as unknown as Record<string, unknown>;
    const ordered: Record<string, unknown> = {};
    for (const field of FIELD_ORDER) {
      if (source[field] !== undefined) ordered[field] = source[field];
    }
    return ordered;
  });
}

/**
 * One JSON text per schedule, one fault per line for readable diffs.
 * @example scheduleToJson([{ atMs: 100, kind: "heal" }]) // '[\n  {"atMs":100,"kind":"heal"}\n]'
 */
export function scheduleToJson(schedule: FaultSchedule): string {
  const lines = scheduleToData(schedule).map((fault) => `  ${JSON.stringify(fault)}`);
  return lines.length === 0 ? "[]" : `[\n${lines.join(",\n")}\n]`;
}

/** Sorts by `atMs`, keeping list order among faults at the same time. */
export function sortSchedule(faults: readonly Fault[]): Fault[] {
  return faults
    .map((fault, position) => ({ fault, position }))
    .sort((a, b) => a.fault.atMs - b.fault.atMs || a.position - b.position)
    .map((item) => item.fault);
}

/**
 * A short human-readable description, e.g. `crash n2`, `partition [n1 n2] [n3 n4 n5]`, `loss 5%`.
 */
export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case "crash":
    case "crash-during-write":
    case "torn-write":
    case "bit-flip":
    case "restart":
    case "isolate":
    case "add-learner":
    case "promote":
    case "remove":
      return `${fault.kind} ${fault.node}`;
    case "replace":
      return `replace ${fault.node} by ${fault.by}`;
    case "crash-all":
    case "restart-all":
    case "heal":
      return fault.kind;
    case "partition":
      return `partition ${fault.groups.map((group) => `[${group.join(" ")}]`).join(" ")}`;
    case "cut":
      return `cut ${fault.from}->${fault.to}`;
    case "loss":
    case "duplicate":
      return `${fault.kind} ${fault.perMillion}/1M`;
  }
}

// ---- generation ---------------------------------------------------------------------------------

/** Parameters of one profile; every range is inclusive and in milliseconds unless named otherwise. */
interface ProfileShape {
  /** Quiet time between two node-fault episodes. */
  readonly nodeGapMs: readonly [number, number];
  /** How long a crashed node (or the whole cluster) stays down. */
  readonly downMs: readonly [number, number];
  /** Percent chances of each node-fault episode; the rest is a single crash. */
  readonly crashDuringWritePercent: number;
  /** Of the single-node episodes: percent torn writes, and percent crashes whose disk takes a bit flip. */
  readonly tornWritePercent: number;
  readonly bitFlipPercent: number;
  readonly crashAllPercent: number;
  /** A minority (heavy: a majority) of nodes crashes together. */
  readonly multiCrashPercent: number;
  readonly multiCrashMajority: boolean;
  /** Quiet time between two link-fault episodes (partition, isolate, cut). */
  readonly linkGapMs: readonly [number, number];
  readonly linkEpisodeMs: readonly [number, number];
  /** Quiet time between two link-quality episodes (loss, duplication). */
  readonly qualityGapMs: readonly [number, number];
  readonly qualityEpisodeMs: readonly [number, number];
  readonly maxLossPerMillion: number;
  readonly maxDuplicatePerMillion: number;
  /** Quiet time between two membership operations. */
  readonly membershipGapMs: readonly [number, number];
  /** From adding a learner to the request to promote it. */
  readonly promoteAfterMs: readonly [number, number];
}

const STANDARD_PROFILE: ProfileShape = {
  nodeGapMs: [400, 2_500],
  downMs: [50, 2_000],
  crashDuringWritePercent: 35,
  tornWritePercent: 0,
  bitFlipPercent: 0,
  crashAllPercent: 12,
  multiCrashPercent: 10,
  multiCrashMajority: false,
  linkGapMs: [400, 3_000],
  linkEpisodeMs: [100, 2_500],
  qualityGapMs: [1_000, 5_000],
  qualityEpisodeMs: [200, 2_000],
  maxLossPerMillion: 150_000,
  maxDuplicatePerMillion: 100_000,
  membershipGapMs: [1_000, 4_000],
  promoteAfterMs: [100, 2_000],
};

const HEAVY_PROFILE: ProfileShape = {
  nodeGapMs: [0, 900],
  downMs: [10, 3_000],
  crashDuringWritePercent: 30,
  tornWritePercent: 20,
  bitFlipPercent: 8,
  crashAllPercent: 15,
  multiCrashPercent: 25,
  multiCrashMajority: true,
  linkGapMs: [0, 1_000],
  linkEpisodeMs: [50, 3_000],
  qualityGapMs: [0, 1_500],
  qualityEpisodeMs: [100, 3_000],
  maxLossPerMillion: 400_000,
  maxDuplicatePerMillion: 250_000,
  membershipGapMs: [300, 2_000],
  promoteAfterMs: [0, 1_500],
};

export interface GenerateScheduleOptions {
  readonly nodes: readonly NodeId[];
  /** Faults are generated in [0, durationMs). */
  readonly durationMs: number;
  readonly profile: FaultProfile;
}

/**
 * A random schedule drawn from `prng`: three independent tracks of fault episodes (node crashes,
 * link faults, link quality) whose faults are merged by time. Every episode ends with its repair
 * (restart, heal, loss 0) unless the safety phase ends first; the convergence phase repairs the rest.
 * "standard" includes single crashes, crashes timed between a write and its sync, minority crashes
 * and whole-cluster crashes; "heavy" overlaps more, crashes majorities, loses more messages, tears
 * writes and flips bits on the disks of crashed nodes (at most a minority of the nodes: those
 * halt for good when they restart).
 * @example generateSchedule(Prng.fromSeed(1).fork("faults"), { nodes: ["n1", "n2", "n3"], durationMs: 10_000, profile: "standard" })
 */
export function generateSchedule(prng: Prng, options: GenerateScheduleOptions): Fault[] {
  const { nodes, durationMs, profile } = options;
  if (!FAULT_PROFILES.includes(profile)) {
    throw new FaultScheduleError(`unknown fault profile "${profile}" (use ${FAULT_PROFILES.join(", ")})`);
  }
  if (!Number.isSafeInteger(durationMs) || durationMs < 0) {
    throw new FaultScheduleError(`durationMs must be a non-negative integer, got ${durationMs}`);
  }
  if (profile === "none" || nodes.length === 0) return [];
  const shape = profile === "heavy" ? HEAVY_PROFILE : STANDARD_PROFILE;
  // Separate streams per track: a change in one track's draws never shifts another track.
  const faults = [
    ...nodeTrack(prng.fork("node-track"), nodes, durationMs, shape),
    ...linkTrack(prng.fork("link-track"), nodes, durationMs, shape),
    ...qualityTrack(prng.fork("quality-track"), durationMs, shape),
    ...membershipTrack(prng.fork("membership-track"), nodes, durationMs, shape),
  ];
  return sortSchedule(faults.filter((fault) => fault.atMs < durationMs));
}

function draw(prng: Prng, range: readonly [number, number]): number {
  return prng.nextRange(range[0], range[1]);
}

function nodeTrack(prng: Prng, nodes: readonly NodeId[], durationMs: number, shape: ProfileShape): Fault[] {
  const faults: Fault[] = [];
  // Bit flips damage at most a minority of the disks (the cluster refuses more anyway).
  const flipped = new Set<NodeId>();
  const maxFlipped = Math.floor((nodes.length - 1) / 2);
  let atMs = draw(prng, shape.nodeGapMs);
  while (atMs < durationMs) {
    const downMs = draw(prng, shape.downMs);
    const roll = prng.nextInt(100);
    const upAtMs = atMs + downMs;
    if (roll < shape.crashAllPercent) {
      faults.push({ atMs, kind: "crash-all" }, { atMs: upAtMs, kind: "restart-all" });
    } else if (roll < shape.crashAllPercent + shape.multiCrashPercent && nodes.length >= 3) {
      const minority = Math.floor((nodes.length - 1) / 2);
      const count = shape.multiCrashMajority ? prng.nextRange(minority, minority + 1) : Math.max(1, minority);
      const victims = prng.shuffle(nodes.slice()).slice(0, count);
      for (const node of victims) faults.push({ atMs, kind: "crash", node });
      for (const node of victims) faults.push({ atMs: upAtMs + prng.nextInt(200), kind: "restart", node });
    } else {
      const node = prng.pick(nodes);
      const kindRoll = prng.nextInt(100);
      if (kindRoll < shape.crashDuringWritePercent) {
        faults.push({ atMs, kind: "crash-during-write", node });
      } else if (kindRoll < shape.crashDuringWritePercent + shape.tornWritePercent) {
        faults.push({ atMs, kind: "torn-write", node });
      } else if (
        kindRoll < shape.crashDuringWritePercent + shape.tornWritePercent + shape.bitFlipPercent &&
        (flipped.has(node) || flipped.size < maxFlipped)
      ) {
        // The disk is damaged while the node is down, so its restart finds the damage.
        flipped.add(node);
        faults.push({ atMs, kind: "crash", node }, { atMs, kind: "bit-flip", node });
      } else {
        faults.push({ atMs, kind: "crash", node });
      }
      faults.push({ atMs: upAtMs, kind: "restart", node });
    }
    atMs = upAtMs + 200 + draw(prng, shape.nodeGapMs);
  }
  return faults;
}

function linkTrack(prng: Prng, nodes: readonly NodeId[], durationMs: number, shape: ProfileShape): Fault[] {
  const faults: Fault[] = [];
  let atMs = draw(prng, shape.linkGapMs);
  while (atMs < durationMs) {
    const roll = prng.nextInt(100);
    if (roll < 50 && nodes.length >= 2) {
      faults.push({ atMs, kind: "partition", groups: randomGroups(prng, nodes) });
    } else if (roll < 75) {
      faults.push({ atMs, kind: "isolate", node: prng.pick(nodes) });
    } else if (nodes.length >= 2) {
      const cuts = prng.nextRange(1, Math.min(3, nodes.length));
      for (let i = 0; i < cuts; i++) {
        const [from, to] = prng.shuffle(nodes.slice());
        faults.push({ atMs, kind: "cut", from: from as NodeId, to: to as NodeId });
      }
    }
    const healAtMs = atMs + draw(prng, shape.linkEpisodeMs);
    faults.push({ atMs: healAtMs, kind: "heal" });
    atMs = healAtMs + draw(prng, shape.linkGapMs);
  }
  return faults;
}

/** Two groups (sometimes three with 5+ nodes), every node in exactly one. */
function randomGroups(prng: Prng, nodes: readonly NodeId[]): NodeId[][] {
  const shuffled = prng.shuffle(nodes.slice());
  if (nodes.length >= 5 && prng.nextInt(4) === 0) {
    const first = prng.nextRange(1, nodes.length - 2);
    const second = prng.nextRange(first + 1, nodes.length - 1);
    return [shuffled.slice(0, first), shuffled.slice(first, second), shuffled.slice(second)];
  }
  const split = prng.nextRange(1, nodes.length - 1);
  return [shuffled.slice(0, split), shuffled.slice(split)];
}

function qualityTrack(prng: Prng, durationMs: number, shape: ProfileShape): Fault[] {
  const faults: Fault[] = [];
  let atMs = draw(prng, shape.qualityGapMs);
  while (atMs < durationMs) {
    const endAtMs = atMs + draw(prng, shape.qualityEpisodeMs);
    if (prng.nextInt(2) === 0) {
      faults.push({ atMs, kind: "loss", perMillion: prng.nextRange(1_000, shape.maxLossPerMillion) });
      faults.push({ atMs: endAtMs, kind: "loss", perMillion: 0 });
    } else {
      faults.push({ atMs, kind: "duplicate", perMillion: prng.nextRange(1_000, shape.maxDuplicatePerMillion) });
      faults.push({ atMs: endAtMs, kind: "duplicate", perMillion: 0 });
    }
    atMs = endAtMs + draw(prng, shape.qualityGapMs);
  }
  return faults;
}

/**
 * Membership operations: add a learner and promote it later, remove a voter, replace a voter by
 * a new node. The track follows the membership it would produce if every operation succeeded, to
 * stay within [MIN_SIM_VOTERS, MAX_SIM_VOTERS] voters; the cluster re-checks at run time. New
 * nodes take the unused ids up to n9, so a run adds at most 9 − N nodes.
 */
function membershipTrack(prng: Prng, nodes: readonly NodeId[], durationMs: number, shape: ProfileShape): Fault[] {
  if (nodes.length < MIN_SIM_VOTERS || nodes.length > MAX_NODES) return [];
  const faults: Fault[] = [];
  const voters = nodes.slice();
  const spares = clusterNodeIds(MAX_NODES).filter((id) => !nodes.includes(id));
  let atMs = draw(prng, shape.membershipGapMs);
  while (atMs < durationMs) {
    const roll = prng.nextInt(100);
    const canGrow = spares.length > 0 && voters.length < MAX_SIM_VOTERS;
    if (roll < 35 && canGrow) {
      const node = spares.shift() as NodeId;
      faults.push({ atMs, kind: "add-learner", node });
      faults.push({ atMs: atMs + draw(prng, shape.promoteAfterMs), kind: "promote", node });
      voters.push(node);
    } else if (roll < 65 && voters.length > MIN_SIM_VOTERS) {
      const node = prng.pick(voters);
      faults.push({ atMs, kind: "remove", node });
      voters.splice(voters.indexOf(node), 1);
    } else if (canGrow) {
      const node = prng.pick(voters);
      const by = spares.shift() as NodeId;
      faults.push({ atMs, kind: "replace", node, by });
      voters[voters.indexOf(node)] = by;
    }
    atMs += draw(prng, shape.membershipGapMs);
  }
  return faults;
}

// ---- validation -----------------------------------------------------------------------------------

function validateFault(item: unknown, where: string, known: ReadonlySet<NodeId>, nodes: readonly NodeId[]): Fault {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw new FaultScheduleError(`${where}: expected an object like {"atMs": 100, "kind": "crash", "node": "n1"}`);
  }
  const fields = item as Record<string, unknown>;
  const fail = (problem: string): never => {
    throw new FaultScheduleError(`${where}${problem}`);
  };
  const { atMs, kind } = fields;
  if (typeof atMs !== "number" || !Number.isSafeInteger(atMs) || atMs < 0) {
    fail(`.atMs: must be a non-negative integer (virtual milliseconds), got ${JSON.stringify(atMs)}`);
  }
  if (typeof kind !== "string" || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    fail(`.kind: must be one of ${FAULT_KINDS.join(", ")}; got ${JSON.stringify(kind)}`);
  }
  const allowed = allowedFields(kind as FaultKind);
  for (const name of Object.keys(fields)) {
    if (!allowed.includes(name)) fail(`: unknown field "${name}" for a ${kind} fault (allowed: ${allowed.join(", ")})`);
  }
  const node = (name: string): NodeId => {
    const value = fields[name];
    if (typeof value !== "string" || !known.has(value)) {
      fail(`.${name}: ${JSON.stringify(value)} is not a node of this cluster (${nodes.join(", ")})`);
    }
    return value as NodeId;
  };
  const at = atMs as number;
  switch (kind as FaultKind) {
    case "crash":
    case "crash-during-write":
    case "torn-write":
    case "bit-flip":
    case "restart":
    case "isolate":
    case "add-learner":
    case "promote":
    case "remove":
      return { atMs: at, kind: kind as "crash", node: node("node") };
    case "replace": {
      const old = node("node");
      const by = node("by");
      if (old === by) fail(`: a replace needs two different nodes, got ${old} by ${by}`);
      return { atMs: at, kind: "replace", node: old, by };
    }
    case "crash-all":
    case "restart-all":
    case "heal":
      return { atMs: at, kind: kind as "heal" };
    case "cut": {
      const from = node("from");
      const to = node("to");
      if (from === to) fail(`: a cut needs two different nodes, got ${from} -> ${to}`);
      return { atMs: at, kind: "cut", from, to };
    }
    case "loss":
    case "duplicate": {
      const perMillion = fields.perMillion;
      if (
        typeof perMillion !== "number" ||
        !Number.isInteger(perMillion) ||
        perMillion < 0 ||
        perMillion > PER_MILLION
      ) {
        fail(`.perMillion: must be an integer in [0, ${PER_MILLION}], got ${JSON.stringify(perMillion)}`);
      }
      return { atMs: at, kind: kind as "loss", perMillion: perMillion as number };
    }
    case "partition":
      return { atMs: at, kind: "partition", groups: validateGroups(fields.groups, `${where}.groups`, known, nodes) };
  }
}

function allowedFields(kind: FaultKind): readonly string[] {
  switch (kind) {
    case "crash":
    case "crash-during-write":
    case "torn-write":
    case "bit-flip":
    case "restart":
    case "isolate":
    case "add-learner":
    case "promote":
    case "remove":
      return ["atMs", "kind", "node"];
    case "replace":
      return ["atMs", "kind", "node", "by"];
    case "cut":
      return ["atMs", "kind", "from", "to"];
    case "loss":
    case "duplicate":
      return ["atMs", "kind", "perMillion"];
    case "partition":
      return ["atMs", "kind", "groups"];
    default:
      return ["atMs", "kind"];
  }
}

function validateGroups(
  value: unknown,
  where: string,
  known: ReadonlySet<NodeId>,
  nodes: readonly NodeId[],
): NodeId[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new FaultScheduleError(`${where}: expected a non-empty array of node groups, e.g. [["n1"], ["n2", "n3"]]`);
  }
  const seen = new Set<NodeId>();
  return value.map((group, g) => {
    if (!Array.isArray(group)) throw new FaultScheduleError(`${where}[${g}]: expected an array of node ids`);
    return group.map((id, i) => {
      if (typeof id !== "string" || !known.has(id)) {
        throw new FaultScheduleError(
          `${where}[${g}][${i}]: ${JSON.stringify(id)} is not a node of this cluster (${nodes.join(", ")})`,
        );
      }
      if (seen.has(id)) throw new FaultScheduleError(`${where}[${g}][${i}]: ${id} is in more than one group`);
      seen.add(id);
      return id;
    });
  });
}
