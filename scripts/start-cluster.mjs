#!/usr/bin/env node
/**
 * Starts the whole Lectern system on this machine with no external services: three LMS nodes
 * (embedded stores, one Raft cluster on 127.0.0.1:7001-7003, operations servers on 8001-8003) and
 * the web front on http://127.0.0.1:5000. Everything lives in one data folder (DATA_DIR, default
 * ./data): the nodes' folders, the shared cluster secrets (created by the first node), the web
 * front's cookie secret and, after the first start, the bootstrap admin's credentials.
 *
 *   node scripts/start-cluster.mjs           # after `pnpm build` (`pnpm start` does both)
 *   node scripts/start-cluster.mjs --check   # start, verify, stop; exit 0 when everything worked
 *   node scripts/start-cluster.mjs --no-web  # the three nodes only
 *
 * Each process's output is prefixed with its name; Ctrl-C stops them all. Settings: DATA_DIR,
 * PEERS (id=host:port,...), PORT (web), LOG_LEVEL, and any node setting (see the README).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nodeMain = join(root, "packages/lms-service/dist/node/main.js");
const webMain = join(root, "packages/web/dist/main.js");
const lmsServiceDist = join(root, "packages/lms-service/dist/index.js");

const { values: flags } = parseArgs({
  options: { check: { type: "boolean", default: false }, "no-web": { type: "boolean", default: false } },
});
const env = process.env;
const PEERS = env.PEERS ?? "n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003";
const WEB_PORT = Number(env.PORT ?? 5000);
const DATA_DIR = resolve(env.DATA_DIR ?? join(root, "data"));
/** Node operations servers listen on the gRPC port plus this (node-config.ts HTTP_PORT_OFFSET). */
const HTTP_PORT_OFFSET = 1000;
const READY_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 200;
const STOP_GRACE_MS = 8_000;
const ADMIN_USERNAME = "admin";
const credentialsFile = join(DATA_DIR, "admin-credentials.txt");
const pendingCredentialsFile = `${credentialsFile}.pending`;
const webSecretsFile = join(DATA_DIR, "web-secrets.json");
const clusterSecretsFile = join(DATA_DIR, "cluster-secrets.json");

const nodes = PEERS.split(",").map((entry) => {
  const [id, address] = entry.split("=").map((part) => part.trim());
  const port = Number(address?.slice(address.lastIndexOf(":") + 1));
  const host = address?.slice(0, address.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  if (!id || !host || !Number.isInteger(port)) fail(`PEERS entry "${entry}" is not id=host:port`);
  return { id, address, host, httpPort: port + HTTP_PORT_OFFSET };
});

for (const file of [nodeMain, webMain]) {
  if (!existsSync(file)) fail(`missing ${file}: run \`pnpm build\` first (pnpm start does it for you)`);
}

const children = [];
let stopping = false;

function fail(message) {
  console.error(`start-cluster: ${message}`);
  process.exit(1);
}

function start(name, file, childEnv) {
  const child = spawn(process.execPath, [file], {
    cwd: root,
    env: { ...env, ...childEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const prefix = `${name.padEnd(4)}| `;
  for (const stream of [child.stdout, child.stderr]) {
    let pending = "";
    stream.on("data", (chunk) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
    });
  }
  child.on("exit", (code, signal) => {
    if (stopping) return;
    console.log(`${prefix}exited (${signal ?? code}); the others keep running — restart it with:`);
    console.log(
      `${prefix}  ${Object.entries(childEnv)
        .filter(([key]) => key !== "WEB_COOKIE_SECRET")
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")} node ${file}`,
    );
  });
  child.lecternName = name;
  children.push(child);
  return child;
}

/** Reads a small secret file, or creates it (mode 0600, exclusive) with `create()`'s content. */
async function readOrCreate(file, create) {
  await mkdir(dirname(file), { recursive: true });
  try {
    const handle = await open(file, "wx", 0o600);
    try {
      await handle.writeFile(create());
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error.code !== "EEXIST") throw error;
  }
  return readFile(file, "utf8");
}

async function webCookieSecret() {
  if (env.WEB_COOKIE_SECRET) return env.WEB_COOKIE_SECRET;
  const text = await readOrCreate(
    webSecretsFile,
    () => `${JSON.stringify({ cookieSecret: randomBytes(32).toString("base64url") }, null, 2)}\n`,
  );
  const secret = JSON.parse(text).cookieSecret;
  if (typeof secret !== "string" || secret.length < 32) fail(`${webSecretsFile} has no usable cookieSecret: delete it`);
  return secret;
}

async function getJson(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return { status: response.status, body: await response.json().catch(() => undefined) };
  } catch {
    return undefined;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Throws when a child has already exited: waiting longer for it would only hide the cause. */
function checkChildren() {
  const gone = children.find((child) => child.exitCode !== null || child.signalCode !== null);
  if (gone !== undefined)
    throw new Error(`${gone.lecternName} exited (${gone.signalCode ?? gone.exitCode}) while starting`);
}

/** Polls every node's /healthz until one leads and a majority runs; returns the leader's id. */
async function waitForLeader(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answers = await Promise.all(nodes.map((n) => getJson(`http://${n.host}:${n.httpPort}/healthz`)));
    const running = answers.filter((a) => a?.status === 200);
    const leader = running.find((a) => a.body?.role === "leader");
    if (leader !== undefined && running.length > nodes.length / 2) return leader.body.node;
    checkChildren();
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`no leader among ${nodes.map((n) => n.id).join(", ")} after ${timeoutMs} ms (see the logs above)`);
}

async function waitForWeb(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${WEB_PORT}/healthz`, { signal: AbortSignal.timeout(2_000) });
      last = `HTTP ${response.status}: ${(await response.text()).split("\n")[0]}`;
      if (response.ok) return;
    } catch (error) {
      last = String(error.cause?.code ?? error);
    }
    checkChildren();
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`the web front did not become healthy on port ${WEB_PORT} within ${timeoutMs} ms (${last})`);
}

/**
 * Creates the bootstrap admin on the first start, with a generated password kept in
 * admin-credentials.txt (mode 0600). The password is written to a .pending file first and the file
 * renamed once the cluster has accepted it, so an interrupted first start retries with the same one.
 * Returns what to print.
 */
async function ensureAdmin(lms) {
  if (existsSync(credentialsFile)) {
    return [`Admin login: see ${credentialsFile}`];
  }
  const password = (
    await readOrCreate(
      pendingCredentialsFile,
      () => `username: ${ADMIN_USERNAME}\npassword: ${randomBytes(18).toString("base64url")}\n`,
    )
  ).match(/^password: (\S+)$/m)?.[1];
  if (password === undefined) fail(`${pendingCredentialsFile} is damaged: delete it and start again`);
  const clusterSecret = env.CLUSTER_SECRET || JSON.parse(await readFile(clusterSecretsFile, "utf8")).clusterSecret;
  try {
    await lms.bootstrapAdmin({
      addresses: nodes.map((n) => n.address),
      clusterSecret,
      username: ADMIN_USERNAME,
      password,
      displayName: "Administrator",
    });
  } catch (error) {
    // FAILED_PRECONDITION: an admin exists. Either an earlier start created it with this pending
    // password and stopped before the rename, or someone else made one: try the password.
    if (error?.code !== 9) throw error;
    if (!(await canLogIn(lms, password))) {
      return [
        "An admin already exists and its password is not the generated one; use the login you created,",
        `or delete ${DATA_DIR} to start over.`,
      ];
    }
  }
  await rename(pendingCredentialsFile, credentialsFile);
  return [
    "First start: created the bootstrap admin",
    `  username: ${ADMIN_USERNAME}`,
    `  password: ${password}`,
    `  (saved in ${credentialsFile}, readable only by you)`,
  ];
}

async function canLogIn(lms, password) {
  const client = new lms.LmsClient({ addresses: nodes.map((n) => n.address) });
  try {
    const { token } = await client.auth.login({ username: ADMIN_USERNAME, password });
    return typeof token === "string" && token !== "";
  } catch {
    return false;
  } finally {
    client.close();
  }
}

function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  const killer = setTimeout(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }, STOP_GRACE_MS);
  killer.unref();
  Promise.all(
    children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", r)))),
  ).then(() => process.exit(code));
}

process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));

try {
  await mkdir(DATA_DIR, { recursive: true, mode: 0o700 });
  const cookieSecret = await webCookieSecret();
  for (const node of nodes) start(node.id, nodeMain, { NODE_ID: node.id, PEERS, DATA_DIR });
  const leader = await waitForLeader(READY_TIMEOUT_MS);
  console.log(`start-cluster: ${leader} leads`);
  const lms = await import(pathToFileURL(lmsServiceDist).href);
  const adminLines = await ensureAdmin(lms);
  if (!flags["no-web"]) {
    start("web", webMain, {
      LMS_NODES: nodes.map((n) => n.address).join(","),
      PEERS,
      PORT: String(WEB_PORT),
      HOST: "127.0.0.1",
      WEB_COOKIE_SECRET: cookieSecret,
    });
    await waitForWeb(READY_TIMEOUT_MS);
  }
  const url = flags["no-web"]
    ? `(no web front) LMS nodes at ${nodes.map((n) => n.address).join(", ")}`
    : `open http://127.0.0.1:${WEB_PORT}/`;
  if (flags.check) {
    const password = (await readFile(credentialsFile, "utf8")).match(/^password: (\S+)$/m)?.[1];
    if (password === undefined || !(await canLogIn(lms, password))) throw new Error("the admin cannot log in");
    console.log([...adminLines, `start-cluster --check: OK (leader ${leader}; ${url}; the admin logs in)`].join("\n"));
    stopAll(0);
  } else {
    console.log(
      [
        "",
        `Lectern is up: ${url}`,
        ...adminLines,
        `Node health: ${nodes.map((n) => `http://${n.host}:${n.httpPort}/healthz`).join("  ")}`,
        "Ctrl-C stops everything.",
        "",
      ].join("\n"),
    );
  }
} catch (error) {
  console.error(`start-cluster: ${error?.message ?? String(error)}`);
  stopAll(1);
}
