#!/usr/bin/env node
// Sums every package's vitest JSON report (packages/*/report.json) into one closing line,
// `N passed, N failed` (`, N skipped` when any test was skipped), which CI reads because vitest
// prints no such line across packages. Every skipped and failed test is named, so a skip is never
// silent. Exits 1 when a test failed, a test file failed to run, a package with a `test` script
// left no report, no test passed at all, or (with --runner-exit-code N, N ≠ 0) the test runner failed.
//
// Usage: node scripts/test-summary.mjs [--runner-exit-code N] [--packages-dir DIR]

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const defaultPackagesDir = join(repoRoot, "packages");
const reportFileName = "report.json";

/** vitest's JSON statuses for a test that did not run (skip, todo, or never reached). */
const notRunStatuses = new Set(["skipped", "pending", "todo", "disabled"]);

/**
 * @typedef {{ ancestorTitles?: string[], title?: string, fullName?: string, status?: string }} AssertionResult
 * @typedef {{ name?: string, status?: string, message?: string, assertionResults?: AssertionResult[] }} FileResult
 * @typedef {{ passed: number, failed: number, skipped: number, notes: string[] }} PackageCounts
 */

/**
 * Counts one package's report. A test file that failed without any failed test (an import error,
 * a failing hook) counts as one failure, because otherwise a file that never ran would look green.
 * @param {{ testResults?: FileResult[] }} report
 * @param {string} packageDir used to print test file paths relative to the package
 * @returns {PackageCounts}
 */
export function countReport(report, packageDir) {
  const counts = { passed: 0, failed: 0, skipped: 0, notes: [] };
  if (!Array.isArray(report.testResults)) {
    counts.failed += 1;
    counts.notes.push("  FAILED: the report has no testResults array (not a vitest JSON report?)");
    return counts;
  }
  for (const file of report.testResults) {
    const fileName = file.name ? relative(packageDir, file.name) : "(unnamed file)";
    const tests = file.assertionResults ?? [];
    let failedHere = 0;
    for (const test of tests) {
      const name = [fileName, ...(test.ancestorTitles ?? []), test.title ?? test.fullName ?? "(unnamed)"].join(" > ");
      if (test.status === "passed") counts.passed += 1;
      else if (test.status === "failed") {
        counts.failed += 1;
        failedHere += 1;
        counts.notes.push(`  failed: ${name}`);
      } else if (notRunStatuses.has(test.status ?? "")) {
        counts.skipped += 1;
        counts.notes.push(`  skipped (${test.status}): ${name}`);
      } else {
        counts.failed += 1;
        failedHere += 1;
        counts.notes.push(`  failed (unknown status ${JSON.stringify(test.status)}): ${name}`);
      }
    }
    if (file.status === "failed" && failedHere === 0) {
      counts.failed += 1;
      const reason = (file.message ?? "").split("\n")[0] || "no message";
      counts.notes.push(`  failed to run: ${fileName}: ${reason}`);
    }
  }
  return counts;
}

/**
 * Reads every package's report and prints the per-package lines and the closing line.
 * @param {{ runnerExitCode?: number, packagesDir?: string }} options
 * @returns {number} the exit code
 */
export function summarize({ runnerExitCode = 0, packagesDir = defaultPackagesDir } = {}) {
  const total = { passed: 0, failed: 0, skipped: 0 };
  const problems = [];
  const packageDirs = existsSync(packagesDir)
    ? readdirSync(packagesDir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, "package.json")))
        .map((entry) => join(packagesDir, entry.name))
        .sort()
    : [];
  for (const packageDir of packageDirs) {
    const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
    const packageName = manifest.name ?? relative(packagesDir, packageDir);
    const reportPath = join(packageDir, reportFileName);
    if (!existsSync(reportPath)) {
      if (manifest.scripts?.test !== undefined) {
        console.log(`${packageName}: no ${reportFileName} (its tests did not run or did not finish)`);
        problems.push(`${packageName} has a test script but left no ${reportFileName}`);
      }
      continue;
    }
    let report;
    try {
      report = JSON.parse(readFileSync(reportPath, "utf8"));
    } catch (error) {
      console.log(`${packageName}: unreadable ${reportFileName}: ${error instanceof Error ? error.message : error}`);
      problems.push(`${packageName}'s ${reportFileName} is not valid JSON`);
      continue;
    }
    const counts = countReport(report, packageDir);
    console.log(`${packageName}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
    for (const note of counts.notes) console.log(note);
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
  }
  if (runnerExitCode !== 0) problems.push(`the test runner exited with code ${runnerExitCode} (see its output above)`);
  if (total.passed === 0) problems.push("no test passed");
  for (const problem of problems) console.log(`FAILED: ${problem}`);
  const skipped = total.skipped > 0 ? `, ${total.skipped} skipped` : "";
  console.log(`${total.passed} passed, ${total.failed} failed${skipped}`);
  return total.failed > 0 || problems.length > 0 ? 1 : 0;
}

/**
 * @param {string[]} args
 * @returns {{ runnerExitCode?: number, packagesDir?: string }}
 */
function parseArgs(args) {
  const options = {};
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--runner-exit-code" && value !== undefined && Number.isInteger(Number(value))) {
      options.runnerExitCode = Number(value);
    } else if (flag === "--packages-dir" && value !== undefined) options.packagesDir = resolve(value);
    else throw new Error(`usage: test-summary.mjs [--runner-exit-code N] [--packages-dir DIR] (bad argument ${flag})`);
  }
  return options;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = summarize(parseArgs(process.argv.slice(2)));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  }
}
