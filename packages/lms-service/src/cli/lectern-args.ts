import { parseArgs } from "node:util";
import { DEFAULT_PEERS, loadNodeConfig, type NodeEnvironment } from "../node/node-config.js";
import { isNodeLogLevel, NODE_LOG_LEVELS } from "../ops/pino-logger.js";
import { type PeerAddress, parsePeers } from "../peers.js";
import { UsageError } from "./usage-error.js";

/**
 * The `lectern` command line, parsed without side effects: which command to run and the settings
 * it runs with. Every node flag names one environment variable that loadNodeConfig (or the node's
 * main) reads, and a flag given on the command line wins over the variable, so `lectern node` and
 * `node dist/node/main.js` with the same settings start the same node.
 */

/** One flag of `lectern node` and the environment variable it sets. */
interface SettingFlag {
  readonly variable: string;
  /** The placeholder shown in the help. */
  readonly value: string;
  readonly help: string;
}

/** The flags that map one-to-one onto a node's environment variables, in help order. */
const settingFlags = {
  id: { variable: "NODE_ID", value: "ID", help: "this node's id: one of the ids in PEERS" },
  peers: {
    variable: "PEERS",
    value: "ID=HOST:PORT,...",
    help: "the cluster's bootstrap members (default: the local 3-node cluster)",
  },
  "data-dir": {
    variable: "DATA_DIR",
    value: "DIR",
    help: "folder of the node folders and the shared secrets file (default ./data)",
  },
  "file-storage-dir": {
    variable: "FILE_STORAGE_DIR",
    value: "DIR",
    help: "where stored files live (default DATA_DIR/ID/files)",
  },
  "mongo-uri": {
    variable: "MONGO_URI",
    value: "URI",
    help: "keep the LMS state in MongoDB instead of the embedded store",
  },
  "ollama-url": { variable: "OLLAMA_URL", value: "URL", help: "the tutor's Ollama-compatible model server" },
  "ollama-model": { variable: "OLLAMA_MODEL", value: "NAME", help: "the tutor's model (default gemma2:2b)" },
  "max-file-bytes": { variable: "MAX_FILE_BYTES", value: "N", help: "largest upload in bytes (default 25 MiB)" },
  "http-host": { variable: "HTTP_HOST", value: "HOST", help: "operations server host (default 127.0.0.1)" },
  "http-port": { variable: "HTTP_PORT", value: "PORT", help: "operations server port (default gRPC port + 1000)" },
  "log-level": { variable: "LOG_LEVEL", value: "LEVEL", help: `one of ${NODE_LOG_LEVELS.join(", ")} (default info)` },
} as const satisfies Record<string, SettingFlag>;

type SettingFlagName = keyof typeof settingFlags;

/** What the bootstrap command was asked for; absent values come from the environment. */
export interface BootstrapAdminRequest {
  readonly username?: string;
  readonly password?: string;
  readonly displayName?: string;
}

/** A parsed `lectern` command line. */
export type LecternInvocation =
  /** Print `text` to stdout and exit 0. */
  | { readonly command: "help"; readonly text: string }
  /** Start a node with these settings (the environment with the flags applied, already checked). */
  | { readonly command: "node"; readonly env: NodeEnvironment }
  | { readonly command: "bootstrap-admin"; readonly request: BootstrapAdminRequest; readonly env: NodeEnvironment };

const commands = ["node", "bootstrap-admin"] as const;

/**
 * Parses `argv` (the words after `lectern`) against `env` (the process environment).
 * @throws UsageError for an unknown command or flag, a flag without its value, a stray argument,
 *   or settings loadNodeConfig refuses (the message names the flag or variable).
 * @example
 * parseLecternArgs(["node", "--id", "n2"], {}); // { command: "node", env: { NODE_ID: "n2" } }
 */
export function parseLecternArgs(argv: readonly string[], env: NodeEnvironment): LecternInvocation {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError("no command given", "lectern --help");
  if (command === "--help" || command === "-h" || command === "help") return { command: "help", text: lecternHelp() };
  if (command === "node") return parseNodeArgs(rest, env);
  if (command === "bootstrap-admin") return parseBootstrapAdminArgs(rest, env);
  throw new UsageError(`unknown command "${command}": the commands are ${commands.join(" and ")}`, "lectern --help");
}

function parseNodeArgs(args: readonly string[], env: NodeEnvironment): LecternInvocation {
  const helpCommand = "lectern node --help";
  const options = {
    ...Object.fromEntries(Object.keys(settingFlags).map((name) => [name, { type: "string" as const }])),
    listen: { type: "string" as const },
    help: { type: "boolean" as const, short: "h" },
  };
  const values = strictParse(args, options, "lectern node", helpCommand) as Record<
    string,
    string | boolean | undefined
  >;
  if (values.help === true) return { command: "help", text: nodeHelp() };
  let settings: NodeEnvironment = { ...env };
  for (const [name, flag] of Object.entries(settingFlags) as [SettingFlagName, SettingFlag][]) {
    const value = values[name];
    if (typeof value === "string") settings = { ...settings, [flag.variable]: value };
  }
  const logLevel = values["log-level"];
  if (typeof logLevel === "string" && !isNodeLogLevel(logLevel)) {
    throw new UsageError(`--log-level "${logLevel}" is not one of ${NODE_LOG_LEVELS.join(", ")}`, helpCommand);
  }
  if (typeof values.listen === "string") settings = withListenAddress(settings, values.listen, helpCommand);
  try {
    loadNodeConfig(settings);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), helpCommand);
  }
  return { command: "node", env: settings };
}

function parseBootstrapAdminArgs(args: readonly string[], env: NodeEnvironment): LecternInvocation {
  const helpCommand = "lectern bootstrap-admin --help";
  const values = strictParse(
    args,
    {
      username: { type: "string" },
      password: { type: "string" },
      "display-name": { type: "string" },
      peers: { type: "string" },
      "data-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    "lectern bootstrap-admin",
    helpCommand,
  ) as Record<string, string | boolean | undefined>;
  if (values.help === true) return { command: "help", text: bootstrapAdminHelp() };
  const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  const peers = text("peers");
  const dataDir = text("data-dir");
  const username = text("username");
  const password = text("password");
  const displayName = text("display-name");
  return {
    command: "bootstrap-admin",
    request: {
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(displayName === undefined ? {} : { displayName }),
    },
    env: {
      ...env,
      ...(peers === undefined ? {} : { PEERS: peers }),
      ...(dataDir === undefined ? {} : { DATA_DIR: dataDir }),
    },
  };
}

type ParseOptions = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

/** node:util parseArgs in strict mode, its errors turned into UsageErrors an operator can act on. */
function strictParse(args: readonly string[], options: ParseOptions, command: string, helpCommand: string) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(describeParseError(error, command), helpCommand);
  }
}

function describeParseError(error: unknown, command: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown flag ${quoted} for ${command}`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    return `unexpected argument "${quoted}" for ${command}: settings are given as --flag VALUE`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const flag = /--[\w-]+/.exec(quoted)?.[0] ?? quoted;
    if (/does not take an argument/.test(message)) return `${flag} takes no value`;
    return `${flag} needs a value`;
  }
  return message;
}

/**
 * Applies `--listen HOST:PORT`. A node listens at its own PEERS entry (peers dial that same
 * address), so `--listen` is that entry: added to PEERS when the node's id is missing there (a node
 * joining a running cluster), accepted when it agrees, refused when it contradicts it.
 */
function withListenAddress(settings: NodeEnvironment, listen: string, helpCommand: string): NodeEnvironment {
  const nodeId = (settings.NODE_ID ?? settings.SERVER_NAME ?? "").trim();
  if (nodeId === "") throw new UsageError("--listen needs the node's id: give --id (or NODE_ID)", helpCommand);
  const own = peerAddress(nodeId, listen, helpCommand);
  const spec = settings.PEERS ?? DEFAULT_PEERS;
  let listed: PeerAddress | undefined;
  try {
    listed = parsePeers(spec).get(nodeId);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), helpCommand);
  }
  if (listed === undefined) return { ...settings, PEERS: `${spec},${nodeId}=${listen.trim()}` };
  if (listed.host !== own.host || listed.port !== own.port) {
    throw new UsageError(
      `--listen ${listen.trim()} disagrees with PEERS, which has ${nodeId} at ${hostPort(listed)}: ` +
        "a node listens at its own PEERS address, so make them agree (or drop --listen)",
      helpCommand,
    );
  }
  return settings;
}

function peerAddress(nodeId: string, listen: string, helpCommand: string): PeerAddress {
  try {
    const address = parsePeers(`${nodeId}=${listen}`).get(nodeId);
    if (address !== undefined) return address;
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^PEERS entry 1 \([^)]*\) /, "") : String(error);
    throw new UsageError(`--listen "${listen}" is not HOST:PORT: it ${detail}`, helpCommand);
  }
  throw new UsageError(`--listen "${listen}" is not HOST:PORT`, helpCommand);
}

function hostPort(address: PeerAddress): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** `lectern --help`. */
export function lecternHelp(): string {
  return [
    "Usage: lectern <command> [flags]",
    "",
    "Commands:",
    "  node              run one LMS node (one Raft member serving the LMS over gRPC)",
    "  bootstrap-admin   create the cluster's first admin",
    "",
    'Run "lectern <command> --help" for its flags.',
    "",
  ].join("\n");
}

/** `lectern node --help`: generated from the flag table, so it lists exactly what is accepted. */
export function nodeHelp(): string {
  const rows: [string, string, string][] = [
    ...(Object.entries(settingFlags) as [SettingFlagName, SettingFlag][]).map(
      ([name, flag]): [string, string, string] => [`--${name} ${flag.value}`, flag.variable, flag.help],
    ),
    ["--listen HOST:PORT", "PEERS", "this node's own PEERS entry (added when PEERS lacks --id)"],
    ["-h, --help", "", "print this help"],
  ];
  const flagWidth = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const variableWidth = Math.max(...rows.map(([, variable]) => variable.length)) + 2;
  return [
    "Usage: lectern node [flags]",
    "",
    "Runs one LMS node. Each flag sets the environment variable beside it and wins over it; anything",
    "not given keeps the variable's value or its default.",
    "",
    "Flags:",
    ...rows.map(([flag, variable, help]) => `  ${flag.padEnd(flagWidth)}${variable.padEnd(variableWidth)}${help}`),
    "",
    "JWT_SECRET and CLUSTER_SECRET come from the environment or the shared secrets file only: a",
    "command line is visible to every user of the machine.",
    "",
    "Example:",
    "  lectern node --id n1 --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 --data-dir ./data",
    "",
  ].join("\n");
}

/** `lectern bootstrap-admin --help`. */
export function bootstrapAdminHelp(): string {
  return [
    "Usage: lectern bootstrap-admin --username NAME [--password PASSWORD] [flags]",
    "",
    "Creates the cluster's first admin, proving knowledge of the cluster secret (CLUSTER_SECRET, else",
    "the shared secrets file in DATA_DIR). Refused once an admin exists.",
    "",
    "Flags:",
    "  --username NAME          the admin's username (or LECTERN_ADMIN_USERNAME)",
    "  --password PASSWORD      the admin's password (or LECTERN_ADMIN_PASSWORD, which stays out of ps)",
    "  --display-name NAME      shown instead of the username",
    "  --peers ID=HOST:PORT,... the cluster's nodes (PEERS)",
    "  --data-dir DIR           where the shared secrets file is (DATA_DIR)",
    "  -h, --help               print this help",
    "",
  ].join("\n");
}
