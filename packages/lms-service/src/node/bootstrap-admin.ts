import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { LmsClient } from "../client/lms-client.js";
import { bootstrapProof } from "../service/auth-service.js";
import { formatAddress } from "./lms-node.js";
import { loadNodeConfig } from "./node-config.js";

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
async function clusterSecretFrom(env: NodeJS.ProcessEnv, secretsFile: string): Promise<string> {
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
 * `node dist/node/bootstrap-admin.js --username admin --password '...'` (or LECTERN_ADMIN_USERNAME /
 * LECTERN_ADMIN_PASSWORD), with the cluster's PEERS / DATA_DIR / CLUSTER_SECRET environment.
 */
async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      username: { type: "string" },
      password: { type: "string" },
      "display-name": { type: "string" },
    },
  });
  const username = values.username ?? process.env.LECTERN_ADMIN_USERNAME;
  const password = values.password ?? process.env.LECTERN_ADMIN_PASSWORD;
  if (username === undefined || password === undefined) {
    throw new Error("give --username and --password (or LECTERN_ADMIN_USERNAME and LECTERN_ADMIN_PASSWORD)");
  }
  const firstNode = (process.env.PEERS ?? "n1=").split("=")[0].trim() || "n1";
  const config = loadNodeConfig({ ...process.env, NODE_ID: process.env.NODE_ID ?? firstNode });
  const addresses = [...config.peers.values()].map(formatAddress);
  const userId = await bootstrapAdmin({
    addresses,
    clusterSecret: await clusterSecretFrom(process.env, config.secretsFile),
    username,
    password,
    displayName: values["display-name"],
  });
  process.stdout.write(`${JSON.stringify({ admin: username, userId })}\n`);
}

if (process.argv[1] !== undefined && /bootstrap-admin\.(js|ts)$/.test(process.argv[1])) {
  cli().catch((error: unknown) => {
    const details = (error as { details?: unknown }).details;
    process.stderr.write(`bootstrap-admin: ${typeof details === "string" ? details : String(error)}\n`);
    process.exit(1);
  });
}
