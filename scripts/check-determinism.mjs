#!/usr/bin/env node
// Enforces the determinism contract (DESIGN.md, "Determinism contract"): code under
// packages/raft-core/src/{core,runtime,sim,sessions} must not read the wall clock, schedule its own asynchrony,
// draw its own randomness or depend on the host's locale. Those effects come only through the injected
// Clock, Random, Storage, Transport and StateMachine, which is what lets the simulator replay one seed
// exactly.
//
// The check walks the TypeScript syntax tree, so a name inside a string or a comment never counts,
// while a bare identifier, a property access (`Math.random`, `x.localeCompare`) and an import of a
// forbidden module do. A line comment `// determinism-allow: <name> (<reason>)` on the same line or the
// line before allows exactly that name there; a marker that allows nothing is itself an error, so
// markers cannot outlive the code they excused.
//
// Usage:
//   node scripts/check-determinism.mjs              check the default folders (exit 1 on a violation)
//   node scripts/check-determinism.mjs PATH...      check these files or folders instead
//   node scripts/check-determinism.mjs --self-test  run the checker against built-in samples

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Folders whose code runs inside the simulator and therefore must be deterministic. */
const checkedFolders = [
  "packages/raft-core/src/core",
  "packages/raft-core/src/runtime",
  "packages/raft-core/src/sim",
  "packages/raft-core/src/sessions",
];

/** Globals that read time, schedule work, draw randomness, depend on the locale or observe the GC. */
const forbiddenGlobals = new Map([
  ["Date", "reads the wall clock: use the injected Clock"],
  ["performance", "reads the wall clock: use the injected Clock"],
  ["setTimeout", "schedules its own timer: use Clock.setTimer"],
  ["setInterval", "schedules its own timer: use Clock.setTimer"],
  ["setImmediate", "schedules its own task: go through the event inbox"],
  ["queueMicrotask", "schedules its own microtask: go through the event inbox"],
  ["Intl", "depends on the host locale"],
  ["WeakRef", "depends on garbage collection timing"],
  ["FinalizationRegistry", "depends on garbage collection timing"],
  ["crypto", "draws host randomness: use the injected Random"],
]);

/** Members that are forbidden only on a particular global object. */
const forbiddenMembersOf = new Map([
  ["Math", new Map([["random", "draws host randomness: use the injected Random"]])],
  [
    "process",
    new Map([
      ["nextTick", "schedules its own microtask: go through the event inbox"],
      ["hrtime", "reads the wall clock: use the injected Clock"],
      ["uptime", "reads the wall clock: use the injected Clock"],
    ]),
  ],
]);

/** Members that are forbidden on any object (their receivers are rarely known statically). */
const forbiddenMembers = new Map([
  ["getRandomValues", "draws host randomness: use the injected Random"],
  ["randomBytes", "draws host randomness: use the injected Random"],
  ["randomUUID", "draws host randomness: use the injected Random"],
  ["localeCompare", "depends on the host locale: compare code units (a < b) instead"],
]);

/** Names through which a global can be reached as a property (`globalThis.setTimeout`). */
const globalObjects = new Set(["globalThis", "global", "window", "self"]);

/** Modules that expose the forbidden globals; the reported name is the key. */
const forbiddenModules = new Map([
  ["crypto", "crypto"],
  ["node:crypto", "crypto"],
  ["timers", "timers"],
  ["node:timers", "timers"],
  ["timers/promises", "timers"],
  ["node:timers/promises", "timers"],
  ["perf_hooks", "perf_hooks"],
  ["node:perf_hooks", "perf_hooks"],
]);

const allowMarkerPrefix = "determinism-allow:";
const allowMarkerPattern = /^\/\/\s*determinism-allow:\s*([A-Za-z_$][\w$./]*)\s+\((.*\S.*)\)\s*$/;
/** A comment that starts like a marker; prose that merely mentions the marker is not one. */
const allowMarkerStart = /^\/[/*]\s*determinism-allow:/;

/**
 * @typedef {{ line: number, column: number, name: string, reason: string }} Finding
 *   `line` and `column` are 1-based.
 * @typedef {{ findings: Finding[], markerErrors: Finding[] }} CheckResult
 */

/**
 * Checks one TypeScript source text against the determinism contract.
 * @param {string} fileName used only to pick the parser's script kind
 * @param {string} text
 * @returns {CheckResult}
 */
export function checkSource(fileName, text) {
  const scriptKind = fileName.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sourceFile = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, scriptKind);
  /** @type {Finding[]} */
  const raw = [];
  const report = (/** @type {ts.Node} */ node, /** @type {string} */ name, /** @type {string} */ reason) => {
    const { line, character } = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile));
    raw.push({ line: line + 1, column: character + 1, name, reason });
  };
  visitNode(sourceFile, report);

  const { markers, markerErrors } = collectAllowMarkers(sourceFile);
  const findings = [];
  for (const finding of raw) {
    const marker = markers.find(
      (m) => m.name === finding.name && (m.line === finding.line || m.line === finding.line - 1),
    );
    if (marker) marker.used = true;
    else findings.push(finding);
  }
  for (const marker of markers) {
    if (!marker.used) {
      markerErrors.push({
        line: marker.line,
        column: marker.column,
        name: marker.name,
        reason: "allow marker matches no use of this name on its line or the next: remove it",
      });
    }
  }
  const byPosition = (/** @type {Finding} */ a, /** @type {Finding} */ b) => a.line - b.line || a.column - b.column;
  return { findings: findings.sort(byPosition), markerErrors: markerErrors.sort(byPosition) };
}

/**
 * @param {ts.Node} node
 * @param {(node: ts.Node, name: string, reason: string) => void} report
 */
function visitNode(node, report) {
  if (ts.isIdentifier(node)) checkIdentifier(node, report);
  else if (ts.isPropertyAccessExpression(node)) checkMember(node.expression, node.name.text, node.name, report);
  else if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) {
    checkMember(node.expression, node.argumentExpression.text, node.argumentExpression, report);
  } else if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent)) {
    checkDestructuredMember(node, report);
  } else checkModuleReference(node, report);
  ts.forEachChild(node, (child) => visitNode(child, report));
}

/**
 * Flags a forbidden global used as a value or type, unless the identifier is only a property name.
 * @param {ts.Identifier} node
 * @param {(node: ts.Node, name: string, reason: string) => void} report
 */
function checkIdentifier(node, report) {
  const reason = forbiddenGlobals.get(node.text);
  if (reason === undefined || isPropertyNamePosition(node)) return;
  report(node, node.text, reason);
}

/**
 * True when the identifier names a member rather than referring to a binding: `x.Date`,
 * `{ Date: 1 }`, `class { Date() {} }`, `interface I { Date: number }`, `N.Date` in a type.
 * @param {ts.Identifier} node
 */
function isPropertyNamePosition(node) {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) || ts.isQualifiedName(parent)) return parent.name === node;
  if (ts.isBindingElement(parent) || ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent)) {
    return parent.propertyName === node;
  }
  return (
    (ts.isPropertyAssignment(parent) ||
      ts.isPropertyDeclaration(parent) ||
      ts.isPropertySignature(parent) ||
      ts.isMethodDeclaration(parent) ||
      ts.isMethodSignature(parent) ||
      ts.isGetAccessorDeclaration(parent) ||
      ts.isSetAccessorDeclaration(parent) ||
      ts.isEnumMember(parent)) &&
    parent.name === node
  );
}

/**
 * Flags `object.member` / `object["member"]` when the member is forbidden on that object or on any.
 * @param {ts.Expression} object
 * @param {string} member
 * @param {ts.Node} at
 * @param {(node: ts.Node, name: string, reason: string) => void} report
 */
function checkMember(object, member, at, report) {
  const objectName = ts.isIdentifier(object) ? object.text : undefined;
  if (objectName !== undefined) {
    const reason = forbiddenMembersOf.get(objectName)?.get(member);
    if (reason !== undefined) return report(at, `${objectName}.${member}`, reason);
    if (globalObjects.has(objectName)) {
      const globalReason = forbiddenGlobals.get(member);
      if (globalReason !== undefined) return report(at, member, globalReason);
    }
  }
  const anyReason = forbiddenMembers.get(member);
  if (anyReason !== undefined) report(at, member, anyReason);
}

/**
 * Flags `const { random } = Math`, `const { setTimeout } = globalThis`, `const { randomUUID } = x`.
 * @param {ts.BindingElement} element
 * @param {(node: ts.Node, name: string, reason: string) => void} report
 */
function checkDestructuredMember(element, report) {
  const key = element.propertyName ?? element.name;
  if (!ts.isIdentifier(key) && !ts.isStringLiteralLike(key)) return;
  const declaration = element.parent.parent;
  const source = ts.isVariableDeclaration(declaration) ? declaration.initializer : undefined;
  if (source !== undefined) checkMember(source, key.text, key, report);
  else if (forbiddenMembers.has(key.text)) checkMember(element, key.text, key, report);
}

/**
 * Flags `import ... from "node:crypto"`, `export ... from "crypto"`, `import("crypto")`,
 * `require("crypto")` and `import x = require("crypto")`.
 * @param {ts.Node} node
 * @param {(node: ts.Node, name: string, reason: string) => void} report
 */
function checkModuleReference(node, report) {
  let specifier;
  if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
    specifier = node.moduleSpecifier;
  } else if (ts.isExternalModuleReference(node)) {
    specifier = node.expression;
  } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
    const isDynamicImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
    const isRequire = ts.isIdentifier(node.expression) && node.expression.text === "require";
    if (isDynamicImport || isRequire) specifier = node.arguments[0];
  }
  if (specifier === undefined || !ts.isStringLiteralLike(specifier)) return;
  const name = forbiddenModules.get(specifier.text);
  if (name !== undefined) {
    report(specifier, name, `imports "${specifier.text}", whose clock, timers or randomness bypass the injected ones`);
  }
}

/**
 * Finds every `// determinism-allow: <name> (<reason>)` line comment. Only real comments count
 * (the ranges come from the parser's trivia, so the marker text inside a string is ignored).
 * @param {ts.SourceFile} sourceFile
 */
function collectAllowMarkers(sourceFile) {
  const text = sourceFile.text;
  /** @type {{ line: number, column: number, name: string, used: boolean }[]} */
  const markers = [];
  /** @type {Finding[]} */
  const markerErrors = [];
  const seen = new Set();
  const visitComments = (/** @type {ts.CommentRange[] | undefined} */ ranges) => {
    for (const range of ranges ?? []) {
      if (seen.has(range.pos)) continue;
      seen.add(range.pos);
      const comment = text.slice(range.pos, range.end);
      if (!allowMarkerStart.test(comment)) continue;
      const { line, character } = sourceFile.getLineAndCharacterOfPosition(range.pos);
      const match = range.kind === ts.SyntaxKind.SingleLineCommentTrivia ? allowMarkerPattern.exec(comment) : null;
      if (match) markers.push({ line: line + 1, column: character + 1, name: match[1], used: false });
      else {
        markerErrors.push({
          line: line + 1,
          column: character + 1,
          name: allowMarkerPrefix,
          reason: "malformed allow marker: write `// determinism-allow: <name> (<reason>)` as a line comment",
        });
      }
    }
  };
  const visit = (/** @type {ts.Node} */ node) => {
    visitComments(ts.getLeadingCommentRanges(text, node.getFullStart()));
    visitComments(ts.getTrailingCommentRanges(text, node.getEnd()));
    for (const child of node.getChildren(sourceFile)) visit(child);
  };
  visit(sourceFile);
  return { markers, markerErrors };
}

/**
 * Lists the TypeScript files under `path` (or `path` itself), sorted so the output is stable.
 * @param {string} path
 * @returns {string[]}
 */
function listSourceFiles(path) {
  if (!existsSync(path)) return [];
  if (statSync(path).isFile()) return [path];
  const files = [];
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && entry.name !== "gen") files.push(...listSourceFiles(child));
    } else if (/\.(ts|tsx|mts|cts)$/.test(entry.name)) files.push(child);
  }
  return files;
}

/** @param {string[]} paths */
function runCheck(paths) {
  const roots = paths.length > 0 ? paths.map((p) => resolve(p)) : checkedFolders.map((f) => join(repoRoot, f));
  const files = roots.flatMap(listSourceFiles);
  const problems = [];
  for (const file of files) {
    const { findings, markerErrors } = checkSource(file, readFileSync(file, "utf8"));
    const shown = relative(process.cwd(), file) || file;
    for (const f of [...findings, ...markerErrors]) {
      problems.push(`${shown}:${f.line}:${f.column}  ${f.name}  ${f.reason}`);
    }
  }
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem);
    console.error(
      `determinism: ${problems.length} problem(s) in ${files.length} file(s); see "The determinism lint" in README.md`,
    );
    return 1;
  }
  console.log(`determinism: ${files.length} file(s) checked, no forbidden names`);
  return 0;
}

/**
 * Sample sources with the exact findings (`line:name`) and marker errors the checker must report.
 * @type {{ title: string, source: string, expected: string[], expectedMarkerErrors?: string[] }[]}
 */
const selfTestCases = [
  { title: "Date constructor", source: "const d = new Date();", expected: ["1:Date"] },
  { title: "Date.now", source: "const t = Date.now();", expected: ["1:Date"] },
  { title: "Date as a type", source: "let d: Date | undefined;", expected: ["1:Date"] },
  { title: "performance.now", source: "const t = performance.now();", expected: ["1:performance"] },
  { title: "setTimeout", source: "setTimeout(() => {}, 10);", expected: ["1:setTimeout"] },
  { title: "setInterval", source: "const h = setInterval(tick, 10);", expected: ["1:setInterval"] },
  { title: "setImmediate", source: "await new Promise((r) => setImmediate(r));", expected: ["1:setImmediate"] },
  { title: "queueMicrotask", source: "queueMicrotask(run);", expected: ["1:queueMicrotask"] },
  { title: "process.nextTick", source: "process.nextTick(run);", expected: ["1:process.nextTick"] },
  { title: "process.hrtime", source: "const t = process.hrtime.bigint();", expected: ["1:process.hrtime"] },
  { title: "Math.random", source: "const x = Math.random();", expected: ["1:Math.random"] },
  { title: "Math['random']", source: 'const x = Math["random"]();', expected: ["1:Math.random"] },
  { title: "destructured Math.random", source: "const { random } = Math;", expected: ["1:Math.random"] },
  {
    title: "crypto.getRandomValues",
    source: "crypto.getRandomValues(buf);",
    expected: ["1:crypto", "1:getRandomValues"],
  },
  { title: "randomUUID on any object", source: "const id = webCrypto.randomUUID();", expected: ["1:randomUUID"] },
  { title: "randomBytes", source: "const b = rng.randomBytes(8);", expected: ["1:randomBytes"] },
  {
    title: "destructured randomBytes",
    source: 'import * as c from "node:crypto";\nconst { randomBytes } = c;',
    expected: ["1:crypto", "2:randomBytes"],
  },
  { title: "import of node:crypto", source: 'import { randomInt } from "node:crypto";', expected: ["1:crypto"] },
  { title: "import of crypto", source: 'import * as c from "crypto";', expected: ["1:crypto"] },
  { title: "require of crypto", source: 'const c = require("crypto");', expected: ["1:crypto"] },
  { title: "dynamic import of crypto", source: 'const c = await import("node:crypto");', expected: ["1:crypto"] },
  { title: "re-export of crypto", source: 'export { randomInt } from "node:crypto";', expected: ["1:crypto"] },
  { title: "import of timers", source: 'import * as t from "node:timers/promises";', expected: ["1:timers"] },
  {
    title: "import of perf_hooks",
    source: 'import { monitorEventLoopDelay } from "perf_hooks";',
    expected: ["1:perf_hooks"],
  },
  { title: "process.uptime", source: "const s = process.uptime();", expected: ["1:process.uptime"] },
  { title: "Intl", source: "const f = new Intl.NumberFormat();", expected: ["1:Intl"] },
  { title: "localeCompare", source: "names.sort((a, b) => a.localeCompare(b));", expected: ["1:localeCompare"] },
  { title: "WeakRef", source: "const r = new WeakRef(obj);", expected: ["1:WeakRef"] },
  {
    title: "FinalizationRegistry",
    source: "const f = new FinalizationRegistry(cb);",
    expected: ["1:FinalizationRegistry"],
  },
  { title: "globalThis.setTimeout", source: "globalThis.setTimeout(run, 1);", expected: ["1:setTimeout"] },
  { title: "globalThis['Date']", source: 'const D = globalThis["Date"];', expected: ["1:Date"] },
  { title: "shorthand property", source: "const o = { performance };", expected: ["1:performance"] },
  { title: "typeof", source: "type T = ReturnType<typeof setTimeout>;", expected: ["1:setTimeout"] },
  {
    title: "names in strings, templates and comments",
    source: [
      "// Date.now() and setTimeout are not used here",
      "/* Math.random(), performance.now(), crypto.randomUUID() */",
      "/** Uses no Intl or WeakRef or localeCompare. */",
      'const a = "setImmediate(queueMicrotask) process.nextTick";',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: this sample source is itself a template literal
      "const b = `Date ${a} FinalizationRegistry`;",
      "const c = 'import(\"node:crypto\")';",
    ].join("\n"),
    expected: [],
  },
  {
    title: "names as members of other objects",
    source: [
      "const o = { Date: 1, setTimeout: 2, random: 3 };",
      "clock.setTimer(10, run); o.setTimeout; o.Date; rng.random(); clock.nextTick();",
      "interface I { performance: number; setImmediate(): void }",
      "class C { Intl = 1; crypto() {} }",
      "enum E { Date }",
      "const { setTimeout: st } = clock;",
    ].join("\n"),
    expected: [],
  },
  {
    title: "allow marker on the line before",
    source: "// determinism-allow: setImmediate (drain microtasks once per virtual instant)\nsetImmediate(r);",
    expected: [],
  },
  {
    title: "allow marker on the same line",
    source: "setImmediate(r); // determinism-allow: setImmediate (drain microtasks)",
    expected: [],
  },
  {
    title: "allow marker covers only the named identifier",
    source: "// determinism-allow: setImmediate (drain microtasks)\nsetImmediate(r); setTimeout(r, 0);",
    expected: ["2:setTimeout"],
  },
  {
    title: "allow marker for another name does not allow",
    source: "// determinism-allow: setTimeout (not this one)\nsetImmediate(r);",
    expected: ["2:setImmediate"],
    expectedMarkerErrors: ["1:setTimeout"],
  },
  {
    title: "allow marker two lines above does not reach",
    source: "// determinism-allow: setImmediate (too far)\n\nsetImmediate(r);",
    expected: ["3:setImmediate"],
    expectedMarkerErrors: ["1:setImmediate"],
  },
  {
    title: "allow marker inside a string is not a marker",
    source: 'const s = "// determinism-allow: setImmediate (no)"; setImmediate(r);',
    expected: ["1:setImmediate"],
  },
  {
    title: "allow marker without a reason is malformed",
    source: "setImmediate(r); // determinism-allow: setImmediate",
    expected: ["1:setImmediate"],
    expectedMarkerErrors: [`1:${allowMarkerPrefix}`],
  },
  {
    title: "allow marker in a block comment is malformed",
    source: "/* determinism-allow: setImmediate (x) */ setImmediate(r);",
    expected: ["1:setImmediate"],
    expectedMarkerErrors: [`1:${allowMarkerPrefix}`],
  },
  {
    title: "prose that mentions the marker is not a marker",
    source: "/** Mark an exception with a determinism-allow: comment. */\nconst x = 1;",
    expected: [],
  },
  {
    title: "allow marker for a member name",
    source: "// determinism-allow: Math.random (sample)\nconst x = Math.random();",
    expected: [],
  },
];

function runSelfTest() {
  let failures = 0;
  for (const testCase of selfTestCases) {
    const { findings, markerErrors } = checkSource("sample.ts", testCase.source);
    const actual = findings.map((f) => `${f.line}:${f.name}`);
    const actualMarkerErrors = markerErrors.map((f) => `${f.line}:${f.name}`);
    const expectedMarkerErrors = testCase.expectedMarkerErrors ?? [];
    const same = (/** @type {string[]} */ a, /** @type {string[]} */ b) => JSON.stringify(a) === JSON.stringify(b);
    if (same(actual, testCase.expected) && same(actualMarkerErrors, expectedMarkerErrors)) continue;
    failures += 1;
    console.error(`self-test FAILED: ${testCase.title}`);
    console.error(`  source:   ${JSON.stringify(testCase.source)}`);
    console.error(
      `  expected: ${JSON.stringify(testCase.expected)} marker errors ${JSON.stringify(expectedMarkerErrors)}`,
    );
    console.error(`  actual:   ${JSON.stringify(actual)} marker errors ${JSON.stringify(actualMarkerErrors)}`);
  }
  const names = new Set(selfTestCases.flatMap((c) => c.expected.map((e) => e.slice(e.indexOf(":") + 1))));
  const required = [
    ...forbiddenGlobals.keys(),
    ...[...forbiddenMembersOf].flatMap(([object, members]) => [...members.keys()].map((m) => `${object}.${m}`)),
    ...forbiddenMembers.keys(),
    ...new Set(forbiddenModules.values()),
  ];
  for (const name of required) {
    if (!names.has(name)) {
      failures += 1;
      console.error(`self-test FAILED: no sample is expected to flag ${name}`);
    }
  }
  if (failures > 0) {
    console.error(`determinism self-test: ${failures} failure(s) in ${selfTestCases.length} case(s)`);
    return 1;
  }
  console.log(`determinism self-test: ${selfTestCases.length} case(s) passed`);
  return 0;
}

const args = process.argv.slice(2);
process.exitCode = args.includes("--self-test") ? runSelfTest() : runCheck(args);
