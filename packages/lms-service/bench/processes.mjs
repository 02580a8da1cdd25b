// Child processes of the benchmark: spawning with logs to a file, SIGKILL, CPU time from /proc,
// free loopback ports, and a last-resort cleanup that kills every child when the benchmark exits.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Kernel clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on every Linux we run on). */
const clockTicksPerSecond = 100;
/** How long a stopped child may take to exit before it is killed. */
const stopGraceMs = 5_000;

const children = new Set();
let cleanupInstalled = false;

function installCleanup() {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const killAll = () => {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/**
 * Starts `command` with its stdout and stderr appended to `logFile`. `ipc` opens a Node IPC
 * channel (for the event-loop probe).
 */
export function spawnLogged(command, args, { env, logFile, ipc = false }) {
  installCleanup();
  const log = openSync(logFile, "a");
  const child = spawn(command, args, {
    env,
    stdio: ipc ? ["ignore", log, log, "ipc"] : ["ignore", log, log],
  });
  closeSync(log);
  children.add(child);
  child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.exited.then(() => children.delete(child));
  return child;
}

/** SIGKILL, as a crash: waits until the process is gone. */
export async function killHard(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await child.exited;
}

/** SIGTERM, then SIGKILL after a grace period. */
export async function stopGently(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), stopGraceMs);
  await child.exited;
  clearTimeout(timer);
}

/** User + system CPU seconds a live process has used so far (0 once it is gone). */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return 0;
  }
}

/** Ports the OS says are free right now on 127.0.0.1 (bound to port 0, then released). */
export async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined. */
export async function waitFor(what, check, { timeoutMs = 20_000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message ?? lastError}` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}
