import { resolve } from "node:path";
import { maxNodeIdChars, type PeerAddress, parsePeers } from "../peers.js";

/** Default model for the tutor: small enough to run on a laptop (Gemma 2, 2B parameters). */
export const DEFAULT_OLLAMA_MODEL = "gemma2:2b";
export const DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434";
/** The 3-node cluster one command starts on this machine when nothing is configured. */
export const DEFAULT_PEERS = "n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003";
/** Largest upload a node accepts (a submission or a course material). */
export const DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024;
/** A node's operations HTTP server (health, metrics) listens on its gRPC port plus this by default. */
export const HTTP_PORT_OFFSET = 1000;
/** Where the operations HTTP server listens by default: this machine only. */
export const DEFAULT_HTTP_HOST = "127.0.0.1";

/** Everything one LMS node needs, resolved from the environment and checked. */
export interface NodeConfig {
  readonly nodeId: string;
  /** Bootstrap members with their addresses; the configuration in the log is authoritative later. */
  readonly peers: ReadonlyMap<string, PeerAddress>;
  /** This node's own address (from `peers`): where it listens. */
  readonly listen: PeerAddress;
  readonly dataDir: string;
  readonly fileStorageDir: string;
  readonly mongoUri: string | undefined;
  readonly ollamaUrl: string;
  readonly ollamaModel: string;
  readonly maxFileBytes: number;
  /** Where the shared secrets file lives when JWT_SECRET / CLUSTER_SECRET are not given. */
  readonly secretsFile: string;
  readonly jwtSecret: string | undefined;
  readonly clusterSecret: string | undefined;
  /** Host of the operations HTTP server (`HTTP_HOST`, default 127.0.0.1). */
  readonly httpHost: string;
  /** Port of the operations HTTP server (`HTTP_PORT`, default the gRPC port + {@link HTTP_PORT_OFFSET}). */
  readonly httpPort: number;
}

/** Thrown for a bad setting; the message names the variable and what is expected. */
export class NodeConfigError extends Error {
  readonly code = "INVALID_CONFIG";

  constructor(message: string) {
    super(message);
    this.name = "NodeConfigError";
  }
}

/** The variables a node reads. */
export type NodeEnvironment = Readonly<Record<string, string | undefined>>;

/**
 * Reads a node's settings from `env` (see the design's "Configuration and defaults"): `NODE_ID`
 * (or `SERVER_NAME`), `PEERS`, `DATA_DIR`, `FILE_STORAGE_DIR`, `MONGO_URI`, `JWT_SECRET`,
 * `CLUSTER_SECRET`, `OLLAMA_URL`, `OLLAMA_MODEL`, `MAX_FILE_BYTES`, `HTTP_HOST`, `HTTP_PORT`. Without `PEERS` the node is one
 * of the default local 3-node cluster; without a data folder it uses `./data/<node id>`.
 *
 * @example
 * const config = loadNodeConfig({ NODE_ID: "n2" }); // n2 of the local cluster, listening on 127.0.0.1:7002
 */
export function loadNodeConfig(env: NodeEnvironment, cwd: string = process.cwd()): NodeConfig {
  const nodeId = (env.NODE_ID ?? env.SERVER_NAME ?? "").trim();
  if (nodeId === "") throw new NodeConfigError("NODE_ID is not set: give each node its id, e.g. NODE_ID=n1");
  if (nodeId.length > maxNodeIdChars) {
    throw new NodeConfigError(`NODE_ID is longer than ${maxNodeIdChars} characters`);
  }
  const peers = parsePeers(env.PEERS ?? DEFAULT_PEERS);
  const listen = peers.get(nodeId);
  if (listen === undefined) {
    throw new NodeConfigError(`NODE_ID "${nodeId}" is not one of PEERS (${[...peers.keys()].join(", ")})`);
  }
  const dataRoot = resolve(cwd, env.DATA_DIR ?? "data");
  const dataDir = resolve(dataRoot, nodeId);
  const ollamaUrl = env.OLLAMA_URL ?? DEFAULT_OLLAMA_URL;
  checkUrl("OLLAMA_URL", ollamaUrl);
  const mongoUri = emptyToUndefined(env.MONGO_URI);
  if (mongoUri !== undefined && !/^mongodb(\+srv)?:\/\//.test(mongoUri)) {
    throw new NodeConfigError("MONGO_URI must start with mongodb:// or mongodb+srv://");
  }
  return {
    nodeId,
    peers,
    listen,
    dataDir,
    fileStorageDir: resolve(cwd, env.FILE_STORAGE_DIR ?? resolve(dataDir, "files")),
    mongoUri,
    ollamaUrl,
    ollamaModel: emptyToUndefined(env.OLLAMA_MODEL) ?? DEFAULT_OLLAMA_MODEL,
    maxFileBytes: positiveInteger("MAX_FILE_BYTES", env.MAX_FILE_BYTES, DEFAULT_MAX_FILE_BYTES),
    secretsFile: resolve(dataRoot, "cluster-secrets.json"),
    jwtSecret: emptyToUndefined(env.JWT_SECRET),
    clusterSecret: emptyToUndefined(env.CLUSTER_SECRET),
    httpHost: emptyToUndefined(env.HTTP_HOST) ?? DEFAULT_HTTP_HOST,
    httpPort: port("HTTP_PORT", env.HTTP_PORT, listen.port + HTTP_PORT_OFFSET),
  };
}

function emptyToUndefined(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

function checkUrl(name: string, value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new NodeConfigError(`${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new NodeConfigError(`${name} must be an http:// or https:// URL`);
  }
}

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new NodeConfigError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function port(name: string, raw: string | undefined, fallback: number): number {
  const value = positiveInteger(name, raw, fallback);
  if (value > 65_535) throw new NodeConfigError(`${name} must be a port number (1-65535), got ${value}`);
  return value;
}
