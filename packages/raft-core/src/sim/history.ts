import type { Clock } from "../runtime/clock.js";
import { isRaftError, type RaftErrorCode } from "../runtime/errors.js";
import type { KvCommand, KvCommandKind, KvResult } from "./kv-command.js";
import { isResultOfKind } from "./kv-command.js";
import { compareCodeUnits } from "./kv-state-machine.js";

/**
 * How an operation ended:
 * - "ok": completed with a result;
 * - "fail": definitely NOT applied (e.g. NotLeader, ProposalDropped, Overloaded);
 * - "indeterminate": may or may not have taken effect (timeout, OutcomeUnknown, still running when
 *   the history ended); its completion is open until the end of the history.
 */
export type OperationOutcome = "ok" | "fail" | "indeterminate";

/** One client operation on one key, as recorded by the simulator's workload. Times are virtual ms. */
export interface OperationRecord {
  /** Unique within the history; increasing in invocation order. */
  readonly id: number;
  /** The client (a logical process, one operation at a time) that issued the operation. */
  readonly client: number;
  readonly kind: KvCommandKind;
  readonly key: string;
  /** put: the value written; cas: the value written on success (`next`). Absent for get. */
  readonly value?: string;
  /** cas only: the value required for the swap; `null` means "the key is absent". */
  readonly expected?: string | null;
  readonly invokeMs: number;
  /** When the client saw the response (ok) or the error (fail); `null` for indeterminate. */
  readonly completeMs: number | null;
  readonly outcome: OperationOutcome;
  /** Present exactly when `outcome` is "ok". */
  readonly result?: KvResult;
}

/** The only thing a history needs from a clock. */
export type HistoryClock = Pick<Clock, "now">;

/** A malformed history file or a misuse of {@link History} (double completion, unknown id, time going back). */
export class HistoryFormatError extends Error {
  readonly code = "HISTORY_FORMAT";
  constructor(message: string) {
    super(message);
    this.name = "HistoryFormatError";
  }
}

/** Raft error codes that guarantee the command was not applied (see runtime/errors.ts). */
const notAppliedCodes: ReadonlySet<RaftErrorCode> = new Set<RaftErrorCode>([
  "NOT_LEADER",
  "PROPOSAL_DROPPED",
  "OVERLOADED",
  "ENTRY_TOO_LARGE",
  "READ_FAILED",
]);

/**
 * Maps an error from `RaftServer.propose()` / `read()` to a history outcome. Only codes documented as
 * "not applied" give "fail"; everything else (OutcomeUnknown, Stopped, unknown errors) is
 * "indeterminate", the safe choice: an indeterminate op is allowed to have happened or not.
 * @example outcomeForError(new NotLeaderError("")) // "fail"
 */
export function outcomeForError(error: unknown): "fail" | "indeterminate" {
  return isRaftError(error) && notAppliedCodes.has(error.code) ? "fail" : "indeterminate";
}

/** Stable field order of a JSON line; docs/history-format.md describes each field. */
const fieldOrder = [
  "id",
  "client",
  "kind",
  "key",
  "value",
  "expected",
  "invokeMs",
  "completeMs",
  "outcome",
  "result",
] as const;

/**
 * The client history of one run: every invocation and how it ended, in virtual time.
 *
 * @example
 * const history = new History(clock);
 * const id = history.invoke(1, putCommand("x", "1"));
 * history.complete(id, { ok: true });
 * checkLinearizability(history.operations());
 */
export class History {
  private readonly records: OperationRecord[] = [];
  /** Position in `records` by id; ids increase with position so this is also the invoke order. */
  private readonly positionById = new Map<number, number>();
  private readonly pending = new Set<number>();
  private nextId = 0;
  private lastMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: HistoryClock) {}

  /** Records the invocation of `command` by `client` now; returns the operation id. */
  invoke(client: number, command: KvCommand): number {
    if (!Number.isSafeInteger(client) || client < 0) {
      throw new HistoryFormatError(`client must be a non-negative integer, got ${client}`);
    }
    const id = this.nextId++;
    const base = { id, client, kind: command.kind, key: command.key };
    const fields =
      command.kind === "put"
        ? { ...base, value: command.value }
        : command.kind === "cas"
          ? { ...base, value: command.next, expected: command.expected }
          : base;
    this.append({ ...fields, invokeMs: this.now(), completeMs: null, outcome: "indeterminate" });
    this.pending.add(id);
    return id;
  }

  /** The operation returned `result` now. Throws if the result does not fit the operation's kind. */
  complete(id: number, result: KvResult): void {
    const record = this.pendingRecord(id);
    if (!isResultOfKind(record.kind, result)) {
      throw new HistoryFormatError(`operation ${id} is a ${record.kind}; ${JSON.stringify(result)} is not its result`);
    }
    this.pending.delete(id);
    this.replace(id, { ...record, completeMs: this.now(), outcome: "ok", result: copyResult(record.kind, result) });
  }

  /** The operation definitely did not take effect (NotLeader, ProposalDropped, Overloaded...). */
  fail(id: number): void {
    const record = this.pendingRecord(id);
    this.pending.delete(id);
    this.replace(id, { ...record, completeMs: this.now(), outcome: "fail" });
  }

  /** The operation may or may not have taken effect (timeout, OutcomeUnknown); it stays open forever. */
  indeterminate(id: number): void {
    this.pendingRecord(id);
    this.pending.delete(id);
  }

  /** Ends the operation with the outcome the error implies ({@link outcomeForError}). */
  settleWithError(id: number, error: unknown): void {
    if (outcomeForError(error) === "fail") this.fail(id);
    else this.indeterminate(id);
  }

  /** Operations invoked and not yet ended (they count as indeterminate if the history ends now). */
  pendingCount(): number {
    return this.pending.size;
  }

  /** Every operation in invocation order; still-pending ones appear as indeterminate. */
  operations(): readonly OperationRecord[] {
    return this.records.slice();
  }

  /** Operations grouped by key (keys in code-unit order, operations in invocation order). */
  byKey(): ReadonlyMap<string, readonly OperationRecord[]> {
    return groupByKey(this.records);
  }

  /** One JSON object per line, fields in a stable order, ending with a newline (docs/history-format.md). */
  toJsonLines(): string {
    let out = "";
    for (const record of this.records) out += `${recordToJson(record)}\n`;
    return out;
  }

  /**
   * Reads a history written by {@link History.toJsonLines}, validating every line. Throws
   * {@link HistoryFormatError} naming the line. Further invocations use `clock` (by default a clock
   * stopped at the latest time in the file).
   */
  static fromJsonLines(text: string, clock?: HistoryClock): History {
    const records = parseJsonLines(text);
    const latestMs = records.reduce((max, r) => Math.max(max, r.invokeMs, r.completeMs ?? r.invokeMs), 0);
    const history = new History(clock ?? { now: () => latestMs });
    for (const record of records) history.append(record);
    history.nextId = records.length === 0 ? 0 : records[records.length - 1].id + 1;
    // New operations may not be invoked before what the file already holds.
    if (records.length > 0) history.lastMs = latestMs;
    return history;
  }

  private append(record: OperationRecord): void {
    this.positionById.set(record.id, this.records.length);
    this.records.push(record);
  }

  /** The record of a pending operation; throws if `id` is unknown or has ended. */
  private pendingRecord(id: number): OperationRecord {
    if (!this.pending.has(id)) {
      const known = this.positionById.has(id);
      throw new HistoryFormatError(
        known ? `operation ${id} has already ended; an operation ends once` : `no operation with id ${id}`,
      );
    }
    return this.records[this.positionById.get(id) as number];
  }

  private replace(id: number, record: OperationRecord): void {
    this.records[this.positionById.get(id) as number] = record;
  }

  private now(): number {
    const ms = this.clock.now();
    if (!Number.isFinite(ms) || ms < this.lastMs) {
      throw new HistoryFormatError(`history clock went from ${this.lastMs} to ${ms}; it must be finite and monotonic`);
    }
    this.lastMs = ms;
    return ms;
  }
}

/** Groups operations by key: keys in code-unit order, operations in their given order. */
export function groupByKey(records: readonly OperationRecord[]): ReadonlyMap<string, readonly OperationRecord[]> {
  const groups = new Map<string, OperationRecord[]>();
  for (const record of records) {
    const group = groups.get(record.key);
    if (group) group.push(record);
    else groups.set(record.key, [record]);
  }
  const sorted = new Map<string, readonly OperationRecord[]>();
  for (const key of [...groups.keys()].sort(compareCodeUnits)) sorted.set(key, groups.get(key) as OperationRecord[]);
  return sorted;
}

/** Parses and validates JSON lines (blank lines are skipped); ids must increase. */
export function parseJsonLines(text: string): OperationRecord[] {
  const records: OperationRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const where = `history line ${i + 1}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new HistoryFormatError(`${where}: not JSON (${(error as Error).message})`);
    }
    const record = validateRecord(parsed, where);
    const previous = records[records.length - 1];
    if (previous !== undefined && record.id <= previous.id) {
      throw new HistoryFormatError(`${where}: id ${record.id} does not increase (previous id ${previous.id})`);
    }
    records.push(record);
  }
  return records;
}

function recordToJson(record: OperationRecord): string {
  const ordered: Record<string, unknown> = {};
  for (const field of fieldOrder) {
    const value = record[field];
    if (value !== undefined) ordered[field] = value;
  }
  return JSON.stringify(ordered);
}

/** Copies a result with its fields in the documented order and nothing else. */
function copyResult(kind: KvCommandKind, result: KvResult): KvResult {
  const fields = result as { ok?: boolean; value?: string | null };
  if (kind === "put") return { ok: true };
  if (kind === "get") return { value: fields.value ?? null };
  return { ok: fields.ok === true, value: fields.value ?? null };
}

function validateRecord(parsed: unknown, where: string): OperationRecord {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HistoryFormatError(`${where}: expected a JSON object`);
  }
  const fields = parsed as Record<string, unknown>;
  const fail = (problem: string): never => {
    throw new HistoryFormatError(`${where}: ${problem}`);
  };
  for (const name of Object.keys(fields)) {
    if (!(fieldOrder as readonly string[]).includes(name)) fail(`unknown field "${name}"`);
  }
  const { id, client, kind, key, value, expected, invokeMs, completeMs, outcome, result } = fields;
  if (!isNonNegativeInteger(id)) fail(`"id" must be a non-negative integer`);
  if (!isNonNegativeInteger(client)) fail(`"client" must be a non-negative integer`);
  if (kind !== "put" && kind !== "get" && kind !== "cas") fail(`"kind" must be "put", "get" or "cas"`);
  if (typeof key !== "string") fail(`"key" must be a string`);
  const typedKind = kind as KvCommandKind;
  if (typedKind === "get" ? value !== undefined : typeof value !== "string") {
    fail(typedKind === "get" ? `a get has no "value"` : `a ${typedKind} needs a string "value"`);
  }
  if (typedKind === "cas" ? expected !== null && typeof expected !== "string" : expected !== undefined) {
    fail(typedKind === "cas" ? `a cas needs "expected": a string or null` : `only a cas has "expected"`);
  }
  if (typeof invokeMs !== "number" || !Number.isFinite(invokeMs)) fail(`"invokeMs" must be a finite number`);
  if (outcome !== "ok" && outcome !== "fail" && outcome !== "indeterminate") {
    fail(`"outcome" must be "ok", "fail" or "indeterminate"`);
  }
  if (outcome === "indeterminate") {
    if (completeMs !== null) fail(`an indeterminate operation has "completeMs": null`);
  } else if (typeof completeMs !== "number" || !Number.isFinite(completeMs) || completeMs < (invokeMs as number)) {
    fail(`"completeMs" must be a finite number not before "invokeMs"`);
  }
  if (outcome === "ok" ? !isResultOfKind(typedKind, result) : result !== undefined) {
    fail(outcome === "ok" ? `"result" does not fit a ${typedKind}` : `only an ok operation has a "result"`);
  }
  const record: OperationRecord = {
    id: id as number,
    client: client as number,
    kind: typedKind,
    key: key as string,
    invokeMs: invokeMs as number,
    completeMs: completeMs as number | null,
    outcome: outcome as OperationOutcome,
  };
  return {
    ...record,
    ...(value !== undefined ? { value: value as string } : {}),
    ...(typedKind === "cas" ? { expected: expected as string | null } : {}),
    ...(outcome === "ok" ? { result: copyResult(typedKind, result as KvResult) } : {}),
  };
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
