import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { buildApp, type WebAppOptions } from "../src/app.js";
import { FakeLmsApi } from "../src/testing/fake-lms-api.js";

export const passwords = {
  admin: "admin-password-123",
  teacher: "teacher-password-123",
  other: "other-teacher-pw-123",
  alice: "alice-password-1234",
  bob: "bob-password-123456",
} as const;

export interface TestWorld {
  readonly app: FastifyInstance;
  readonly api: FakeLmsApi;
}

/** An app over a fresh fake with an admin, two instructors and two students. */
export async function createWorld(options: Partial<WebAppOptions> = {}): Promise<TestWorld> {
  const api = new FakeLmsApi();
  api.seedUser({ username: "admin", password: passwords.admin, role: "admin", displayName: "Ada Admin" });
  api.seedUser({ username: "teacher", password: passwords.teacher, role: "instructor", displayName: "Tess Teacher" });
  api.seedUser({ username: "other", password: passwords.other, role: "instructor", displayName: "Otto Other" });
  api.seedUser({ username: "alice", password: passwords.alice, role: "student", displayName: "Alice Student" });
  api.seedUser({ username: "bob", password: passwords.bob, role: "student", displayName: "Bob Student" });
  const app = await buildApp({ api, cookieSecret: "test-cookie-secret-that-is-long-enough!", ...options });
  return { app, api };
}

export interface FilePart {
  readonly name: string;
  readonly content: Uint8Array | string;
  readonly type?: string;
}

/**
 * A browser over `app.inject`: keeps cookies, remembers the last page's CSRF token and adds it to
 * form posts unless told otherwise.
 */
export class TestBrowser {
  readonly cookies = new Map<string, string>();
  csrfToken = "";

  constructor(private readonly app: FastifyInstance) {}

  async get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return this.remember(
      await this.app.inject({ method: "GET", url, headers: { ...headers, cookie: this.cookieHeader() } }),
    );
  }

  /** Posts a urlencoded form; `csrf: false` leaves the token out, a string sends that token. */
  async post(
    url: string,
    form: Record<string, string> = {},
    options: { csrf?: boolean | string; headers?: Record<string, string> } = {},
  ): Promise<LightMyRequestResponse> {
    const fields = new URLSearchParams(form);
    const token =
      options.csrf === undefined || options.csrf === true
        ? this.csrfToken
        : options.csrf === false
          ? undefined
          : options.csrf;
    if (token !== undefined) fields.set("_csrf", token);
    return this.remember(
      await this.app.inject({
        method: "POST",
        url,
        payload: fields.toString(),
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...options.headers,
          cookie: this.cookieHeader(),
        },
      }),
    );
  }

  /** Posts a multipart form (fields first, then the file), with the CSRF token in the query. */
  async postMultipart(
    url: string,
    fields: Record<string, string>,
    file: FilePart | undefined,
    options: { csrf?: boolean; headers?: Record<string, string> } = {},
  ): Promise<LightMyRequestResponse> {
    const data = new FormData();
    for (const [name, value] of Object.entries(fields)) data.append(name, value);
    if (file !== undefined) {
      data.append("file", new Blob([file.content], { type: file.type ?? "application/octet-stream" }), file.name);
    }
    const encoded = new Request("http://localhost/", { method: "POST", body: data });
    const payload = Buffer.from(await encoded.arrayBuffer());
    const target =
      options.csrf === false
        ? url
        : `${url}${url.includes("?") ? "&" : "?"}_csrf=${encodeURIComponent(this.csrfToken)}`;
    return this.remember(
      await this.app.inject({
        method: "POST",
        url: target,
        payload,
        headers: {
          "content-type": encoded.headers.get("content-type") ?? "",
          ...options.headers,
          cookie: this.cookieHeader(),
        },
      }),
    );
  }

  /** Follows a redirect answer with a GET. */
  async follow(response: LightMyRequestResponse): Promise<LightMyRequestResponse> {
    const location = response.headers.location;
    if (typeof location !== "string")
      throw new Error(`not a redirect: ${response.statusCode} ${response.body.slice(0, 200)}`);
    return this.get(location);
  }

  /** Signs in through the login form. */
  async login(username: keyof typeof passwords): Promise<void> {
    await this.get("/login");
    const response = await this.post("/login", { username, password: passwords[username] });
    if (response.statusCode !== 303)
      throw new Error(`login failed: ${response.statusCode} ${response.body.slice(0, 300)}`);
    await this.follow(response);
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  private remember(response: LightMyRequestResponse): LightMyRequestResponse {
    for (const cookie of response.cookies as Array<{ name: string; value: string; maxAge?: number }>) {
      if (cookie.value === "" || cookie.maxAge === 0) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    const match = /name="_csrf" value="([^"]+)"/.exec(response.body);
    if (match?.[1] !== undefined) this.csrfToken = match[1];
    return response;
  }
}

/** Signs in a fresh browser as `username`. */
export async function browserAs(world: TestWorld, username: keyof typeof passwords): Promise<TestBrowser> {
  const browser = new TestBrowser(world.app);
  await browser.login(username);
  return browser;
}

/** The id in a `/courses/<id>` or `/assignments/<id>` redirect. */
export function idFromLocation(response: LightMyRequestResponse, prefix: string): string {
  const location = String(response.headers.location ?? "");
  const match = new RegExp(`^${prefix}/([^/?#]+)`).exec(location);
  if (match?.[1] === undefined)
    throw new Error(`expected a redirect to ${prefix}/<id>, got ${response.statusCode} ${location}`);
  return decodeURIComponent(match[1]);
}

/**
 * A course taught by `teacher` with one assignment and `alice` enrolled through a join code.
 * Returns the browsers and ids the tests need.
 */
export async function courseWorld(options: Partial<WebAppOptions> = {}) {
  const world = await createWorld(options);
  const teacher = await browserAs(world, "teacher");
  await teacher.get("/courses/new");
  const created = await teacher.post("/courses", { title: "Distributed Systems", description: "Raft and friends" });
  const courseId = idFromLocation(created, "/courses");
  await teacher.follow(created);
  const assignmentResponse = await teacher.post(`/courses/${courseId}/assignments`, {
    title: "Lab 1",
    description: "Implement elections",
    dueAt: "",
    maxPoints: "10",
  });
  const assignmentId = idFromLocation(assignmentResponse, "/assignments");
  await teacher.get(`/courses/${courseId}`);
  const codeResponse = await teacher.post(`/courses/${courseId}/join-codes`, { expiresAt: "" });
  const codePage = await teacher.follow(codeResponse);
  const code = /New join code: ([A-Z0-9]+)/.exec(codePage.body)?.[1];
  if (code === undefined) throw new Error("no join code shown");
  const alice = await browserAs(world, "alice");
  const joined = await alice.post("/courses/join", { code });
  if (joined.headers.location !== `/courses/${courseId}`) throw new Error(`join failed: ${joined.headers.location}`);
  await alice.follow(joined);
  return { ...world, teacher, alice, courseId, assignmentId, code };
}
