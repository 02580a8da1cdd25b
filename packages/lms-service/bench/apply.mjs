// `pnpm bench` (lms-service part): CPU time of the state machine's apply, per command, in one
// process on the embedded LevelDB store: 256-byte feedback notes applied in batches of 8, as a
// busy leader hands them over. Every node of the cluster pays this for every write, so it is the
// part of a write's cost that grows with the cluster; the cluster benchmark (run.mjs) gives the
// whole. Prints the median of 5 rounds of 4,000 commands after one warm-up round.
//
// Usage: node bench/apply.mjs [--json]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, round } from "../../raft-core/bench/stats.mjs";
import { encodeCommand } from "../dist/domain/command-codec.js";
import { LmsStateMachine } from "../dist/domain/lms-state-machine.js";
import { FileStore } from "../dist/store/file-store.js";
import { LevelLmsStore } from "../dist/store/level-store.js";

const COMMANDS_PER_ROUND = 4_000;
const BATCH = 8;
const ROUNDS = 5;
/** A well-formed scrypt hash: apply never verifies it, it only stores it. */
const passwordHash = "scrypt$16384$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

const root = await mkdtemp(join(tmpdir(), "lectern-apply-bench-"));
const store = await LevelLmsStore.open(join(root, "lms"));
const files = await FileStore.open(join(root, "files"));
const machine = new LmsStateMachine({ store, files });
let index = 0;
let at = Date.UTC(2026, 0, 1);
let keys = 0;
function entry(command) {
  index++;
  keys++;
  at += 10;
  return {
    index,
    term: 1,
    type: "normal",
    data: encodeCommand({ idempotencyKey: `bench-key-${keys}`, at, ...command }),
  };
}
const admin = { userId: "admin", role: "admin" };
const teacher = { userId: "teacher", role: "instructor" };
const setup = [
  { kind: "bootstrapAdmin", actor: null, userId: "admin", username: "admin", displayName: "Admin", passwordHash },
  { kind: "createInstructor", actor: admin, userId: "teacher", username: "teacher", displayName: "T", passwordHash },
  { kind: "createCourse", actor: teacher, courseId: "c1", title: "Course", description: "" },
];
for (const command of setup) {
  const [result] = await machine.apply([entry(command)]);
  if (result?.status !== "ok") throw new Error(`setup ${command.kind} failed: ${JSON.stringify(result)}`);
}

const perCommandUs = [];
for (let roundNo = 0; roundNo <= ROUNDS; roundNo++) {
  const before = process.cpuUsage();
  for (let i = 0; i < COMMANDS_PER_ROUND; i += BATCH) {
    const entries = [];
    for (let j = 0; j < BATCH; j++) {
      const noteId = `r${roundNo}n${i + j}`;
      entries.push(entry({ kind: "postFeedbackNote", actor: teacher, noteId, courseId: "c1", text: "x".repeat(256) }));
    }
    const results = await machine.apply(entries);
    if (results.some((result) => result?.status !== "ok")) throw new Error("a benchmark command was refused");
  }
  const used = process.cpuUsage(before);
  if (roundNo > 0) perCommandUs.push((used.user + used.system) / COMMANDS_PER_ROUND);
  process.stderr.write(`  [apply round ${roundNo}/${ROUNDS}${roundNo === 0 ? " (warm-up)" : ""}]\n`);
}
await store.close();
await rm(root, { recursive: true, force: true });
const result = {
  commands: COMMANDS_PER_ROUND,
  batch: BATCH,
  rounds: ROUNDS,
  medianCpuUsPerCommand: round(median(perCommandUs), 1),
  perCommandUs: perCommandUs.map((us) => round(us, 1)),
};
if (process.argv.includes("--json")) console.log(JSON.stringify(result));
else {
  console.log(
    `Apply: CPU per applied command (256-byte feedback note, batches of ${BATCH}, LevelDB store), median of ${ROUNDS} rounds of ${COMMANDS_PER_ROUND}: ${result.medianCpuUsPerCommand} µs (${result.perCommandUs.join(", ")})`,
  );
}
