/**
 * Linearizability checker for the simulator's key-value history (Herlihy & Wing 1990).
 *
 * Each key is an independent register (P-compositionality: a history is linearizable iff its
 * restriction to every object is), and each key's operations are checked with a Wing–Gong search
 * in Lowe's formulation: walk the invocation/response events in time order, tentatively take
 * effect ("linearize") any invoked operation whose result the register model explains, backtrack
 * when a response arrives for an operation not yet linearized, and memoise every
 * (set of linearized operations, register value) configuration already explored so it is never
 * explored twice.
 *
 * - "fail" operations did not happen and are removed.
 * - "indeterminate" operations may take effect at any point after their invocation, or never: their
 *   response is at +infinity and the search succeeds once every completed operation is linearized.
 * - Events at the same virtual millisecond are treated as concurrent (an operation that completes
 *   at t does not precede one invoked at t), the permissive reading of a millisecond clock.
 * - Every key has a step budget; a key that exhausts it is "unknown-exceeded", never a false verdict.
 */

import type { OperationRecord } from "./history.js";
import { compareCodeUnits } from "./kv-state-machine.js";

/** Search steps (attempts to linearize or backtrack) allowed per key before giving up with "unknown-exceeded". */
export const defaultStepBudgetPerKey = 2_000_000;
/**
 * Memory bound of one key's search: 32-bit words of remembered configurations (128 MiB). A search
 * that needs more ends as "unknown-exceeded", like one that exhausts its step budget.
 */
export const maxMemoWordsPerKey = 1 << 25;
/** Search steps spent, in total, on shrinking a violation to a small window of operations. */
export const defaultMinimizeStepBudget = 4_000_000;
/** A run with more than this fraction of keys "unknown-exceeded" fails. */
export const maxUnknownKeyRatio = 0.01;

export type KeyVerdict = "ok" | "violation" | "unknown-exceeded";

export interface KeyCheckResult {
  readonly key: string;
  readonly verdict: KeyVerdict;
  /** Search steps spent on this key (0 when decided without a search). */
  readonly steps: number;
  /** Operations checked on this key ("fail" operations are not counted). */
  readonly ops: number;
}

export interface LinearizabilityViolation {
  readonly key: string;
  /**
   * A small window of the key's operations that is itself not linearizable, in invocation order.
   * Operations still running when the window's last operation completed count as indeterminate.
   */
  readonly ops: readonly OperationRecord[];
  /** Human-readable account of why no order of `ops` is consistent with a register. */
  readonly explanation: string;
  /**
   * True when the window starts at a quiescent instant (every earlier operation had completed), so
   * it fails whatever value the key held then; false when it fails starting from an absent key.
   */
  readonly fromAnyStartingValue: boolean;
  /** Completed operations of `ops` that completed after this instant count as still running (null: none). */
  readonly openAfterMs: number | null;
}

export interface LinearizabilityResult {
  /**
   * "violation" if any key is not linearizable; otherwise "unknown-exceeded" if more than
   * {@link maxUnknownKeyRatio} of the keys exhausted their budget; otherwise "ok".
   */
  readonly verdict: KeyVerdict;
  /** One entry per key, in code-unit order of keys. */
  readonly keys: readonly KeyCheckResult[];
  /** Fraction of keys whose verdict is "unknown-exceeded" (0 when there are no keys). */
  readonly unknownRatio: number;
  /** The first violating key (in key order), shrunk to a small window, when the verdict is "violation". */
  readonly violation?: LinearizabilityViolation;
}

export interface LinearizabilityOptions {
  /** Default {@link defaultStepBudgetPerKey}. */
  readonly stepBudgetPerKey?: number;
  /** Default {@link defaultMinimizeStepBudget}. */
  readonly minimizeStepBudget?: number;
}

/**
 * Checks a client history against the sequential key-value specification, key by key.
 * A run passes when the verdict is "ok".
 *
 * @example
 * const result = checkLinearizability(history.operations());
 * if (result.verdict !== "ok") throw new Error(result.violation?.explanation ?? "too many unknown keys");
 */
export function checkLinearizability(
  operations: readonly OperationRecord[],
  options: LinearizabilityOptions = {},
): LinearizabilityResult {
  const stepBudget = options.stepBudgetPerKey ?? defaultStepBudgetPerKey;
  const minimizeBudget = options.minimizeStepBudget ?? defaultMinimizeStepBudget;
  assertValidOperations(operations);

  const byKey = new Map<string, { happened: OperationRecord[]; failed: OperationRecord[] }>();
  for (const record of operations) {
    let group = byKey.get(record.key);
    if (group === undefined) {
      group = { happened: [], failed: [] };
      byKey.set(record.key, group);
    }
    // Failed operations were never applied: they leave the history (and only serve the explanation).
    (record.outcome === "fail" ? group.failed : group.happened).push(record);
  }
  const keysInOrder = [...byKey.keys()].sort(compareCodeUnits);

  const keys: KeyCheckResult[] = [];
  let violation: LinearizabilityViolation | undefined;
  let unknown = 0;
  for (const key of keysInOrder) {
    const { happened: records, failed } = byKey.get(key) as {
      happened: OperationRecord[];
      failed: OperationRecord[];
    };
    const outcome = checkKey(records, stepBudget);
    keys.push({ key, verdict: outcome.verdict, steps: outcome.steps, ops: records.length });
    if (outcome.verdict === "unknown-exceeded") unknown++;
    if (outcome.verdict === "violation" && violation === undefined) {
      violation = explainViolation(key, records, failed, minimizeBudget);
    }
  }
  const unknownRatio = keysInOrder.length === 0 ? 0 : unknown / keysInOrder.length;
  const verdict: KeyVerdict =
    violation !== undefined ? "violation" : unknownRatio > maxUnknownKeyRatio ? "unknown-exceeded" : "ok";
  return violation === undefined ? { verdict, keys, unknownRatio } : { verdict, keys, unknownRatio, violation };
}

// ---------------------------------------------------------------------------------------------
// Per-key preparation: the register model works on small integers, not strings.

const putKind = 0;
const getKind = 1;
const casKind = 2;
/** Register value id of "absent". */
const absentValue = 0;
const noValue = -1;
/**
 * The starting value of a window cut at a quiescent instant: whatever the earlier operations left.
 * The first operation that observes the register fixes it (see {@link stepRegister}).
 */
const anyValue = -2;

/** One operation as the search sees it. Value ids: 0 = absent, 1.. = interned strings. */
interface SearchOp {
  readonly record: OperationRecord;
  readonly kind: number;
  readonly determinate: boolean;
  /** put: value; cas: next. */
  readonly writes: number;
  readonly expected: number;
  /** get / cas: the value the operation returned (determinate only). */
  readonly observed: number;
  /** cas: whether it returned ok (determinate only). */
  readonly observedOk: boolean;
  readonly callMs: number;
  readonly returnMs: number;
}

/**
 * A window of one key's operations, as the violation shrinker sees it: operations completing after
 * `indeterminateAfterMs` count as still running (indeterminate).
 * @internal exported for the soundness tests of the shrinking steps.
 */
export interface HistoryWindow {
  readonly records: readonly OperationRecord[];
  readonly indeterminateAfterMs: number;
  /** Check from every possible starting value (the window starts at a quiescent cut) instead of "absent". */
  readonly anyInitialValue: boolean;
}
type Window = HistoryWindow;

interface PreparedKey {
  readonly ops: readonly SearchOp[];
  readonly valueName: (id: number) => string;
}

function isDeterminateIn(record: OperationRecord, window: Window): boolean {
  return record.outcome === "ok" && (record.completeMs as number) <= window.indeterminateAfterMs;
}

function prepare(window: Window): PreparedKey {
  const ids = new Map<string, number>();
  const names: string[] = ["absent"];
  const intern = (value: string | null | undefined): number => {
    if (value === null || value === undefined) return absentValue;
    let id = ids.get(value);
    if (id === undefined) {
      id = names.length;
      ids.set(value, id);
      names.push(JSON.stringify(value));
    }
    return id;
  };
  let ops: SearchOp[] = [];
  for (const record of window.records) {
    const determinate = isDeterminateIn(record, window);
    // An indeterminate get has no effect and no result to explain: it constrains nothing.
    if (record.kind === "get" && !determinate) continue;
    const result = determinate ? (record.result as { ok?: boolean; value?: string | null }) : undefined;
    ops.push({
      record,
      kind: record.kind === "put" ? putKind : record.kind === "get" ? getKind : casKind,
      determinate,
      writes: record.kind === "get" ? noValue : intern(record.value),
      expected: record.kind === "cas" ? intern(record.expected) : noValue,
      observed: result !== undefined && record.kind !== "put" ? intern(result.value) : noValue,
      observedOk: result?.ok === true,
      callMs: record.invokeMs,
      returnMs: determinate ? (record.completeMs as number) : Number.POSITIVE_INFINITY,
    });
  }
  ops = withoutUnobservedIndeterminateWrites(ops);
  return { ops, valueName: (id) => (id === anyValue ? "any value" : names[id]) };
}

/**
 * Drops indeterminate writes of a value that no operation can ever observe: no completed get or
 * cas returned it and no indeterminate cas expects it. Such a write only matters if something sees
 * the register holding its value, so any linearization that includes it stays valid without it
 * (the operations between it and the next put then see the earlier value, or are no-op indeterminate
 * cas operations that can be dropped as well). Timeouts during partitions produce many such writes
 * and each one would otherwise double the search space.
 */
function withoutUnobservedIndeterminateWrites(ops: SearchOp[]): SearchOp[] {
  for (;;) {
    const observable = new Set<number>();
    for (const op of ops) {
      if (op.determinate && op.kind !== putKind) observable.add(op.observed);
      if (!op.determinate && op.kind === casKind) observable.add(op.expected);
    }
    const kept = ops.filter((op) => op.determinate || observable.has(op.writes));
    if (kept.length === ops.length) return ops;
    ops = kept;
  }
}

// ---------------------------------------------------------------------------------------------
// The search.

type SearchVerdict = "ok" | "violation" | "unknown-exceeded";

interface SearchOutcome {
  readonly verdict: SearchVerdict;
  readonly steps: number;
  /** Most operations linearized at once, the register value then, and the operation that could not follow. */
  readonly deepest: { readonly linearized: number; readonly value: number; readonly blocked: number };
}

/**
 * The register model: the value after `op` runs on `value`, or -1 if `op`'s recorded result rules
 * it out. From {@link anyValue} an observing operation reads the value it recorded, so one search
 * covers every starting value. (An indeterminate cas then swaps; its failing branch has no effect,
 * which is the same as never linearizing it.)
 */
function stepRegister(op: SearchOp, value: number): number {
  if (op.kind === putKind) return op.writes;
  if (value === anyValue) {
    if (op.kind === getKind) return op.observed;
    if (!op.determinate) return op.writes;
    if (op.observedOk !== (op.observed === op.expected)) return -1;
    return op.observedOk ? op.writes : op.observed;
  }
  if (op.kind === getKind) return op.observed === value ? value : -1;
  const swapped = value === op.expected;
  if (op.determinate && (op.observedOk !== swapped || op.observed !== value)) return -1;
  return swapped ? op.writes : value;
}

/** A fixed pseudo-random 32-bit word per operation (Zobrist hashing of the linearized set). */
function opHash(index: number): number {
  let h = Math.imul(index + 1, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Configurations already explored: (linearized set, register value), in an open-addressing hash
 * table over one growing word pool. Operations are linearized roughly in time order, so a set is
 * stored compactly as the index of its first word that is not all ones, then the words from there
 * to its last non-zero word: entry = [hash, value, low word, word count, ...words].
 */
class ConfigurationCache {
  private pool = new Uint32Array(1 << 12);
  private used = 0;
  private slots = new Int32Array(1 << 10).fill(-1);
  private entries = 0;

  /** Words held; the search gives up past {@link maxMemoWordsPerKey}. */
  get words(): number {
    return this.used;
  }

  /** Adds the configuration; false if it was already there. */
  add(bits: Uint32Array, setHash: number, value: number): boolean {
    let low = 0;
    while (low < bits.length && bits[low] === 0xffffffff) low++;
    let high = bits.length - 1;
    while (high >= low && bits[high] === 0) high--;
    const width = high - low + 1;
    const hash = (setHash ^ Math.imul(value + 3, 0x27d4eb2f)) >>> 0;
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (let at = this.slots[slot]; at !== -1; at = this.slots[slot]) {
      if (this.matches(at, hash, value >>> 0, low, width, bits)) return false;
      slot = (slot + 1) & mask;
    }
    const at = this.reserve(4 + width);
    this.pool[at] = hash;
    this.pool[at + 1] = value;
    this.pool[at + 2] = low;
    this.pool[at + 3] = width;
    this.pool.set(bits.subarray(low, low + width), at + 4);
    this.slots[slot] = at;
    if (++this.entries * 2 > this.slots.length) this.growSlots();
    return true;
  }

  private matches(at: number, hash: number, value: number, low: number, width: number, bits: Uint32Array): boolean {
    const pool = this.pool;
    if (pool[at] !== hash || pool[at + 1] !== value || pool[at + 2] !== low || pool[at + 3] !== width) return false;
    for (let i = 0; i < width; i++) if (pool[at + 4 + i] !== bits[low + i]) return false;
    return true;
  }

  private reserve(words: number): number {
    if (this.used + words > this.pool.length) {
      const grown = new Uint32Array(Math.max(this.pool.length * 2, this.used + words));
      grown.set(this.pool.subarray(0, this.used));
      this.pool = grown;
    }
    const at = this.used;
    this.used += words;
    return at;
  }

  private growSlots(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = slots.length - 1;
    for (const at of this.slots) {
      if (at === -1) continue;
      let slot = this.pool[at] & mask;
      while (slots[slot] !== -1) slot = (slot + 1) & mask;
      slots[slot] = at;
    }
    this.slots = slots;
  }
}

const nil = -1;

/**
 * Lowe's variant of the Wing–Gong search over one key's operations, starting from register value
 * `initial`. Events form a doubly linked list (node 0 is the head); linearizing an operation lifts
 * its call and return nodes out of the list, backtracking puts them back.
 */
function search(ops: readonly SearchOp[], initial: number, stepBudget: number): SearchOutcome {
  const n = ops.length;
  const order: { op: number; call: boolean; ms: number }[] = [];
  for (let i = 0; i < n; i++) {
    order.push({ op: i, call: true, ms: ops[i].callMs });
    order.push({ op: i, call: false, ms: ops[i].returnMs });
  }
  // Same instant: calls first, so equal timestamps overlap rather than order the operations.
  order.sort((a, b) => a.ms - b.ms || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const size = 2 * n + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const nodeOp = new Int32Array(size);
  const nodeIsCall = new Uint8Array(size);
  const callNode = new Int32Array(n);
  const returnNode = new Int32Array(n);
  for (let i = 0; i < order.length; i++) {
    const node = i + 1;
    nodeOp[node] = order[i].op;
    nodeIsCall[node] = order[i].call ? 1 : 0;
    if (order[i].call) callNode[order[i].op] = node;
    else returnNode[order[i].op] = node;
    prev[node] = node - 1;
    next[node] = node + 1 < size ? node + 1 : nil;
  }
  next[0] = n > 0 ? 1 : nil;

  const unlink = (node: number) => {
    next[prev[node]] = next[node];
    if (next[node] !== nil) prev[next[node]] = prev[node];
  };
  // Relinking in the reverse order of unlinking restores the list exactly (dancing links).
  const relink = (node: number) => {
    next[prev[node]] = node;
    if (next[node] !== nil) prev[next[node]] = node;
  };
  const lift = (op: number) => {
    unlink(callNode[op]);
    unlink(returnNode[op]);
  };
  const unlift = (op: number) => {
    relink(returnNode[op]);
    relink(callNode[op]);
  };

  const hashes = new Int32Array(n);
  for (let i = 0; i < n; i++) hashes[i] = opHash(i);
  const bits = new Uint32Array(Math.max(1, Math.ceil(n / 32)));
  const cache = new ConfigurationCache();
  const stackOp = new Int32Array(n);
  const stackValue = new Int32Array(n);
  let depth = 0;
  let setHash = 0;
  let value = initial;
  let remaining = ops.reduce((count, op) => count + (op.determinate ? 1 : 0), 0);
  let steps = 0;
  let deepest = { linearized: 0, value: initial, blocked: -1 };
  let node = next[0];

  while (remaining > 0) {
    if (steps >= stepBudget) return { verdict: "unknown-exceeded", steps, deepest };
    steps++;
    const op = nodeOp[node];
    if (nodeIsCall[node] === 1) {
      const after = stepRegister(ops[op], value);
      if (after >= 0) {
        bits[op >>> 5] |= 1 << (op & 31);
        setHash ^= hashes[op];
        if (cache.add(bits, setHash, after)) {
          if (cache.words > maxMemoWordsPerKey) return { verdict: "unknown-exceeded", steps, deepest };
          stackOp[depth] = op;
          stackValue[depth] = value;
          depth++;
          value = after;
          lift(op);
          if (ops[op].determinate) remaining--;
          node = next[0];
          continue;
        }
        bits[op >>> 5] &= ~(1 << (op & 31));
        setHash ^= hashes[op];
      }
      node = next[node];
      continue;
    }
    // The response of an operation that has not taken effect: this branch is dead, backtrack.
    if (depth > deepest.linearized || deepest.blocked < 0) deepest = { linearized: depth, value, blocked: op };
    if (depth === 0) return { verdict: "violation", steps, deepest };
    depth--;
    const undone = stackOp[depth];
    value = stackValue[depth];
    bits[undone >>> 5] &= ~(1 << (undone & 31));
    setHash ^= hashes[undone];
    unlift(undone);
    if (ops[undone].determinate) remaining++;
    node = next[callNode[undone]];
  }
  return { verdict: "ok", steps, deepest };
}

function checkKey(records: readonly OperationRecord[], stepBudget: number): { verdict: KeyVerdict; steps: number } {
  if (records.length === 0) return { verdict: "ok", steps: 0 };
  if (findNeverWrittenObservation(records) !== undefined) return { verdict: "violation", steps: 0 };
  const prepared = prepare({ records, indeterminateAfterMs: Number.POSITIVE_INFINITY, anyInitialValue: false });
  const outcome = search(prepared.ops, absentValue, stepBudget);
  return { verdict: outcome.verdict, steps: outcome.steps };
}

/** A completed operation that returned a value no put or cas on the key (that did not fail) ever wrote. */
function findNeverWrittenObservation(records: readonly OperationRecord[]): OperationRecord | undefined {
  const written = new Set<string>();
  for (const record of records) if (record.kind !== "get") written.add(record.value as string);
  for (const record of records) {
    if (record.outcome !== "ok" || record.kind === "put") continue;
    const seen = (record.result as { value: string | null }).value;
    if (seen !== null && !written.has(seen)) return record;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Shrinking a violation to a window a person can read. Every step keeps the window a sound witness:
// if the key's full history were linearizable, so would the window be.

/** Budget accounting shared by every search made while shrinking. */
class Budget {
  constructor(public remaining: number) {}
}

/** True when the window is not linearizable from any starting value it admits (unknown counts as false). */
function violates(window: Window, budget: Budget): boolean {
  if (budget.remaining <= 0) return false;
  const outcome = search(prepare(window).ops, window.anyInitialValue ? anyValue : absentValue, budget.remaining);
  budget.remaining -= outcome.steps;
  return outcome.verdict === "violation";
}

function explainViolation(
  key: string,
  records: readonly OperationRecord[],
  failed: readonly OperationRecord[],
  minimizeStepBudget: number,
): LinearizabilityViolation {
  const neverWritten = findNeverWrittenObservation(records);
  if (neverWritten !== undefined) {
    const seen = (neverWritten.result as { value: string }).value;
    const onlyFailed = failed.some((r) => r.kind !== "get" && r.value === seen);
    return {
      key,
      ops: [neverWritten],
      fromAnyStartingValue: false,
      openAfterMs: null,
      explanation:
        `key ${JSON.stringify(key)}: ${describe(neverWritten, Number.POSITIVE_INFINITY)} returned ${JSON.stringify(seen)}, ` +
        (onlyFailed
          ? "a value written only by operations that failed (and so were never applied)."
          : "a value no operation on this key ever wrote."),
    };
  }
  const budget = new Budget(minimizeStepBudget);
  let window = shortestViolatingPrefix(records, budget);
  window = latestQuiescentCut(window, budget);
  window = shrink(window, budget);
  window = latestQuiescentCut(window, budget);
  // Show only what the search looked at: indeterminate gets and unobservable indeterminate writes
  // cannot matter to any order, so leaving them out keeps the window a witness.
  window = { ...window, records: prepare(window).ops.map((op) => op.record) };
  const openAfterMs = window.records.some((r) => r.outcome === "ok" && !isDeterminateIn(r, window))
    ? window.indeterminateAfterMs
    : null;
  return {
    key,
    ops: window.records,
    explanation: narrate(key, window, new Budget(minimizeStepBudget)),
    fromAnyStartingValue: window.anyInitialValue,
    openAfterMs,
  };
}

/**
 * The shortest prefix (cut at some completion time) that is still not linearizable. Prefixes of a
 * linearizable history are linearizable, so a binary search over completion times finds it.
 */
function shortestViolatingPrefix(records: readonly OperationRecord[], budget: Budget): Window {
  const prefixes = prefixWindows(records);
  let low = 0;
  let high = prefixes.length - 1;
  let best: Window = { records, indeterminateAfterMs: Number.POSITIVE_INFINITY, anyInitialValue: false };
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (violates(prefixes[middle], budget)) {
      best = prefixes[middle];
      high = middle - 1;
    } else {
      low = middle + 1;
    }
  }
  return best;
}

/**
 * The history up to each completion time, shortest first: operations invoked by then, those still
 * running then made indeterminate. If the history is linearizable, so is every prefix: take a
 * linearization up to the last operation completed by then; nothing invoked later can precede it.
 * @internal exported for the soundness tests of the shrinking steps.
 */
export function prefixWindows(records: readonly OperationRecord[]): HistoryWindow[] {
  const cutoffs = [...new Set(records.filter((r) => r.outcome === "ok").map((r) => r.completeMs as number))];
  return cutoffs
    .sort((a, b) => a - b)
    .map((cutoff) => ({
      records: records.filter((r) => r.invokeMs <= cutoff),
      indeterminateAfterMs: cutoff,
      anyInitialValue: false,
    }));
}

/**
 * Drops everything before the latest quiescent instant at which the rest still fails from every
 * starting value (see {@link quiescentCuts}).
 */
function latestQuiescentCut(window: Window, budget: Budget): Window {
  const cuts = quiescentCuts(window);
  // A later cut leaves fewer constraints, so "still violates" is monotone: binary search for the latest.
  let low = 0;
  let high = cuts.length - 1;
  let best = window;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (violates(cuts[middle], budget)) {
      best = cuts[middle];
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return best;
}

/**
 * The window cut at each quiescent instant (an invocation that no completed operation spans, with
 * something completed before it), earliest first. In any linearization the operations completed
 * before such an instant come before those invoked after it, so if the window is linearizable the
 * rest is linearizable from the value the earlier ones left: the cut window starts from any value.
 * Indeterminate operations invoked before the cut stay: they may take effect after it.
 * @internal exported for the soundness tests of the shrinking steps.
 */
export function quiescentCuts(window: HistoryWindow): HistoryWindow[] {
  const determinate = window.records.filter((r) => isDeterminateIn(r, window));
  const instants = [...new Set(determinate.map((r) => r.invokeMs))]
    .filter((t) => determinate.some((r) => (r.completeMs as number) < t))
    .filter((t) => !determinate.some((r) => r.invokeMs < t && (r.completeMs as number) >= t))
    .sort((a, b) => a - b);
  return instants.map((t) => ({
    records: window.records.filter((r) => (isDeterminateIn(r, window) ? r.invokeMs >= t : true)),
    indeterminateAfterMs: window.indeterminateAfterMs,
    anyInitialValue: true,
  }));
}

/**
 * Delta-debugging over the window: tries to remove chunks of operations (halving the chunk size)
 * and keeps a removal when the rest still fails. Only removals that cannot turn a linearizable
 * window into a non-linearizable one are attempted (see {@link removeSoundly}), so the result
 * stays a witness.
 */
function shrink(window: Window, budget: Budget): Window {
  let current = window;
  for (let chunk = Math.max(1, current.records.length >>> 1); chunk >= 1; chunk >>>= 1) {
    let start = 0;
    while (start < current.records.length && budget.remaining > 0) {
      const reduced = removeSoundly(current, current.records.slice(start, start + chunk));
      if (reduced.records.length < current.records.length && violates(reduced, budget)) current = reduced;
      else start += chunk;
    }
  }
  return current;
}

/**
 * Removes from `window` those operations of `chosen` whose removal is a weakening: if the window
 * was linearizable, it stays so. That holds for
 * - operations without effect: completed gets and failed cas, and indeterminate gets;
 * - writes of a value nothing in the window observes (no completed get or cas returned it, no
 *   indeterminate cas expects it): in any linearization nothing reads the register between such a
 *   write and the next one, so the write can be left out (the argument of
 *   {@link withoutUnobservedIndeterminateWrites}, which holds for completed writes too).
 * Removing observers can make more writes unobserved, so writes are removed to a fixpoint.
 * @internal exported for the soundness tests of the shrinking steps.
 */
export function removeSoundly(window: HistoryWindow, chosen: readonly OperationRecord[]): HistoryWindow {
  const candidates = new Set(chosen);
  const hasNoEffect = (r: OperationRecord) =>
    r.kind === "get" || (r.kind === "cas" && isDeterminateIn(r, window) && (r.result as { ok: boolean }).ok === false);
  let records = window.records.filter((r) => !(candidates.has(r) && hasNoEffect(r)));
  for (;;) {
    const observed = new Set<string | null>();
    for (const r of records) {
      if (r.kind !== "put" && isDeterminateIn(r, window)) observed.add((r.result as { value: string | null }).value);
      if (r.kind === "cas" && !isDeterminateIn(r, window)) observed.add(r.expected as string | null);
    }
    const kept = records.filter((r) => !(candidates.has(r) && !hasNoEffect(r) && !observed.has(r.value as string)));
    if (kept.length === records.length) return { ...window, records };
    records = kept;
  }
}

function narrate(key: string, window: Window, budget: Budget): string {
  const prepared = prepare(window);
  const deepest = search(prepared.ops, window.anyInitialValue ? anyValue : absentValue, budget.remaining).deepest;
  const start = window.anyInitialValue
    ? "from any starting value (every earlier operation had completed before these began)"
    : "starting from an absent key";
  const lines = [
    `key ${JSON.stringify(key)}: no order of these ${window.records.length} operations that respects real time ` +
      `is consistent with a sequential register ${start}.`,
  ];
  if (deepest.blocked >= 0) {
    const blocked = prepared.ops[deepest.blocked].record;
    lines.push(
      `Best attempt: ${deepest.linearized} operation(s) ordered, the key then holding ${prepared.valueName(deepest.value)}; ` +
        `${describe(blocked, window.indeterminateAfterMs)} could not take effect before it completed at ${blocked.completeMs} ms.`,
    );
  }
  lines.push("Operations (virtual ms):");
  for (const record of window.records) lines.push(`  ${describe(record, window.indeterminateAfterMs)}`);
  return lines.join("\n");
}

/** E.g. `#12 client 3 cas("k", "1" → "2") → {ok:false, value:"7"} [40..55 ms]`. */
function describe(record: OperationRecord, indeterminateAfterMs: number): string {
  const key = JSON.stringify(record.key);
  const call =
    record.kind === "put"
      ? `put(${key}, ${JSON.stringify(record.value)})`
      : record.kind === "get"
        ? `get(${key})`
        : `cas(${key}, ${JSON.stringify(record.expected)} → ${JSON.stringify(record.value)})`;
  const completed = record.outcome === "ok" && (record.completeMs as number) <= indeterminateAfterMs;
  let outcome: string;
  if (!completed) {
    outcome =
      record.outcome === "ok"
        ? "→ (still running when the window ends)"
        : "→ ? (indeterminate: may or may not have happened)";
  } else if (record.kind === "put") {
    outcome = "→ ok";
  } else if (record.kind === "get") {
    outcome = `→ ${JSON.stringify((record.result as { value: string | null }).value)}`;
  } else {
    const result = record.result as { ok: boolean; value: string | null };
    outcome = `→ {ok:${result.ok}, value:${JSON.stringify(result.value)}}`;
  }
  const end = completed ? `${record.completeMs}` : "open";
  return `#${record.id} client ${record.client} ${call} ${outcome} [${record.invokeMs}..${end} ms]`;
}

function assertValidOperations(operations: readonly OperationRecord[]): void {
  for (const record of operations) {
    if (record.outcome === "ok") {
      if (record.completeMs === null || record.completeMs < record.invokeMs || record.result === undefined) {
        throw new Error(`operation ${record.id}: an ok operation needs a result and completeMs >= invokeMs`);
      }
    }
    if (record.kind !== "get" && typeof record.value !== "string") {
      throw new Error(`operation ${record.id}: a ${record.kind} needs a string value`);
    }
    if (record.kind === "cas" && record.expected === undefined) {
      throw new Error(`operation ${record.id}: a cas needs an expected value (a string, or null for absent)`);
    }
  }
}
