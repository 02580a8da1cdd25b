import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEFAULT_OLLAMA_MODEL, loadNodeConfig } from "../../src/node/node-config.js";
import { parsePeers } from "../../src/peers.js";
import { parseBlockYaml, type YamlValue } from "./block-yaml.js";

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, "../../../..");
const composeFile = join(repoRoot, "docker-compose.yml");
const nodeServices = ["lms_server_1", "lms_server_2", "lms_server_3"];

/** The environment variable names a source file reads as `env.NAME` or `process.env.NAME`. */
function envNamesReadBy(...files: string[]): Set<string> {
  const names = new Set<string>();
  for (const file of files) {
    for (const match of readFileSync(join(repoRoot, file), "utf8").matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) {
      names.add(match[1]);
    }
  }
  return names;
}

function findDockerCompose(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir !== "" && existsSync(join(dir, "docker-compose"))) return join(dir, "docker-compose");
  }
  return undefined;
}

function asMap(value: YamlValue | undefined, what: string): { [key: string]: YamlValue } {
  if (value === undefined || typeof value === "string" || Array.isArray(value))
    throw new Error(`${what} is not a mapping`);
  return value;
}

/** An environment block as a map, whether written as a mapping or as `- KEY=value` items. */
function environmentOf(service: { [key: string]: YamlValue }): Record<string, string> {
  const environment = service.environment;
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((item) => {
        const text = String(item);
        const at = text.indexOf("=");
        return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(asMap(environment, "environment")).map(([k, v]) => [k, String(v)]));
}

/** Published ports as "host:container", whether written short ("5000:5000") or long (published/target). */
function publishedPorts(service: { [key: string]: YamlValue }): string[] {
  const ports = service.ports;
  if (ports === undefined) return [];
  if (!Array.isArray(ports)) throw new Error("ports is not a list");
  return ports.map((port) => {
    if (typeof port === "string") return port.replace(/^"|"$/g, "");
    const long = asMap(port, "a port");
    return `${String(long.published)}:${String(long.target)}`;
  });
}

const dockerCompose = findDockerCompose();
if (dockerCompose === undefined) {
  console.log(
    "docker-compose validation SKIPPED: no docker-compose binary on PATH (apt-get install -y docker-compose)",
  );
}

/** docker-compose (Python) takes seconds to start on this machine. */
const composeTimeoutMs = 60_000;
let resolved: Promise<{ [key: string]: YamlValue }> | undefined;

/** The compose file as docker-compose resolves it (anchors merged), or as written when the binary is missing. */
function resolvedCompose(): Promise<{ [key: string]: YamlValue }> {
  resolved ??= (async () => {
    const text =
      dockerCompose === undefined
        ? readFileSync(composeFile, "utf8")
        : (await run(dockerCompose, ["-f", composeFile, "config"], { cwd: repoRoot })).stdout;
    return asMap(parseBlockYaml(text), "the compose file");
  })();
  return resolved;
}

describe("docker-compose.yml", { timeout: composeTimeoutMs }, () => {
  it.skipIf(dockerCompose === undefined)(
    "passes `docker-compose config -q` (Debian's docker-compose, no engine needed)",
    async () => {
      const result = await run(dockerCompose as string, ["-f", composeFile, "config", "-q"], { cwd: repoRoot });
      expect(result.stderr).toBe("");
    },
  );

  it("runs three LMS nodes, MongoDB, the web front, Ollama and the model pull", async () => {
    const services = asMap((await resolvedCompose()).services, "services");
    expect(Object.keys(services).sort()).toEqual([...nodeServices, "mongodb", "ollama", "ollama_pull", "web"].sort());
    const pull = JSON.stringify(services.ollama_pull);
    expect(pull).toContain(`ollama pull ${DEFAULT_OLLAMA_MODEL}`);
    expect(publishedPorts(asMap(services.web, "web"))).toEqual(["5000:5000"]);
    // The nodes publish nothing: only the web front is reachable from outside.
    for (const name of nodeServices) expect(publishedPorts(asMap(services[name], name))).toEqual([]);
  });

  it("gives every node settings the node reads, and loadNodeConfig accepts each one", async () => {
    const services = asMap((await resolvedCompose()).services, "services");
    const known = envNamesReadBy(
      "packages/lms-service/src/node/node-config.ts",
      "packages/lms-service/src/node/main.ts",
    );
    expect(known.has("NODE_ID") && known.has("PEERS") && known.has("HTTP_PORT")).toBe(true);
    for (const name of nodeServices) {
      const env = environmentOf(asMap(services[name], name));
      for (const key of Object.keys(env))
        expect(known, `${name} sets ${key}, which the node never reads`).toContain(key);
      expect(env.NODE_ID).toBe(name);
      const config = loadNodeConfig(env, "/");
      expect(config.mongoUri).toMatch(/^mongodb:\/\/mongodb:/);
      expect(config.ollamaUrl).toMatch(/^http:\/\/ollama:/);
      expect(config.ollamaModel).toBe(DEFAULT_OLLAMA_MODEL);
      // PEERS lists exactly the node services, each reached by its service name (Docker's DNS
      // resolves it, and PEERS accepts its underscores), so no service needs a network alias.
      expect([...config.peers.keys()].sort()).toEqual(nodeServices);
      for (const [id, address] of config.peers) expect(address.host).toBe(id);
      expect(asMap(services[name], name).networks).toBeUndefined();
      // Other containers reach the operations server (fresh-start probes use the gRPC port + 1000).
      expect(config.httpHost).toBe("0.0.0.0");
      expect(config.httpPort).toBe(config.listen.port + 1000);
    }
    const peers = nodeServices.map((name) => environmentOf(asMap(services[name], name)).PEERS);
    expect(new Set(peers).size).toBe(1);
  });

  it("points the web front at every node's gRPC address with settings the web main reads", async () => {
    const services = asMap((await resolvedCompose()).services, "services");
    const env = environmentOf(asMap(services.web, "web"));
    const known = envNamesReadBy("packages/web/src/main.ts");
    for (const key of Object.keys(env)) expect(known, `web sets ${key}, which the web main never reads`).toContain(key);
    // The same id=host:port entries as the nodes' PEERS, parsed by the same rules.
    const peers = parsePeers(environmentOf(asMap(services.lms_server_1, "lms_server_1")).PEERS);
    expect([...parsePeers(env.LMS_NODES)].sort()).toEqual([...peers].sort());
    expect(env.PORT).toBe("5000");
  });

  it("builds with Dockerfiles that install pnpm with npm and run the built entry points", () => {
    const node = readFileSync(join(repoRoot, "docker/Dockerfile.node"), "utf8");
    const web = readFileSync(join(repoRoot, "docker/Dockerfile.web"), "utf8");
    for (const dockerfile of [node, web]) expect(dockerfile).toContain("npm i -g pnpm@12.4.2");
    expect(node).toContain('"packages/lms-service/dist/node/main.js"');
    expect(web).toContain('"packages/web/dist/main.js"');
    expect(existsSync(join(repoRoot, "packages/lms-service/src/node/main.ts"))).toBe(true);
    expect(existsSync(join(repoRoot, "packages/web/src/main.ts"))).toBe(true);
    const pin = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).packageManager;
    expect(pin).toBe("pnpm@12.4.2");
  });
});

describe("parseBlockYaml (the compose check's reader)", () => {
  it("reads nested mappings, sequences at the key's indent, quoted and folded scalars", () => {
    const parsed = parseBlockYaml(
      [
        "services:",
        "  a:",
        "    environment:",
        "      X: '1'",
        '      Y: "two"',
        "    ports:",
        "    - 5000:5000",
        "    test:",
        "    - 'fetch(''u'').then(r ?",
        "      0 : 1)'",
        "# a comment",
        "volumes:",
        "  data: {}",
      ].join("\n"),
    );
    expect(parsed).toEqual({
      services: {
        a: { environment: { X: "1", Y: "two" }, ports: ["5000:5000"], test: ["fetch('u').then(r ? 0 : 1)"] },
      },
      volumes: { data: "{}" },
    });
  });
});
