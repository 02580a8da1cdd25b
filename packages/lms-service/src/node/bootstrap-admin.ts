import { readFile } from "node:fs/promises";
import { type BootstrapAdminRequest, parseLecternArgs } from "../cli/lectern-args.js";
import { exitOnUsageError } from "../cli/usage-error.js";
import { LmsClient } from "../client/lms-client.js";
import { bootstrapProof } from "../service/auth-service.js";
import { isEntryModule } from "./entry-point.js";
import { formatAddress } from "./lms-node.js";
import { loadNodeConfig, type NodeEnvironment } from "./node-config.js";

/** The settings of one bootstrap run. */
export interface BootstrapAdminInput {
  readonly addresses: readonly string[];
  readonly clusterSecret: string;
  readonly username: string;
  readonly password: string;
  readonly displayName?: string;
}

/**
 * Creates the cluster's first admin through AuthService.BootstrapAdmin, proving knowledge of
 * CLUSTER_SECRET. Refused once an admin exists.
 * @returns the new admin's user id.
 */
export async function bootstrapAdmin(input: BootstrapAdminInput): Promise<string> {
  const client = new LmsClient({ addresses: input.addresses });
  try {
    const { user } = await client.auth.bootstrapAdmin({
      username: input.username,
      password: input.password,
      displayName: input.displayName ?? input.username,
      bootstrapProof: bootstrapProof(input.clusterSecret, input.username.trim().toLowerCase()),
    });
    return user?.id ?? "";
  } finally {
    client.close();
  }
}

/** CLUSTER_SECRET from the environment, else from the shared secrets file (never created here). */
async function clusterSecretFrom(env: NodeEnvironment, secretsFile: string): Promise<string> {
  if (env.CLUSTER_SECRET !== undefined && env.CLUSTER_SECRET.trim() !== "") return env.CLUSTER_SECRET.trim();
  let parsed: { clusterSecret?: unknown };
  try {
    parsed = JSON.parse(await readFile(secretsFile, "utf8")) as { clusterSecret?: unknown };
  } catch (error) {
    throw new Error(
      `no CLUSTER_SECRET and no readable secrets file at ${secretsFile}: start the cluster first (${String(error)})`,
    );
  }
  if (typeof parsed.clusterSecret !== "string") throw new Error(`${secretsFile} has no clusterSecret`);
  return parsed.clusterSecret;
}

/**
 * The bootstrap command itself, for `lectern bootstrap-admin` and `node dist/node/bootstrap-admin.js`:
 * the admin's name and password from `request` (else LECTERN_ADMIN_USERNAME / LECTERN_ADMIN_PASSWORD),
 * the cluster's addresses and secret from `env` (PEERS, DATA_DIR, CLUSTER_SECRET). Prints
 * `{"admin":..., "userId":...}` on success.
 */
export async function runBootstrapAdmin(request: BootstrapAdminRequest, env: NodeEnvironment): Promise<void> {
  const username = request.username ?? env.LECTERN_ADMIN_USERNAME;
  const password = request.password ?? env.LECTERN_ADMIN_PASSWORD;
  if (username === undefined || password === undefined) {
    throw new Error("give --username and --password (or LECTERN_ADMIN_USERNAME and LECTERN_ADMIN_PASSWORD)");
  }
  const firstNode = (env.PEERS ?? "n1=").split("=")[0].trim() || "n1";
  const config = loadNodeConfig({ ...env, NODE_ID: env.NODE_ID ?? firstNode });
  const addresses = [...config.peers.values()].map(formatAddress);
  const userId = await bootstrapAdmin({
    addresses,
    clusterSecret: await clusterSecretFrom(env, config.secretsFile),
    username,
    password,
    displayName: request.displayName,
  });
  process.stdout.write(`${JSON.stringify({ admin: username, userId })}\n`);
}

/** Prints why bootstrapping failed (the server's words when it answered) and exits with 1. */
export function exitOnBootstrapFailure(error: unknown): never {
  const details = (error as { details?: unknown }).details;
  process.stderr.write(`bootstrap-admin: ${typeof details === "string" ? details : String(error)}\n`);
  process.exit(1);
}

// `node dist/node/bootstrap-admin.js --username admin --password '...'`: the same flags as
// `lectern bootstrap-admin`, parsed by the same code.
if (isEntryModule(import.meta.url)) {
  try {
    const invocation = parseLecternArgs(["bootstrap-admin", ...process.argv.slice(2)], process.env);
    if (invocation.command === "help") process.stdout.write(invocation.text);
    else if (invocation.command === "bootstrap-admin") {
      runBootstrapAdmin(invocation.request, invocation.env).catch(exitOnBootstrapFailure);
    }
  } catch (error) {
    exitOnUsageError(error);
  }
}
