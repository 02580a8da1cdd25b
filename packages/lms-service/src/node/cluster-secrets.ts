import { randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/** Bytes of randomness in each generated secret (256 bits). */
export const SECRET_BYTES = 32;
/** Shortest secret accepted from the environment or the file. */
export const MIN_SECRET_CHARS = 32;

/** The two secrets every node of a cluster shares. */
export interface ClusterSecrets {
  /** Signs client JWTs (HS256): any node verifies a token another node issued. */
  readonly jwtSecret: string;
  /** Authenticates peers to each other (HMAC of the sender id). */
  readonly clusterSecret: string;
}

/**
 * The cluster's secrets: from the environment when both are given, otherwise from one shared
 * secrets file in the data folder, created with fresh random secrets (mode 0600) by whichever node
 * starts first. Creation is exclusive (`wx`), so nodes starting together agree on one file.
 */
export async function loadClusterSecrets(options: {
  readonly file: string;
  readonly jwtSecret?: string;
  readonly clusterSecret?: string;
}): Promise<ClusterSecrets> {
  if (options.jwtSecret !== undefined && options.clusterSecret !== undefined) {
    return checked({ jwtSecret: options.jwtSecret, clusterSecret: options.clusterSecret }, "the environment");
  }
  const fromFile = await readOrCreate(options.file);
  return checked(
    {
      jwtSecret: options.jwtSecret ?? fromFile.jwtSecret,
      clusterSecret: options.clusterSecret ?? fromFile.clusterSecret,
    },
    options.file,
  );
}

async function readOrCreate(file: string): Promise<ClusterSecrets> {
  await mkdir(dirname(file), { recursive: true });
  const fresh: ClusterSecrets = {
    jwtSecret: randomBytes(SECRET_BYTES).toString("base64url"),
    clusterSecret: randomBytes(SECRET_BYTES).toString("base64url"),
  };
  // Written whole to a private temporary file, then linked into place: link() creates the name
  // atomically and fails if it exists, so a node starting at the same moment reads either no file
  // or a complete one, never the empty file an exclusive create followed by a write would show.
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(temporary, "wx", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(fresh, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, file);
    await syncDirectory(dirname(file));
    return fresh;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new Error(`the secrets file ${file} is not valid JSON (${String(error)}); delete it to generate new secrets`);
  }
  const value = parsed as Partial<ClusterSecrets> | null;
  if (typeof value?.jwtSecret !== "string" || typeof value.clusterSecret !== "string") {
    throw new Error(`the secrets file ${file} lacks jwtSecret or clusterSecret; delete it to generate new secrets`);
  }
  return { jwtSecret: value.jwtSecret, clusterSecret: value.clusterSecret };
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function checked(secrets: ClusterSecrets, source: string): ClusterSecrets {
  for (const [name, value] of Object.entries(secrets)) {
    if (value.length < MIN_SECRET_CHARS) {
      throw new Error(`${name} from ${source} is shorter than ${MIN_SECRET_CHARS} characters`);
    }
  }
  return secrets;
}
