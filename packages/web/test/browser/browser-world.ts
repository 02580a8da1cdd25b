import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { buildApp } from "../../src/app.js";
import { LocalCluster } from "../../src/grpc/local-cluster.js";
import { createGrpcLmsApi, type GrpcLmsApi } from "../../src/grpc-lms-api.js";
import { FakeOllama } from "./fake-ollama.js";

/** Debian's chromium (installed by `.ci/run`); CHROMIUM_PATH overrides it. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** What a run without chromium prints and names its skipped test. */
export const chromiumMissingMessage = `browser tests SKIPPED: ${chromiumPath} not found (apt-get install -y chromium)`;
/** Where screenshots go (gitignored). */
export const artifactsFolder = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

/** The env note's flags: headless, no sandbox as root, and no background traffic to Google. */
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function chromiumAvailable(): boolean {
  return existsSync(chromiumPath);
}

export const adminAccount = { username: "admin", password: "admin-password-1234", displayName: "Ada Admin" };
export const instructorAccount = { username: "tess", password: "tess-password-1234", displayName: "Tess Teacher" };

/**
 * Everything the browser journeys run against: a real in-process 3-node cluster, a fake model
 * server, the real web app on 127.0.0.1 over the gRPC adapter, and one fresh Chromium profile per
 * person (so their session cookies stay apart).
 */
export class BrowserWorld {
  private readonly contexts: BrowserContext[] = [];

  private constructor(
    readonly cluster: LocalCluster,
    readonly ollama: FakeOllama,
    readonly api: GrpcLmsApi,
    readonly app: FastifyInstance,
    readonly baseUrl: string,
    private readonly profiles: string,
  ) {}

  static async start(): Promise<BrowserWorld> {
    const ollama = new FakeOllama();
    const ollamaUrl = await ollama.start();
    const cluster = await LocalCluster.start({ ollamaUrl });
    const api = createGrpcLmsApi({ nodes: cluster.nodeEntries });
    await cluster.bootstrapAdmin(adminAccount.username, adminAccount.password, adminAccount.displayName);
    const admin = await api.login(adminAccount);
    await api.createUser(admin.token, {
      ...instructorAccount,
      role: "instructor",
      idempotencyKey: "browser-world-instructor",
    });
    const app = await buildApp({ api, cookieSecret: "browser-test-cookie-secret-long-enough!!" });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as { port: number };
    await mkdir(artifactsFolder, { recursive: true });
    const profiles = await mkdtemp(join(tmpdir(), "lectern-chromium-"));
    return new BrowserWorld(cluster, ollama, api, app, `http://127.0.0.1:${port}`, profiles);
  }

  /** A fresh Chromium profile (its own --user-data-dir) with one page. */
  async newPerson(name: string): Promise<Page> {
    const context = await chromium.launchPersistentContext(join(this.profiles, name), {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      acceptDownloads: true,
      baseURL: this.baseUrl,
      viewport: { width: 1200, height: 900 },
    });
    this.contexts.push(context);
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    return page;
  }

  async screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(artifactsFolder, `${name}.png`), fullPage: true });
  }

  async stop(): Promise<void> {
    await Promise.all(this.contexts.map((context) => context.close().catch(() => {})));
    await this.app.close();
    this.api.close();
    await this.cluster.stop();
    await this.ollama.stop();
    await rm(this.profiles, { recursive: true, force: true });
  }
}

/** Signs in through the login form and waits for the dashboard. */
export async function signIn(page: Page, account: { username: string; password: string }): Promise<void> {
  await page.goto("/login");
  await page.fill("#login-username", account.username);
  await page.fill("#login-password", account.password);
  await Promise.all([page.waitForURL("**/dashboard"), page.click("form[action='/login'] button[type=submit]")]);
}
