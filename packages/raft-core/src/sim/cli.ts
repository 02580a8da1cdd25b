import { readFileSync, writeFileSync } from "node:fs";
import { FAULT_PROFILES, type FaultProfile, type FaultSchedule } from "./fault-schedule.js";
import { ProgressBar } from "./progress-bar.js";
import { parseScenario } from "./scenario-file.js";
import { MAX_NODES } from "./sim-cluster.js";
import {
  DEFAULT_FAULT_PROFILE,
  DEFAULT_SIM_NODES,
  DEFAULT_SIM_SNAPSHOT_TRAILING_ENTRIES,
  DEFAULT_SIM_TICKS,
  runSimulationDetailed,
  type SimulationOptions,
  type SimulationResult,
} from "./simulation.js";
import { DEFAULT_OP_TIMEOUT_MS, DEFAULT_RATE_OPS_PER_SECOND } from "./workload.js";

/** Exit codes of `raft-sim`. */
export const EXIT_OK = 0;
export const EXIT_VIOLATION = 1;
export const EXIT_USAGE = 2;
/** Seeds one `search` may run, so a typo like `1..10000000` fails fast instead of running for days. */
export const MAX_SEARCH_SEEDS = 1_000_000;
const DEFAULT_SEED = 1;

/** What the CLI touches outside itself; tests pass their own to capture output. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** True when stderr is a terminal (progress bars redraw in place). */
  readonly stderrIsTty: boolean;
  /** Wall-clock milliseconds, for the figures printed on stderr only (never in a result). */
  readonly wallMs: () => number;
  readonly readFile: (path: string) => string;
  readonly writeFile: (path: string, text: string) => void;
}

const USAGE = `raft-sim: deterministic simulation of a Raft cluster (@lectern/raft-core)

Usage:
  raft-sim run    [--seed S] [--nodes N] [--ticks T] [--faults PROFILE] [--rate OPS]
                  [--op-timeout MS] [--snapshot-every E] [--snapshot-trailing K]
                  [--sessions on|off] [--connection-resets on|off] [--leader-wait MS]
                  [--schedule FILE] [--history FILE] [--trace FILE] [--json]
  raft-sim search --seeds RANGE [--nodes N] [--ticks T] [--faults PROFILE] [--rate OPS]
                  [--op-timeout MS] [--snapshot-every E] [--snapshot-trailing K]
                  [--sessions on|off] [--connection-resets on|off] [--leader-wait MS]
                  [--schedule FILE] [--json]
  raft-sim --help

run     simulates one seed: a safety phase of T ticks with faults and a client workload, then a
        convergence phase (faults off) that must elect a leader, serve every operation and end with
        identical replicas. Checks Raft safety after every instant and linearizability at the end.
search  runs \`run\` for every seed in RANGE and lists the failing seeds with their repro commands.

Options:
  --seed S            seed of the run (any safe integer)                        default ${DEFAULT_SEED}
  --seeds RANGE       search only: seeds as A..B, single seeds and commas, e.g. 1..1000 or 3,7,10..20
  --nodes N           cluster size, 1..${MAX_NODES}                                         default ${DEFAULT_SIM_NODES}
  --ticks T           safety phase length in ticks of 10 ms                      default ${DEFAULT_SIM_TICKS}
  --faults PROFILE    generated fault schedule: ${FAULT_PROFILES.join(" | ")}         default ${DEFAULT_FAULT_PROFILE}
                      (both add membership changes: new learners, promotions,
                      removals, replacements; heavy adds torn writes and bit flips:
                      a node that detects a flip halts for good and the run reports it)
  --rate OPS          client operations per virtual second (0 = no workload)    default ${DEFAULT_RATE_OPS_PER_SECOND}
  --op-timeout MS     timeout of every client operation, in virtual ms          default ${DEFAULT_OP_TIMEOUT_MS}
  --snapshot-every E  every node snapshots and compacts its log every E applied
                      entries (0 = never; a scenario file may set it)          default 0
  --snapshot-trailing K  entries kept behind each snapshot                      default ${DEFAULT_SIM_SNAPSHOT_TRAILING_ENTRIES}
  --sessions on|off   client sessions: clients register and retry writes with the
                      same sequence (off: plain proposals, never retried)      default on
  --connection-resets on|off  a crashed node's peers hear its connections reset, and
                      followers then campaign early (RaftCore.reportUnreachable)  default off
  --leader-wait MS    every node's leaderWaitMs: a call that meets an election, or
                      a leader that just stepped down, waits this long for the
                      new leader (0 = refused at once)                          default 0
  --schedule FILE     replay a scenario file {seed, nodes, ticks, rate?, snapshotEveryEntries?,
                      snapshotTrailingEntries?, sessions?, schedule} instead of a generated schedule (seed,
                      nodes and ticks come from the file; with search, the file's schedule is run
                      under every seed of --seeds)
  --history FILE      run only: write the client history as JSON lines (docs/history-format.md)
  --trace FILE        run only: write the trace (every delivered message, role change, operation
                      and fault) as text lines, ending with the trace hash
  --json              print the result as JSON on stdout (no wall-clock figures in it)
  --help, -h          show this help

Output: a summary (or JSON) on stdout; progress and wall-clock figures (elapsed, simulated time per
wall time, events per second) on stderr. Exit status: 0 ok, 1 a check failed (the seed and the
command that reproduces it are printed), 2 bad usage.
`;

/** A bad command line: printed with a pointer to --help, exit status 2. */
class UsageError extends Error {}

interface ParsedArgs {
  readonly command: "run" | "search" | "help";
  readonly flags: ReadonlyMap<string, string>;
}

const VALUE_FLAGS = new Set([
  "seed",
  "seeds",
  "nodes",
  "ticks",
  "faults",
  "rate",
  "op-timeout",
  "snapshot-every",
  "snapshot-trailing",
  "sessions",
  "connection-resets",
  "leader-wait",
  "schedule",
  "history",
  "trace",
]);
const BOOLEAN_FLAGS = new Set(["json", "help"]);

/**
 * The `raft-sim` command line. Returns the exit status (0 ok, 1 a check failed, 2 bad usage)
 * instead of exiting, so tests can run it in-process.
 * @example process.exitCode = await main(["run", "--seed", "7", "--ticks", "500"]);
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv);
    if (parsed.command === "help") {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    return parsed.command === "run" ? await runCommand(parsed.flags, io) : await searchCommand(parsed.flags, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`raft-sim: ${error.message}\nRun 'raft-sim --help' for the flags and their defaults.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTty: process.stderr.isTTY === true,
    // determinism-allow: performance (wall-clock figures for stderr only; never part of a result)
    wallMs: () => performance.now(),
    readFile: (path) => readFileSync(path, "utf8"),
    writeFile: (path, text) => writeFileSync(path, text),
  };
}

// ---- argument parsing -----------------------------------------------------------------------------

function parseArgs(argv: readonly string[]): ParsedArgs {
  const flags = new Map<string, string>();
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-h") {
      flags.set("help", "true");
      continue;
    }
    if (!arg.startsWith("--")) {
      if (command !== undefined) throw new UsageError(`unexpected argument "${arg}"`);
      command = arg;
      continue;
    }
    const equals = arg.indexOf("=");
    const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
    if (BOOLEAN_FLAGS.has(name)) {
      if (equals >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, "true");
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new UsageError(`unknown flag --${name}`);
    let value: string | undefined;
    if (equals >= 0) value = arg.slice(equals + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || value === "" || (equals < 0 && value.startsWith("--"))) {
      throw new UsageError(`--${name} needs a value`);
    }
    if (flags.has(name)) throw new UsageError(`--${name} is given twice`);
    flags.set(name, value);
  }
  if (flags.has("help") || command === "help") return { command: "help", flags };
  if (command === undefined) throw new UsageError("missing command: run or search");
  if (command !== "run" && command !== "search")
    throw new UsageError(`unknown command "${command}" (use run or search)`);
  return { command, flags };
}

function integerFlag(
  flags: ReadonlyMap<string, string>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = flags.get(name);
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} must be an integer, got "${text}"`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be in [${min}, ${max}], got ${text}`);
  }
  return value;
}

function faultsFlag(flags: ReadonlyMap<string, string>): FaultProfile {
  const text = flags.get("faults") ?? DEFAULT_FAULT_PROFILE;
  if (!(FAULT_PROFILES as readonly string[]).includes(text)) {
    throw new UsageError(`--faults must be one of ${FAULT_PROFILES.join(", ")}, got "${text}"`);
  }
  return text as FaultProfile;
}

/** Parses `1..1000`, `7`, `3,7,10..20` into seeds in the given order, duplicates removed. */
function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  const seen = new Set<number>();
  for (const part of text.split(",")) {
    const match = /^(-?\d+)(?:\.\.(-?\d+))?$/.exec(part.trim());
    if (match === null) throw new UsageError(`--seeds: "${part}" is not a seed or a range like 1..100`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from) {
      throw new UsageError(`--seeds: "${part}" is not a valid range (A..B needs A <= B)`);
    }
    if (to - from + 1 + seeds.length > MAX_SEARCH_SEEDS) {
      throw new UsageError(`--seeds: more than ${MAX_SEARCH_SEEDS} seeds`);
    }
    for (let seed = from; seed <= to; seed++) {
      if (seen.has(seed)) continue;
      seen.add(seed);
      seeds.push(seed);
    }
  }
  return seeds;
}

/** The options shared by run and search; `seed` is filled in per run. */
interface BaseOptions {
  readonly options: Omit<SimulationOptions, "seed">;
  /** Seed from --seed or the scenario file. */
  readonly seed: number;
  readonly schedulePath: string | undefined;
}

function baseOptions(flags: ReadonlyMap<string, string>, io: CliIo): BaseOptions {
  const rateFlag = flags.has("rate")
    ? integerFlag(flags, "rate", DEFAULT_RATE_OPS_PER_SECOND, 0, 1_000_000)
    : undefined;
  const snapshotEveryFlag = flags.has("snapshot-every")
    ? integerFlag(flags, "snapshot-every", 0, 0, Number.MAX_SAFE_INTEGER)
    : undefined;
  const snapshotTrailingEntries = flags.has("snapshot-trailing")
    ? integerFlag(flags, "snapshot-trailing", 0, 0, Number.MAX_SAFE_INTEGER)
    : undefined;
  const opTimeoutMs = integerFlag(flags, "op-timeout", DEFAULT_OP_TIMEOUT_MS, 1, Number.MAX_SAFE_INTEGER);
  const sessionsFlag = flags.get("sessions");
  if (sessionsFlag !== undefined && sessionsFlag !== "on" && sessionsFlag !== "off") {
    throw new UsageError(`--sessions must be on or off, got "${sessionsFlag}"`);
  }
  const sessions = sessionsFlag === undefined ? undefined : sessionsFlag === "on";
  const resetsFlag = flags.get("connection-resets");
  if (resetsFlag !== undefined && resetsFlag !== "on" && resetsFlag !== "off") {
    throw new UsageError(`--connection-resets must be on or off, got "${resetsFlag}"`);
  }
  const connectionResets = resetsFlag === undefined ? undefined : resetsFlag === "on";
  const leaderWaitMs = flags.has("leader-wait")
    ? integerFlag(flags, "leader-wait", 0, 0, Number.MAX_SAFE_INTEGER)
    : undefined;
  const schedulePath = flags.get("schedule");
  if (schedulePath === undefined) {
    return {
      seed: integerFlag(flags, "seed", DEFAULT_SEED, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      schedulePath,
      options: {
        nodes: integerFlag(flags, "nodes", DEFAULT_SIM_NODES, 1, MAX_NODES),
        ticks: integerFlag(flags, "ticks", DEFAULT_SIM_TICKS, 1, Number.MAX_SAFE_INTEGER),
        faults: faultsFlag(flags),
        rate: rateFlag ?? DEFAULT_RATE_OPS_PER_SECOND,
        opTimeoutMs,
        snapshotEveryEntries: snapshotEveryFlag ?? 0,
        snapshotTrailingEntries,
        sessions,
        connectionResets,
        leaderWaitMs,
      },
    };
  }
  if (flags.has("faults"))
    throw new UsageError("--faults and --schedule exclude each other: the file gives the schedule");
  let text: string;
  try {
    text = io.readFile(schedulePath);
  } catch (error) {
    throw new UsageError(`--schedule: cannot read ${schedulePath}: ${(error as Error).message}`);
  }
  let scenario: ReturnType<typeof parseScenario>;
  try {
    scenario = parseScenario(text, schedulePath);
  } catch (error) {
    throw new UsageError(`--schedule: ${(error as Error).message}`);
  }
  // The file decides; a flag that says something else is a mistake worth stopping for.
  for (const [flag, value] of [
    ["seed", scenario.seed],
    ["nodes", scenario.nodes],
    ["ticks", scenario.ticks],
  ] as const) {
    const given = flags.get(flag);
    if (given !== undefined && Number(given) !== value) {
      throw new UsageError(`--${flag} ${given} contradicts ${schedulePath}, which says ${value}; drop the flag`);
    }
  }
  const schedule: FaultSchedule = scenario.schedule;
  return {
    seed: scenario.seed,
    schedulePath,
    options: {
      nodes: scenario.nodes,
      ticks: scenario.ticks,
      schedule,
      rate: rateFlag ?? scenario.rate ?? DEFAULT_RATE_OPS_PER_SECOND,
      opTimeoutMs,
      snapshotEveryEntries: snapshotEveryFlag ?? scenario.snapshotEveryEntries ?? 0,
      snapshotTrailingEntries: snapshotTrailingEntries ?? scenario.snapshotTrailingEntries,
      sessions: sessions ?? scenario.sessions,
      connectionResets,
      leaderWaitMs,
    },
  };
}

/** The command that reproduces one run exactly. */
function reproCommand(base: BaseOptions, seed: number): string {
  const o = base.options;
  const parts = ["raft-sim run"];
  if (base.schedulePath !== undefined) {
    parts.push(`--schedule ${shellQuote(base.schedulePath)}`);
    if (seed !== base.seed) parts.push(`--seed ${seed}`);
  } else {
    parts.push(`--seed ${seed}`, `--nodes ${o.nodes}`, `--ticks ${o.ticks}`, `--faults ${o.faults}`);
  }
  parts.push(`--rate ${o.rate}`);
  if (o.opTimeoutMs !== undefined && o.opTimeoutMs !== DEFAULT_OP_TIMEOUT_MS)
    parts.push(`--op-timeout ${o.opTimeoutMs}`);
  if ((o.snapshotEveryEntries ?? 0) > 0) parts.push(`--snapshot-every ${o.snapshotEveryEntries}`);
  if (o.snapshotTrailingEntries !== undefined) parts.push(`--snapshot-trailing ${o.snapshotTrailingEntries}`);
  if (o.sessions !== undefined) parts.push(`--sessions ${o.sessions ? "on" : "off"}`);
  if (o.connectionResets !== undefined) parts.push(`--connection-resets ${o.connectionResets ? "on" : "off"}`);
  if ((o.leaderWaitMs ?? 0) > 0) parts.push(`--leader-wait ${o.leaderWaitMs}`);
  return parts.join(" ");
}

function shellQuote(text: string): string {
  return /^[\w./:@-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

// ---- run ------------------------------------------------------------------------------------------

async function runCommand(flags: ReadonlyMap<string, string>, io: CliIo): Promise<number> {
  if (flags.has("seeds")) throw new UsageError("--seeds belongs to search; run takes --seed");
  const base = baseOptions(flags, io);
  const json = flags.has("json");
  const historyPath = flags.get("history");
  const tracePath = flags.get("trace");
  const seed = base.seed;
  // A bar only on a terminal: a single run is short enough that a log needs no progress lines.
  let bar: ProgressBar | undefined;
  const onProgress = (virtualMs: number, safetyPhaseMs: number) => {
    bar ??= new ProgressBar({ total: safetyPhaseMs, write: io.stderr, isTty: true, label: `seed ${seed}` });
    bar.update(virtualMs, "virtual ms of the safety phase");
  };
  const startedMs = io.wallMs();
  const run = await runSimulationDetailed({
    ...base.options,
    seed,
    keepTraceLines: tracePath !== undefined,
    onProgress: io.stderrIsTty ? onProgress : undefined,
  });
  const wallMs = io.wallMs() - startedMs;
  bar?.finish();
  const result = run.result;
  if (historyPath !== undefined) io.writeFile(historyPath, run.history.toJsonLines());
  if (tracePath !== undefined)
    io.writeFile(tracePath, `${(run.traceLines ?? []).join("\n")}\ntrace hash ${result.traceHash}\n`);
  io.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : humanSummary(result, reproCommand(base, seed)));
  io.stderr(`${wallFigures(wallMs, result.stats.virtualMs, result.stats.events)}\n`);
  if (result.ok) return EXIT_OK;
  io.stderr(`FAILED: seed ${seed}. Reproduce with:\n  ${reproCommand(base, seed)}\n`);
  return EXIT_VIOLATION;
}

function wallFigures(wallMs: number, virtualMs: number, events: number): string {
  const seconds = Math.max(wallMs, 1) / 1_000;
  const ratio = virtualMs / Math.max(wallMs, 1);
  return `wall ${seconds.toFixed(2)} s, ${ratio.toFixed(1)}x real time, ${Math.round(events / seconds)} events/s`;
}

function humanSummary(result: SimulationResult, repro: string): string {
  const o = result.options;
  const s = result.stats;
  const ops = s.ops;
  const lin = result.linearizability;
  const live = result.liveness;
  const conv = result.convergence;
  const dropped = Object.values(s.messages.dropped).reduce((sum, n) => sum + n, 0);
  const lines = [
    `raft-sim run: seed ${result.seed}, ${o.nodes} nodes, ${o.ticks} ticks (${s.safetyPhaseMs} ms of faults), faults ${o.faults}, ${o.rate} ops/s`,
    `  result:       ${result.ok ? "OK" : `FAILED (${result.violations.length} violation${result.violations.length === 1 ? "" : "s"})`}`,
    `  operations:   ${ops.invoked} invoked: ${ops.ok} ok, ${ops.fail} fail, ${ops.indeterminate} indeterminate (${ops.skipped} arrivals skipped)`,
    `  sessions:     ${o.sessions ? `on: ${s.sessions.registrations} registrations, ${s.sessions.retries} retries with the same sequence` : "off"}`,
    `  membership:   ${s.membership.calls} calls on the leader (${s.membership.ok} ok, ${s.membership.refused} refused), ${s.membership.declined} declined; voters at the end ${s.members.voters.join(" ")}${s.members.learners.length > 0 ? `, learners ${s.members.learners.join(" ")}` : ""}`,
    `  linearizable: ${lin.verdict} (${lin.operations} operations on ${lin.keys} keys${lin.unknownKeys > 0 ? `, ${lin.unknownKeys} undecided` : ""})`,
    `  after heal:   leader agreed after ${live.leaderAfterMs ?? "-"} ms, replicas caught up after ${live.caughtUpAfterMs ?? "-"} ms, ${live.opsAfterHeal.ok}/${live.opsAfterHeal.issued} operations ok`,
    `  replicas:     ${conv.identical ? `identical at applied index ${conv.appliedIndex}` : `NOT identical (${JSON.stringify(conv.digests)})`}`,
    `  cluster:      ${s.elections} elections, ${s.commits} committed, ${s.faultsApplied} faults (${s.crashes} crashes, ${s.restarts} restarts)`,
    `  snapshots:    ${s.snapshotsSaved} taken, ${s.snapshotsInstalled} installed from a leader`,
    `  disks:        ${s.tornWrites} torn writes (${s.tornTailsRecovered} torn tails discarded at restart), ${s.bitFlips} bits flipped, ${result.halted.length} node${result.halted.length === 1 ? "" : "s"} halted`,
    ...result.halted.map((halt) => `  halted:       node ${halt.node} at ${halt.atMs} ms: ${halt.detail}`),
    `  messages:     ${s.messages.sent} sent, ${s.messages.delivered} delivered, ${dropped} dropped, ${s.messages.duplicated} duplicated`,
    `  simulated:    ${s.events} events in ${s.virtualMs} ms of virtual time`,
    `  trace hash:   ${result.traceHash}`,
  ];
  if (!result.ok) {
    lines.push("violations:");
    for (const v of result.violations) {
      lines.push(
        `  - [${v.kind}]${v.atMs === null ? "" : ` at ${v.atMs} ms`}${v.node ? ` on ${v.node}` : ""}: ${v.detail}`,
      );
    }
    lines.push(`reproduce: ${repro}`);
  }
  return `${lines.join("\n")}\n`;
}

// ---- search ---------------------------------------------------------------------------------------

interface SearchFailure {
  readonly seed: number;
  readonly violations: SimulationResult["violations"];
  readonly repro: string;
}

async function searchCommand(flags: ReadonlyMap<string, string>, io: CliIo): Promise<number> {
  for (const flag of ["history", "trace", "seed"]) {
    if (flags.has(flag))
      throw new UsageError(`--${flag} belongs to run; search takes --seeds (re-run one seed with run)`);
  }
  const seedsText = flags.get("seeds");
  if (seedsText === undefined) throw new UsageError("search needs --seeds, e.g. --seeds 1..100");
  const seeds = parseSeeds(seedsText);
  const base = baseOptions(flags, io);
  const json = flags.has("json");
  const bar = new ProgressBar({ total: seeds.length, write: io.stderr, isTty: io.stderrIsTty, label: "search" });
  const failures: SearchFailure[] = [];
  const startedMs = io.wallMs();
  let virtualMs = 0;
  let events = 0;
  for (let i = 0; i < seeds.length; i++) {
    const seed = seeds[i] as number;
    const { result } = await runSimulationDetailed({ ...base.options, seed });
    virtualMs += result.stats.virtualMs;
    events += result.stats.events;
    if (!result.ok) failures.push({ seed, violations: result.violations, repro: reproCommand(base, seed) });
    bar.update(i + 1, `${failures.length} failing`);
  }
  bar.finish();
  const wall = wallFigures(io.wallMs() - startedMs, virtualMs, events);
  if (json) {
    io.stdout(`${JSON.stringify({ ok: failures.length === 0, seeds: seeds.length, failed: failures }, null, 2)}\n`);
  } else {
    const lines = [
      `raft-sim search: ${seeds.length} seeds, ${seeds.length - failures.length} ok, ${failures.length} failed`,
    ];
    for (const failure of failures) {
      const first = failure.violations[0];
      lines.push(`  seed ${failure.seed}: ${first === undefined ? "failed" : `[${first.kind}] ${first.detail}`}`);
      lines.push(`    reproduce: ${failure.repro}`);
    }
    io.stdout(`${lines.join("\n")}\n`);
  }
  io.stderr(`${wall}\n`);
  if (failures.length === 0) return EXIT_OK;
  io.stderr(`FAILED seeds: ${failures.map((f) => f.seed).join(", ")}\n`);
  for (const failure of failures) io.stderr(`  ${failure.repro}\n`);
  return EXIT_VIOLATION;
}
