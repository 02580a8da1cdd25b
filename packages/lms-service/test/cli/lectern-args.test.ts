import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type LecternInvocation, nodeHelp, parseLecternArgs } from "../../src/cli/lectern-args.js";
import { isUsageError, type UsageError, usageExitCode } from "../../src/cli/usage-error.js";
import { loadNodeConfig, type NodeEnvironment } from "../../src/node/node-config.js";

const peers = "n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003";

/** The node settings `lectern node <args>` runs with. */
function nodeEnv(args: readonly string[], env: NodeEnvironment = {}): NodeEnvironment {
  const invocation = parseLecternArgs(["node", ...args], env);
  if (invocation.command !== "node") throw new Error(`expected the node command, got ${invocation.command}`);
  return invocation.env;
}

function usageErrorOf(argv: readonly string[], env: NodeEnvironment = {}): UsageError {
  let caught: unknown;
  try {
    parseLecternArgs(argv, env);
  } catch (error) {
    caught = error;
  }
  expect(isUsageError(caught), `expected a usage error for ${JSON.stringify(argv)}`).toBe(true);
  return caught as UsageError;
}

describe("lectern node: flags onto the settings loadNodeConfig reads", () => {
  it("maps every flag onto its environment variable", () => {
    const env = nodeEnv([
      "--id=n2",
      "--peers",
      peers,
      "--data-dir",
      "/srv/data",
      "--file-storage-dir",
      "/srv/files",
      "--mongo-uri",
      "mongodb://127.0.0.1:27017",
      "--ollama-url",
      "http://127.0.0.1:11434",
      "--ollama-model",
      "llama3",
      "--max-file-bytes",
      "1048576",
      "--http-host",
      "0.0.0.0",
      "--http-port",
      "9102",
      "--log-level",
      "debug",
    ]);
    expect(env).toEqual({
      NODE_ID: "n2",
      PEERS: peers,
      DATA_DIR: "/srv/data",
      FILE_STORAGE_DIR: "/srv/files",
      MONGO_URI: "mongodb://127.0.0.1:27017",
      OLLAMA_URL: "http://127.0.0.1:11434",
      OLLAMA_MODEL: "llama3",
      MAX_FILE_BYTES: "1048576",
      HTTP_HOST: "0.0.0.0",
      HTTP_PORT: "9102",
      LOG_LEVEL: "debug",
    });
    const config = loadNodeConfig(env, "/");
    expect(config).toMatchObject({ nodeId: "n2", dataDir: "/srv/data/n2", maxFileBytes: 1048576, httpPort: 9102 });
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 7002 });
  });

  it("lets flags win over the environment and keeps the variables no flag names", () => {
    const env = nodeEnv(["--id", "n3", "--data-dir", "flagged"], {
      NODE_ID: "n1",
      DATA_DIR: "from-env",
      JWT_SECRET: "kept",
      PEERS: peers,
    });
    expect(env).toEqual({ NODE_ID: "n3", DATA_DIR: "flagged", JWT_SECRET: "kept", PEERS: peers });
    // With no flags at all the environment is used as it is, as `node dist/node/main.js` does.
    expect(nodeEnv([], { NODE_ID: "n1" })).toEqual({ NODE_ID: "n1" });
  });

  it("takes --listen as the node's own PEERS entry: added when missing, checked when present", () => {
    expect(nodeEnv(["--id", "n4", "--peers", peers, "--listen", "127.0.0.1:7004"]).PEERS).toBe(
      `${peers},n4=127.0.0.1:7004`,
    );
    const joined = loadNodeConfig(nodeEnv(["--id", "n4", "--listen", "10.0.0.4:7000"]), "/");
    expect(joined.listen).toEqual({ host: "10.0.0.4", port: 7000 });
    expect([...joined.peers.keys()]).toEqual(["n1", "n2", "n3", "n4"]);
    expect(nodeEnv(["--id", "n2", "--peers", peers, "--listen", "127.0.0.1:7002"]).PEERS).toBe(peers);
    const docker = nodeEnv([
      "--id",
      "lms_server_1",
      "--listen",
      "lms_server_1:7000",
      "--peers",
      "lms_server_2=lms_server_2:7000",
    ]);
    expect(loadNodeConfig(docker, "/").listen).toEqual({ host: "lms_server_1", port: 7000 });
  });

  it.each([
    [["node", "--bogus", "1"], "unknown flag --bogus for lectern node", "lectern node --help"],
    [["node", "-x"], "unknown flag -x for lectern node", "lectern node --help"],
    [["node", "--id"], "--id needs a value", "lectern node --help"],
    [["node", "--id", "--peers", peers], "--id needs a value", "lectern node --help"],
    [["node", "--help=yes"], "--help takes no value", "lectern node --help"],
    [["node", "--id", "n1", "stray"], 'unexpected argument "stray"', "lectern node --help"],
    [
      ["node", "--log-level", "loud"],
      '--log-level "loud" is not one of debug, info, warn, error',
      "lectern node --help",
    ],
    [["node", "--listen", "127.0.0.1:7009"], "--listen needs the node's id", "lectern node --help"],
    [["node", "--id", "n1", "--listen", "127.0.0.1"], '--listen "127.0.0.1" is not HOST:PORT: it has no port', ""],
    [["node", "--id", "n1", "--listen", "127.0.0.1:7009"], "disagrees with PEERS, which has n1 at 127.0.0.1:7001", ""],
    [["node", "--id", "n9"], 'NODE_ID "n9" is not one of PEERS', "lectern node --help"],
    [["node", "--id", "n1", "--peers", "n1=bad host:1"], 'host "bad host"', ""],
    [["node", "--id", "n1", "--max-file-bytes", "lots"], "MAX_FILE_BYTES must be a positive integer", ""],
    [["node", "--id", "n1", "--mongo-uri", "http://x"], "MONGO_URI must start with mongodb://", ""],
    [["frob"], 'unknown command "frob": the commands are node and bootstrap-admin', "lectern --help"],
    [[], "no command given", "lectern --help"],
    [
      ["bootstrap-admin", "--user", "x"],
      "unknown flag --user for lectern bootstrap-admin",
      "lectern bootstrap-admin --help",
    ],
  ])("refuses %j: %s", (argv, message, helpCommand) => {
    const error = usageErrorOf(argv);
    expect(error.message).toContain(message);
    if (helpCommand !== "") expect(error.helpCommand).toBe(helpCommand);
  });

  it("answers --help (and -h) with the flag table, which names every flag it accepts", () => {
    const help = parseLecternArgs(["node", "-h"], {});
    expect(help).toEqual({ command: "help", text: nodeHelp() });
    for (const flag of ["--id", "--peers", "--data-dir", "--listen", "--mongo-uri", "--log-level", "--http-port"]) {
      expect(nodeHelp()).toContain(`  ${flag} `);
      // Every flag the help shows is one the parser takes.
      expect(() => parseLecternArgs(["node", flag, "x"], {})).not.toThrow(/unknown flag/);
    }
    expect(parseLecternArgs(["--help"], {}).command).toBe("help");
    expect(parseLecternArgs(["help"], {}).command).toBe("help");
  });
});

describe("lectern bootstrap-admin", () => {
  it("takes the admin's name and password, and the cluster's PEERS and DATA_DIR, from flags over env", () => {
    const invocation = parseLecternArgs(
      ["bootstrap-admin", "--username", "root", "--display-name", "Root", "--peers", peers, "--data-dir", "/d"],
      { PEERS: "n1=10.0.0.1:1", LECTERN_ADMIN_PASSWORD: "from the environment" },
    );
    const expected: LecternInvocation = {
      command: "bootstrap-admin",
      request: { username: "root", displayName: "Root" },
      env: { PEERS: peers, DATA_DIR: "/d", LECTERN_ADMIN_PASSWORD: "from the environment" },
    };
    expect(invocation).toEqual(expected);
    expect(parseLecternArgs(["bootstrap-admin", "--help"], {}).command).toBe("help");
  });
});

describe("the built lectern command", () => {
  const lecternJs = join(import.meta.dirname, "../../dist/cli/lectern.js");

  it("prints its help with --help and exits 0; an unknown flag exits 2 and says so", () => {
    if (!existsSync(lecternJs)) throw new Error(`${lecternJs} is missing: run pnpm run build in packages/lms-service`);
    const help = spawnSync(process.execPath, [lecternJs, "node", "--help"], { encoding: "utf8", timeout: 20_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: lectern node [flags]");
    expect(help.stdout).toContain("--peers ID=HOST:PORT,...");
    expect(help.stderr).toBe("");
    const top = spawnSync(process.execPath, [lecternJs, "--help"], { encoding: "utf8", timeout: 20_000 });
    expect([top.status, top.stdout]).toEqual([0, expect.stringContaining("bootstrap-admin")]);
    const bad = spawnSync(process.execPath, [lecternJs, "node", "--frobnicate"], { encoding: "utf8", timeout: 20_000 });
    expect(bad.status).toBe(usageExitCode);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toContain("unknown flag --frobnicate for lectern node");
    expect(bad.stderr).toContain('Run "lectern node --help"');
  });
});
