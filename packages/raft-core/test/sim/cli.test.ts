import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CliIo, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION, main } from "../../src/sim/cli.js";
import type { Fault } from "../../src/sim/fault-schedule.js";
import { History } from "../../src/sim/history.js";
import { scenarioToJson } from "../../src/sim/scenario-file.js";
import { runSimulation, type SimulationResult } from "../../src/sim/simulation.js";

interface Captured {
  readonly io: CliIo;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output; the wall clock advances 100 ms per reading. */
function capture(options: { tty?: boolean } = {}): Captured {
  let wall = 0;
  const captured: Captured = {
    stdout: "",
    stderr: "",
    io: {
      stdout: (text) => {
        captured.stdout += text;
      },
      stderr: (text) => {
        captured.stderr += text;
      },
      stderrIsTty: options.tty === true,
      wallMs: () => (wall += 100),
      readFile: (path) => readFileSync(path, "utf8"),
      writeFile: (path, text) => writeFileSync(path, text),
    },
  };
  return captured;
}

async function cli(args: string[], options: { tty?: boolean } = {}): Promise<Captured & { code: number }> {
  const captured = capture(options);
  const code = await main(args, captured.io);
  return Object.assign(captured, { code });
}

const workDir = mkdtempSync(join(tmpdir(), "raft-sim-cli-"));

describe("raft-sim run", () => {
  it("--json prints the result as JSON on stdout and wall-clock figures only on stderr", async () => {
    const out = await cli(["run", "--seed", "5", "--nodes", "3", "--ticks", "150", "--faults", "standard", "--json"]);
    expect(out.code, out.stdout + out.stderr).toBe(EXIT_OK);
    const result = JSON.parse(out.stdout) as SimulationResult;
    expect(result.ok).toBe(true);
    expect(result.seed).toBe(5);
    expect(result.options.nodes).toBe(3);
    expect(out.stdout).not.toMatch(/wall|real time|events\/s/);
    expect(out.stderr).toMatch(/wall \d+\.\d\d s, [\d.]+x real time, \d+ events\/s/);
    // The CLI runs exactly what the library runs.
    const direct = await runSimulation({ seed: 5, nodes: 3, ticks: 150, faults: "standard" });
    expect(result.traceHash).toBe(direct.traceHash);
  });

  it("--connection-resets and --leader-wait reach the run and its repro command", async () => {
    const args = ["--seed", "3", "--nodes", "3", "--ticks", "150", "--faults", "standard"];
    const out = await cli(["run", ...args, "--connection-resets", "on", "--leader-wait", "400", "--json"]);
    expect(out.code, out.stdout + out.stderr).toBe(EXIT_OK);
    const result = JSON.parse(out.stdout) as SimulationResult;
    expect(result.options.connectionResets).toBe(true);
    expect(result.options.leaderWaitMs).toBe(400);
    const direct = await runSimulation({
      seed: 3,
      nodes: 3,
      ticks: 150,
      faults: "standard",
      connectionResets: true,
      leaderWaitMs: 400,
    });
    expect(result.traceHash).toBe(direct.traceHash);
    // A failing run's repro command carries both.
    const failing = ["--nodes", "3", "--ticks", "100", "--faults", "none", "--op-timeout", "1"];
    const failed = await cli(["run", "--seed", "12", ...failing, "--connection-resets", "off", "--leader-wait", "50"]);
    expect(failed.code).toBe(EXIT_VIOLATION);
    expect(failed.stdout).toContain("--op-timeout 1 --connection-resets off --leader-wait 50");
    expect((await cli(["run", ...args, "--connection-resets", "maybe"])).code).toBe(EXIT_USAGE);
    expect((await cli(["run", ...args, "--leader-wait", "-5"])).code).toBe(EXIT_USAGE);
  });

  it("prints a human summary by default and draws a progress bar only on a terminal", async () => {
    const plain = await cli(["run", "--seed", "2", "--nodes", "3", "--ticks", "120"]);
    expect(plain.code).toBe(EXIT_OK);
    expect(plain.stdout).toMatch(/raft-sim run: seed 2, 3 nodes, 120 ticks/);
    expect(plain.stdout).toMatch(/result: +OK/);
    expect(plain.stdout).toMatch(/trace hash: +[0-9a-f]{16}/);
    expect(plain.stderr).not.toContain("\r");
    const tty = await cli(["run", "--seed", "2", "--nodes", "3", "--ticks", "120"], { tty: true });
    expect(tty.stderr).toContain("\r");
    expect(tty.stderr).toMatch(/seed 2 \[[#.]+\]/);
    expect(tty.stdout).toBe(plain.stdout);
  });

  it("--history writes the client history as JSON lines and --trace the trace ending with its hash", async () => {
    const historyPath = join(workDir, "history.jsonl");
    const tracePath = join(workDir, "trace.txt");
    const out = await cli([
      "run",
      "--seed",
      "3",
      "--nodes",
      "3",
      "--ticks",
      "100",
      "--json",
      "--history",
      historyPath,
      "--trace",
      tracePath,
    ]);
    expect(out.code).toBe(EXIT_OK);
    const result = JSON.parse(out.stdout) as SimulationResult;
    const history = History.fromJsonLines(readFileSync(historyPath, "utf8"));
    expect(history.operations()).toHaveLength(result.stats.ops.invoked);
    const trace = readFileSync(tracePath, "utf8").trimEnd().split("\n");
    expect(trace[trace.length - 1]).toBe(`trace hash ${result.traceHash}`);
    expect(trace.length - 1).toBe(result.stats.traceRecords);
  });

  it("--schedule replays a scenario file exactly (same trace hash as the run that wrote it)", async () => {
    const schedule: Fault[] = [
      { atMs: 200, kind: "crash", node: "n2" },
      { atMs: 400, kind: "partition", groups: [["n1"], ["n2", "n3"]] },
      { atMs: 900, kind: "heal" },
      { atMs: 1_000, kind: "restart", node: "n2" },
    ];
    const original = await runSimulation({ seed: 31, nodes: 3, ticks: 150, schedule });
    const path = join(workDir, "scenario.json");
    writeFileSync(path, scenarioToJson({ seed: 31, nodes: 3, ticks: 150, schedule }));
    const first = await cli(["run", "--schedule", path, "--json"]);
    const second = await cli(["run", "--schedule", path, "--json"]);
    expect(first.code).toBe(EXIT_OK);
    expect(JSON.parse(first.stdout).traceHash).toBe(original.traceHash);
    expect(second.stdout).toBe(first.stdout);
    expect(JSON.parse(first.stdout).options.faults).toBe("explicit");
  });
});

describe("raft-sim run with disk faults", () => {
  it("replays a scenario's snapshot settings and reports a node halted by a bit flip", async () => {
    const schedule: Fault[] = [
      { atMs: 600, kind: "torn-write", node: "n3" },
      { atMs: 900, kind: "restart", node: "n3" },
      { atMs: 1_000, kind: "crash", node: "n2" },
      { atMs: 1_000, kind: "bit-flip", node: "n2" },
      { atMs: 1_200, kind: "restart", node: "n2" },
    ];
    const scenario = { seed: 4, nodes: 3, ticks: 150, snapshotEveryEntries: 10, snapshotTrailingEntries: 5, schedule };
    const path = join(workDir, "disk-faults.json");
    writeFileSync(path, scenarioToJson(scenario));
    const json = await cli(["run", "--schedule", path, "--json"]);
    const result = JSON.parse(json.stdout) as SimulationResult;
    expect(result.options.snapshotEveryEntries).toBe(10);
    expect(result.options.snapshotTrailingEntries).toBe(5);
    expect(json.code, json.stdout).toBe(EXIT_OK);
    expect(result.halted.map((halt) => halt.node)).toEqual(["n2"]);
    const human = await cli(["run", "--schedule", path]);
    expect(human.stdout).toMatch(
      /disks: +1 torn writes \(1 torn tails discarded at restart\), 1 bits flipped, 1 node halted/,
    );
    expect(human.stdout).toMatch(/halted: +node n2 at 1200 ms: corruption detected at /);
  });
});

describe("a failing run", () => {
  // A 1 ms operation timeout is shorter than any round trip, so no operation can succeed after the
  // faults stop: the liveness check fails (a real check failing, not a mock).
  const failing = ["--nodes", "3", "--ticks", "100", "--faults", "none", "--op-timeout", "1"];

  it("run exits 1, lists the violations and prints the seed and the command that reproduces it", async () => {
    const out = await cli(["run", "--seed", "12", ...failing]);
    expect(out.code).toBe(EXIT_VIOLATION);
    expect(out.stdout).toMatch(/result: +FAILED/);
    expect(out.stdout).toMatch(/\[liveness\]/);
    const repro = "raft-sim run --seed 12 --nodes 3 --ticks 100 --faults none --rate 100 --op-timeout 1";
    expect(out.stdout).toContain(`reproduce: ${repro}`);
    expect(out.stderr).toContain(`FAILED: seed 12. Reproduce with:\n  ${repro}`);
    // The printed command reproduces the run exactly.
    const again = await cli([...repro.split(" ").slice(1), "--json"]);
    const first = await cli(["run", "--seed", "12", ...failing, "--json"]);
    expect(again.code).toBe(EXIT_VIOLATION);
    expect(JSON.parse(again.stdout).traceHash).toBe(JSON.parse(first.stdout).traceHash);
  });

  it("search exits 1 listing every failing seed with its repro command", async () => {
    const out = await cli(["search", "--seeds", "1,2", ...failing]);
    expect(out.code).toBe(EXIT_VIOLATION);
    expect(out.stdout).toMatch(/2 seeds, 0 ok, 2 failed/);
    expect(out.stdout).toContain("reproduce: raft-sim run --seed 1 --nodes 3");
    expect(out.stdout).toContain("reproduce: raft-sim run --seed 2 --nodes 3");
    expect(out.stderr).toMatch(/FAILED seeds: 1, 2/);
  });
});

describe("raft-sim search", () => {
  it("runs every seed, reports progress as plain lines without a terminal, and summarises", async () => {
    const out = await cli(["search", "--seeds", "1..3", "--nodes", "3", "--ticks", "100"]);
    expect(out.code, out.stdout + out.stderr).toBe(EXIT_OK);
    expect(out.stdout).toMatch(/raft-sim search: 3 seeds, 3 ok, 0 failed/);
    expect(out.stderr).toMatch(/search: 3\/3 \(100%\)/);
    expect(out.stderr).not.toContain("\r");
  });

  it("--json prints the failing seeds (none here) as JSON", async () => {
    const out = await cli([
      "search",
      "--seeds",
      "4,6",
      "--nodes",
      "3",
      "--ticks",
      "100",
      "--faults",
      "heavy",
      "--json",
    ]);
    expect(out.code).toBe(EXIT_OK);
    expect(JSON.parse(out.stdout)).toEqual({ ok: true, seeds: 2, failed: [] });
  });
});

describe("bad usage exits 2 with a clear message", () => {
  it.each([
    [[], /missing command: run or search/],
    [["walk"], /unknown command "walk"/],
    [["run", "--speed", "3"], /unknown flag --speed/],
    [["run", "--nodes", "0"], /--nodes must be in \[1, 9\], got 0/],
    [["run", "--nodes", "many"], /--nodes must be an integer, got "many"/],
    [["run", "--ticks"], /--ticks needs a value/],
    [["run", "--faults", "chaos"], /--faults must be one of none, standard, heavy, got "chaos"/],
    [["run", "--seed", "1", "--seed", "2"], /--seed is given twice/],
    [["run", "--seeds", "1..3"], /--seeds belongs to search/],
    [["run", "--json=yes"], /--json takes no value/],
    [["search"], /search needs --seeds/],
    [["search", "--seeds", "5..1"], /not a valid range/],
    [["search", "--seeds", "1..x"], /is not a seed or a range/],
    [["search", "--seeds", "1..2", "--history", "h.jsonl"], /--history belongs to run/],
    [["run", "--schedule", "/nonexistent/scenario.json"], /--schedule: cannot read \/nonexistent\/scenario.json/],
  ])("%j", async (args, message) => {
    const out = await cli(args as string[]);
    expect(out.code).toBe(EXIT_USAGE);
    expect(out.stderr).toMatch(message);
    expect(out.stderr).toMatch(/raft-sim --help/);
    expect(out.stdout).toBe("");
  });

  it("rejects an invalid scenario file, naming the field, and flags that contradict it", async () => {
    const bad = join(workDir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({ seed: 1, nodes: 3, ticks: 10, schedule: [{ atMs: 5, kind: "crash", node: "n7" }] }),
    );
    const out = await cli(["run", "--schedule", bad]);
    expect(out.code).toBe(EXIT_USAGE);
    expect(out.stderr).toMatch(/schedule\[0\]\.node: "n7" is not a node of this cluster/);
    const good = join(workDir, "good.json");
    writeFileSync(good, scenarioToJson({ seed: 1, nodes: 3, ticks: 10, schedule: [] }));
    const contradiction = await cli(["run", "--schedule", good, "--nodes", "5"]);
    expect(contradiction.code).toBe(EXIT_USAGE);
    expect(contradiction.stderr).toMatch(/--nodes 5 contradicts .*good\.json, which says 3/);
  });
});

describe("raft-sim --help", () => {
  it("documents every flag and its default", async () => {
    const out = await cli(["--help"]);
    expect(out.code).toBe(EXIT_OK);
    for (const flag of [
      "--seed ",
      "--seeds",
      "--nodes",
      "--ticks",
      "--faults",
      "--rate",
      "--op-timeout",
      "--snapshot-every",
      "--snapshot-trailing",
      "--connection-resets",
      "--leader-wait",
      "--schedule",
      "--history",
      "--trace",
      "--json",
      "--help",
    ]) {
      expect(out.stdout).toContain(flag);
    }
    for (const fallback of ["default 1", "default 5", "default 3000", "default standard", "default 100"]) {
      expect(out.stdout).toContain(fallback);
    }
    expect((await cli(["run", "--help"])).stdout).toBe(out.stdout);
  });
});
