import { type FaultSchedule, FaultScheduleError, scheduleToData, validateSchedule } from "./fault-schedule.js";
import { clusterNodeIds, MAX_NODES } from "./sim-cluster.js";

/**
 * A replayable failure: everything `raft-sim run --schedule FILE` needs to reproduce a run
 * exactly. The property tests write one under `.sim-failures/` when a run fails.
 *
 * JSON shape: `{ "seed": 7, "nodes": 5, "ticks": 400, "rate": 100, "snapshotEveryEntries": 10,
 * "snapshotTrailingEntries": 5, "sessions": false, "schedule": [ ...faults ] }` (`rate`, the
 * snapshot fields and `sessions` are optional and default to the simulator's defaults).
 */
export interface Scenario {
  readonly seed: number;
  readonly nodes: number;
  readonly ticks: number;
  /** Client operations per second; the simulator's default when absent. */
  readonly rate?: number;
  /** Snapshot and compact every this many applied entries; the simulator's default (never) when absent. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept behind a snapshot; the simulator's default when absent. */
  readonly snapshotTrailingEntries?: number;
  /** Client sessions on or off; the simulator's default (on) when absent. */
  readonly sessions?: boolean;
  readonly schedule: FaultSchedule;
}

/** The optional non-negative integer fields of a scenario, in file order. */
const OPTIONAL_FIELDS = ["rate", "snapshotEveryEntries", "snapshotTrailingEntries"] as const;
const ALLOWED_FIELDS = ["seed", "nodes", "ticks", ...OPTIONAL_FIELDS, "sessions", "schedule"];

/**
 * Parses and validates a scenario file's text. Throws {@link FaultScheduleError} naming the bad
 * field (and `source`, e.g. the file name, when given).
 * @example const scenario = parseScenario(readFileSync(path, "utf8"), path);
 */
export function parseScenario(text: string, source = "scenario"): Scenario {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FaultScheduleError(`${source}: not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FaultScheduleError(`${source}: expected an object {"seed", "nodes", "ticks", "schedule"}`);
  }
  const fields = parsed as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!ALLOWED_FIELDS.includes(name)) {
      throw new FaultScheduleError(`${source}: unknown field "${name}" (allowed: ${ALLOWED_FIELDS.join(", ")})`);
    }
  }
  const { seed, nodes, ticks, schedule } = fields;
  if (typeof seed !== "number" || !Number.isSafeInteger(seed)) {
    throw new FaultScheduleError(`${source}.seed: must be a safe integer, got ${JSON.stringify(seed)}`);
  }
  if (typeof nodes !== "number" || !Number.isSafeInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
    throw new FaultScheduleError(
      `${source}.nodes: must be an integer in [1, ${MAX_NODES}], got ${JSON.stringify(nodes)}`,
    );
  }
  if (typeof ticks !== "number" || !Number.isSafeInteger(ticks) || ticks < 1) {
    throw new FaultScheduleError(`${source}.ticks: must be a positive integer, got ${JSON.stringify(ticks)}`);
  }
  const optional: Partial<Record<(typeof OPTIONAL_FIELDS)[number], number>> = {};
  for (const name of OPTIONAL_FIELDS) {
    const value = fields[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new FaultScheduleError(`${source}.${name}: must be a non-negative integer, got ${JSON.stringify(value)}`);
    }
    optional[name] = value;
  }
  const sessions = fields.sessions;
  if (sessions !== undefined && typeof sessions !== "boolean") {
    throw new FaultScheduleError(`${source}.sessions: must be true or false, got ${JSON.stringify(sessions)}`);
  }
  let faults: FaultSchedule;
  try {
    faults = validateSchedule(schedule, { nodes: clusterNodeIds(nodes) });
  } catch (error) {
    throw new FaultScheduleError(`${source}: ${(error as Error).message}`);
  }
  return { seed, nodes, ticks, ...optional, ...(sessions === undefined ? {} : { sessions }), schedule: faults };
}

/** The scenario as JSON text with a stable field order (one fault per line), ending with a newline. */
export function scenarioToJson(scenario: Scenario): string {
  const faults = scheduleToData(scenario.schedule).map((fault) => `    ${JSON.stringify(fault)}`);
  const head = [`  "seed": ${scenario.seed}`, `  "nodes": ${scenario.nodes}`, `  "ticks": ${scenario.ticks}`];
  for (const name of OPTIONAL_FIELDS) {
    const value = scenario[name];
    if (value !== undefined) head.push(`  "${name}": ${value}`);
  }
  if (scenario.sessions !== undefined) head.push(`  "sessions": ${scenario.sessions}`);
  const schedule = faults.length === 0 ? `  "schedule": []` : `  "schedule": [\n${faults.join(",\n")}\n  ]`;
  return `{\n${[...head, schedule].join(",\n")}\n}\n`;
}
