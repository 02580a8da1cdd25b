import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, "../../../..");
const script = join(repoRoot, "scripts/start-cluster.mjs");
const nodeMain = join(repoRoot, "packages/lms-service/dist/node/main.js");

/**
 * `pnpm start`'s launcher in --check mode, without the web front (packages/web's gRPC API is
 * tested by its own package): three node processes, a leader, the bootstrap admin on the first
 * start with its credentials file, and the file's location on a later start.
 */
describe.skipIf(!existsSync(nodeMain))("scripts/start-cluster.mjs --check", { timeout: 90_000 }, () => {
  let dataDir = "";
  afterAll(async () => {
    if (dataDir !== "") await rm(dataDir, { recursive: true, force: true });
  });

  it("creates the admin on the first start and points at its credentials later", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "lectern-start-"));
    // Fixed ports below Linux's ephemeral range (32768 and up), so neither the other tests' servers
    // (bound to port 0) nor any connection's source port can take them; +1000 (the operations
    // servers) stays below it too.
    const base = 20_000 + Math.floor(Math.random() * 1000) * 10;
    const env = {
      ...process.env,
      DATA_DIR: dataDir,
      PEERS: `n1=127.0.0.1:${base + 1},n2=127.0.0.1:${base + 2},n3=127.0.0.1:${base + 3}`,
      LOG_LEVEL: "warn",
    };
    const first = await run(process.execPath, [script, "--check", "--no-web"], { env, cwd: repoRoot });
    expect(first.stdout).toContain("First start: created the bootstrap admin");
    expect(first.stdout).toMatch(/password: \S{20,}/);
    expect(first.stdout).toContain("start-cluster --check: OK");
    const credentials = await stat(join(dataDir, "admin-credentials.txt"));
    expect(credentials.mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, "cluster-secrets.json"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, "web-secrets.json"))).mode & 0o777).toBe(0o600);

    const later = await run(process.execPath, [script, "--check", "--no-web"], { env, cwd: repoRoot });
    expect(later.stdout).toContain(`Admin login: see ${join(dataDir, "admin-credentials.txt")}`);
    expect(later.stdout).not.toContain("password:");
    expect(later.stdout).toContain("start-cluster --check: OK");
  });
});
