// Web front page benchmark: dashboard and course page latency (p50 / p99) and requests/s under
// 50 concurrent signed-in students (undici, keep-alive) against the real web app over a real
// in-process 3-node LMS cluster; in every run one FOLLOWER is killed for a phase, counting failed
// requests while it is down. Prints the median of 3 runs.
//
// Two kinds of run. The default is the question, 50 signed-in users: each waits a random
// think time (mean 1 s) between pages, and the p99 target is checked. `--think-ms 0` saturates
// instead: every user asks again the moment a page arrives, so the run measures pages per second,
// and its latency is just users / throughput (Little's law), not checked against the target.
//
//   pnpm --filter @lectern/web run bench            # builds first, then both runs
//   node bench/pages.mjs --users 50 --runs 3 --phase-ms 10000 --think-ms 1000 --json
//   node bench/pages.mjs --think-ms 0 --phase-ms 3000   # saturation
//   node bench/pages.mjs --cluster in-process   # the nodes inside this process (the old setup)
//
// By default the nodes are three processes on 127.0.0.1, as `pnpm start` runs them; the web front
// and the load generator (a worker thread) run here. Everything shares this machine's cores: the
// numbers are for comparing changes, not capacity.

import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { buildApp } from "../dist/app.js";
import { LocalCluster } from "../dist/grpc/local-cluster.js";
import { createGrpcLmsApi } from "../dist/grpc-lms-api.js";
import { ProcessCluster } from "./process-cluster.mjs";

const { values: args } = parseArgs({
  // `pnpm run bench -- --users 10` passes the "--" through.
  allowPositionals: true,
  options: {
    users: { type: "string", default: "50" },
    runs: { type: "string" },
    "phase-ms": { type: "string" },
    "warmup-ms": { type: "string" },
    // CI-sized (`pnpm bench --quick`): one run of short phases unless the flags say otherwise.
    quick: { type: "boolean", default: false },
    "think-ms": { type: "string", default: "1000" },
    courses: { type: "string", default: "2" },
    cluster: { type: "string", default: "processes" },
    json: { type: "boolean", default: false },
  },
});
const userCount = Number(args.users);
const runCount = Number(args.runs ?? (args.quick ? 1 : 3));
const phaseMs = Number(args["phase-ms"] ?? (args.quick ? 2000 : 10000));
const warmupMs = Number(args["warmup-ms"] ?? (args.quick ? 1000 : 2000));
const thinkMs = Number(args["think-ms"]);
const courseCount = Number(args.courses);
if (args.cluster !== "processes" && args.cluster !== "in-process") {
  process.stderr.write(`--cluster must be "processes" or "in-process", got ${args.cluster}\n`);
  process.exit(2);
}
/** The target for pages that read state. */
const p99TargetMs = 50;
/** Sign-ups and sign-ins at once: below libuv's 4 pool threads (see seed()). */
const scryptBatch = 3;
/** Settle time after a restarted follower rejoins, before the next run. */
const rejoinSettleMs = 1_000;

const log = (line) => process.stderr.write(`${line}\n`);
const key = (label) => createHash("sha256").update(`bench:${label}`).digest("hex").slice(0, 32);

async function seed(cluster, api) {
  await cluster.bootstrapAdmin("admin", "admin-password-1234");
  const admin = await api.login({ username: "admin", password: "admin-password-1234" });
  await api.createUser(admin.token, {
    username: "teacher",
    password: "teacher-password-1",
    displayName: "Tess Teacher",
    role: "instructor",
    idempotencyKey: key("teacher"),
  });
  const teacher = (await api.login({ username: "teacher", password: "teacher-password-1" })).token;
  const files = await mkdtemp(join(tmpdir(), "lectern-bench-"));
  const courses = [];
  for (let c = 0; c < courseCount; c++) {
    const course = await api.createCourse(teacher, {
      title: `Course ${c + 1}`,
      description: "A course with a few assignments, a material and questions.",
      idempotencyKey: key(`course${c}`),
    });
    const code = await api.createJoinCode(teacher, {
      courseId: course.id,
      expiresAtMs: 0,
      idempotencyKey: key(`code${c}`),
    });
    const assignments = [];
    for (let a = 0; a < 3; a++) {
      assignments.push(
        await api.createAssignment(teacher, {
          courseId: course.id,
          title: `Assignment ${a + 1}`,
          description: "Write it up.",
          dueAtMs: a === 0 ? Date.now() - 60_000 : 0,
          maxPoints: 10,
          idempotencyKey: key(`assignment${c}.${a}`),
        }),
      );
    }
    await api.postMaterial(teacher, {
      courseId: course.id,
      title: "Reading",
      description: "Chapter 3 of the Raft thesis.",
      idempotencyKey: key(`material${c}`),
    });
    courses.push({ course, code, assignments });
  }
  const users = [];
  // Registration hashes passwords with scrypt on libuv's thread pool, which the nodes' LevelDB
  // writes share: more hashes at once than pool threads stall Raft's disk writes (and elections
  // follow), so a few at a time.
  for (let start = 0; start < userCount; start += scryptBatch) {
    const batch = Array.from({ length: Math.min(scryptBatch, userCount - start) }, (_, i) => start + i);
    users.push(
      ...(await Promise.all(
        batch.map(async (n) => {
          const username = `student${n}`;
          const password = `student-password-${n}`;
          await api.register({ username, password, displayName: `Student ${n}`, idempotencyKey: key(username) });
          const token = (await api.login({ username, password })).token;
          for (const [c, { code, assignments }] of courses.entries()) {
            await api.joinCourse(token, { code: code.code, idempotencyKey: key(`${username}.join${c}`) });
            // Half the students have submitted the first assignment.
            if (n % 2 === 0) {
              const path = join(files, `${username}-${c}.txt`);
              const content = `work of ${username} for course ${c}\n`;
              await writeFile(path, content);
              await api.submit(token, {
                assignmentId: assignments[0].id,
                text: "My work.",
                file: {
                  path,
                  name: "work.txt",
                  contentType: "text/plain",
                  sizeBytes: Buffer.byteLength(content),
                  sha256: createHash("sha256").update(content).digest("hex"),
                },
                idempotencyKey: key(`${username}.submit${c}`),
              });
            }
          }
          return { username, password, courseIds: courses.map(({ course }) => course.id) };
        }),
      )),
    );
  }
  await rm(files, { recursive: true, force: true });
  return users;
}

function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

/** Per page: count, failed, p50, p99, max, requests/s. */
function summarise(samples, durationMs) {
  const pages = ["dashboard", "course"];
  return Object.fromEntries(
    pages.map((page, index) => {
      const mine = samples.filter((sample) => sample[0] === index);
      const ok = mine.filter((sample) => sample[2] === 200).map((sample) => sample[1]);
      ok.sort((a, b) => a - b);
      return [
        page,
        {
          requests: mine.length,
          failed: mine.length - ok.length,
          p50Ms: percentile(ok, 0.5),
          p99Ms: percentile(ok, 0.99),
          maxMs: ok.at(-1) ?? Number.NaN,
          perSecond: (mine.length * 1000) / durationMs,
        },
      ];
    }),
  );
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function runPhase(worker, name, durationMs) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.kind === "error") reject(new Error(message.message));
      if (message.kind !== "phase-done" || message.name !== name) return;
      worker.off("message", onMessage);
      resolve(message.samples);
    };
    worker.on("message", onMessage);
    worker.postMessage({ kind: "phase", name, durationMs, thinkMs });
  });
}

async function main() {
  const startedAt = Date.now();
  const cluster = args.cluster === "processes" ? await ProcessCluster.start() : await LocalCluster.start();
  let retries = 0;
  const api = createGrpcLmsApi({
    nodes: cluster.nodeEntries,
    // Seeding signs up every user (scrypt on the nodes): patient attempts on a busy machine.
    callTimeoutMs: 15_000,
    onRetry: (retry) => {
      if (++retries <= 5) log(`retry ${retry.attempt} ${retry.failedAddress}: ${retry.error?.details ?? retry.error}`);
    },
  });
  log(`cluster up (${cluster.nodeEntries.join(", ")}); seeding ${userCount} students in ${courseCount} courses...`);
  const users = await seed(cluster, api);
  const app = await buildApp({
    api,
    cookieSecret: "bench-cookie-secret-that-is-long-enough!",
    // Every virtual user signs in from 127.0.0.1.
    loginAttemptsPerMinute: 10_000,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const baseUrl = `http://127.0.0.1:${app.server.address().port}`;
  const worker = new Worker(new URL("./load-worker.mjs", import.meta.url), {
    workerData: { baseUrl, connections: userCount, loginBatch: scryptBatch },
  });
  await new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.on("message", (message) => {
      if (message.kind === "ready") resolve();
      if (message.kind === "error") reject(new Error(message.message));
    });
    worker.postMessage({ kind: "login", users });
  });
  log(
    `${userCount} users signed in to ${baseUrl} (${((Date.now() - startedAt) / 1000).toFixed(1)} s setup); warming up...`,
  );
  await runPhase(worker, "warmup", warmupMs);

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  const runs = [];
  for (let run = 1; run <= runCount; run++) {
    loopDelay.reset();
    loopDelay.enable();
    const steady = summarise(await runPhase(worker, `steady${run}`, phaseMs), phaseMs);
    // Kill a follower: preferably n1, the node the web front's client starts with, so the client
    // really has to fail over.
    const leader = await cluster.leaderId();
    const victim = [...cluster.nodes.keys()].sort().find((id) => id !== leader);
    const killing = cluster.kill(victim);
    const down = summarise(await runPhase(worker, `follower-down${run}`, phaseMs), phaseMs);
    await killing;
    loopDelay.disable();
    const leaderAfter = await cluster.leaderId();
    runs.push({
      steady,
      down,
      victim,
      leaderStayed: leaderAfter === leader,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    });
    log(
      `run ${run}: steady dashboard p99 ${steady.dashboard.p99Ms.toFixed(1)} ms, course p99 ${steady.course.p99Ms.toFixed(1)} ms; ` +
        `${victim} (follower) killed: failed ${down.dashboard.failed + down.course.failed}, ` +
        `dashboard p99 ${down.dashboard.p99Ms.toFixed(1)} ms, course p99 ${down.course.p99Ms.toFixed(1)} ms`,
    );
    await cluster.startNode(victim);
    await cluster.leaderId();
    await new Promise((resolve) => setTimeout(resolve, rejoinSettleMs));
  }

  worker.postMessage({ kind: "stop" });
  await app.close();
  api.close();
  await cluster.stop();

  const rows = [];
  for (const phase of ["steady", "down"]) {
    for (const page of ["dashboard", "course"]) {
      const pick = (field) => median(runs.map((run) => run[phase][page][field]));
      rows.push({
        phase: phase === "steady" ? "all 3 nodes up" : "1 follower killed",
        page,
        requests: pick("requests"),
        failed: pick("failed"),
        failedMax: Math.max(...runs.map((run) => run[phase][page].failed)),
        perSecond: pick("perSecond"),
        p50Ms: pick("p50Ms"),
        p99Ms: pick("p99Ms"),
        maxMs: pick("maxMs"),
      });
    }
  }
  const summary = {
    users: userCount,
    cluster: args.cluster,
    runs: runCount,
    phaseMs,
    thinkMs,
    p99TargetMs,
    victims: runs.map((run) => run.victim),
    leaderStayedInEveryRun: runs.every((run) => run.leaderStayed),
    eventLoopDelayP99Ms: median(runs.map((run) => run.loopDelayP99Ms)),
    rows,
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const fmt = (value) => (Number.isFinite(value) ? value.toFixed(1) : "-");
  const failedNone = rows.every((row) => row.failedMax === 0);
  const lines = [
    `Lectern web pages: ${userCount} signed-in students, keep-alive, think ${thinkMs} ms, nodes ${args.cluster === "processes" ? "in 3 processes" : "in this process"}; median of ${runCount} runs of ${phaseMs} ms per phase`,
    "phase              page       req/s   p50 ms   p99 ms   max ms   failed (worst run)",
    ...rows.map(
      (row) =>
        `${row.phase.padEnd(18)} ${row.page.padEnd(9)} ${fmt(row.perSecond).padStart(7)} ${fmt(row.p50Ms).padStart(8)} ${fmt(row.p99Ms).padStart(8)} ${fmt(row.maxMs).padStart(8)}   ${row.failed} (${row.failedMax})`,
    ),
    `followers killed: ${summary.victims.join(", ")}; leader unchanged in every run: ${summary.leaderStayedInEveryRun}; ` +
      `main-thread event-loop delay p99 ${fmt(summary.eventLoopDelayP99Ms)} ms`,
    thinkMs > 0
      ? `targets: 0 failed requests while a follower is down (${failedNone ? "met" : "NOT met"}); p99 < ${p99TargetMs} ms ` +
        `for pages that read state (${rows.every((row) => row.p99Ms < p99TargetMs) ? "met" : "NOT met"} in this run)`
      : `saturation run (no think time): 0 failed requests while a follower is down (${failedNone ? "met" : "NOT met"}); ` +
        `latency here is users / pages per second, so the p99 target is checked by the run with think time`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
