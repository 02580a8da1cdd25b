#!/usr/bin/env node
// The root `pnpm test`: runs every package's tests through turbo, one package at a time (real-process
// election tests get flaky when packages compete for 2 cores), then prints the summary even when turbo
// failed, so the closing `N passed, N failed` line is always there. Exits non-zero if either failed.
//
// Old report.json files are deleted first: a package whose build breaks must show up as "no report",
// never as the green counts of an earlier run. A turbo cache hit restores report.json (it is a task
// output), so the counts survive caching. Extra arguments go to turbo, e.g. `pnpm test -- --force`.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const packagesDir = join(repoRoot, "packages");

for (const entry of readdirSync(packagesDir, { withFileTypes: true })) {
  if (entry.isDirectory()) rmSync(join(packagesDir, entry.name, "report.json"), { force: true });
}

const extraArgs = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === "--"));
const localTurbo = join(repoRoot, "node_modules", ".bin", "turbo");
const turbo = spawnSync(
  existsSync(localTurbo) ? localTurbo : "turbo",
  ["run", "test", "--concurrency=1", ...extraArgs],
  { cwd: repoRoot, stdio: "inherit" },
);
if (turbo.error) console.error(`could not start turbo: ${turbo.error.message}`);
const turboExitCode = turbo.status ?? 1;

const summary = spawnSync(
  process.execPath,
  [join(repoRoot, "scripts", "test-summary.mjs"), "--runner-exit-code", String(turboExitCode)],
  { cwd: repoRoot, stdio: "inherit" },
);
process.exitCode = summary.status ?? 1;
