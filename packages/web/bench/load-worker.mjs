// The load generator of bench/pages.mjs, in its own thread (its own event loop) so the clients'
// work does not queue behind the web front's and the nodes' on the main thread.
//
// Messages in: { kind: "login", users } then { kind: "phase", name, durationMs, thinkMs } per phase,
// then { kind: "stop" }. Messages out: { kind: "ready" }, { kind: "phase-done", name, samples }.

import { createRequire } from "node:module";
import { parentPort, workerData } from "node:worker_threads";

// undici is a dependency of @lectern/lms-service, not (yet) of the web package: load it from there.
const requireFromService = createRequire(new URL("../../lms-service/package.json", import.meta.url));
const { Pool } = requireFromService("undici");

/** Keep-alive connections to the web front: one per virtual user. */
const { baseUrl, connections, loginBatch } = workerData;
const pool = new Pool(baseUrl, { connections, pipelining: 1, keepAliveTimeout: 60_000 });

/** Signs a user in through the real login form (CSRF cookie and token included). */
async function login(user) {
  const page = await pool.request({ path: "/login", method: "GET" });
  const html = await page.body.text();
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  const csrfCookie = cookiesOf(page.headers);
  if (token === undefined) throw new Error("no CSRF token on /login");
  const form = new URLSearchParams({ _csrf: token, username: user.username, password: user.password });
  const response = await pool.request({
    path: "/login",
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: csrfCookie },
    body: form.toString(),
  });
  await response.body.dump();
  const session = cookiesOf(response.headers)
    .split("; ")
    .find((cookie) => cookie.startsWith("lectern_session="));
  if (response.statusCode !== 303 || session === undefined) {
    throw new Error(`login of ${user.username} failed: HTTP ${response.statusCode}`);
  }
  return { ...user, cookie: session };
}

function cookiesOf(headers) {
  const raw = headers["set-cookie"];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.map((cookie) => cookie.split(";")[0]).join("; ");
}

/** A pause of `thinkMs` on average, drawn uniformly from [0, 2 × thinkMs). */
function thinkPause(thinkMs) {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * thinkMs));
}

/**
 * One virtual user: pages until the phase ends, each after a random think time (`thinkMs` on
 * average). Users start at random points of a think time and pause for random lengths, so they do
 * not fall into step: with a fixed pause, all of them would ask at the same instant, every time.
 */
async function runUser(user, index, until, thinkMs, samples) {
  let turn = index;
  if (thinkMs > 0) await thinkPause(thinkMs / 2);
  while (Date.now() < until) {
    const isDashboard = turn % 2 === 0;
    const path = isDashboard ? "/dashboard" : `/courses/${user.courseIds[turn % user.courseIds.length]}`;
    turn++;
    const started = performance.now();
    let status = 0;
    try {
      const response = await pool.request({ path, method: "GET", headers: { cookie: user.cookie } });
      await response.body.dump();
      status = response.statusCode;
    } catch {
      status = -1;
    }
    samples.push([isDashboard ? 0 : 1, performance.now() - started, status, Date.now()]);
    if (thinkMs > 0) await thinkPause(thinkMs);
  }
}

let users = [];
parentPort.on("message", async (message) => {
  try {
    if (message.kind === "login") {
      users = [];
      // A few at a time: each login hashes a password (scrypt) on the nodes.
      for (let start = 0; start < message.users.length; start += loginBatch) {
        users.push(...(await Promise.all(message.users.slice(start, start + loginBatch).map(login))));
      }
      parentPort.postMessage({ kind: "ready" });
    } else if (message.kind === "phase") {
      const samples = [];
      const until = Date.now() + message.durationMs;
      await Promise.all(users.map((user, index) => runUser(user, index, until, message.thinkMs, samples)));
      parentPort.postMessage({ kind: "phase-done", name: message.name, samples });
    } else if (message.kind === "stop") {
      await pool.close();
      parentPort.close();
    }
  } catch (error) {
    parentPort.postMessage({ kind: "error", message: String(error?.stack ?? error) });
  }
});
