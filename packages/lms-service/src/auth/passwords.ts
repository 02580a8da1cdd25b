import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/**
 * scrypt cost parameters (RFC 7914): N = 2^15, r = 8, p = 1 uses 32 MiB and ~50-100 ms per hash
 * on these machines — the OWASP Password Storage Cheat Sheet's minimum is N = 2^17 with r = 8 for
 * 128 MiB; we trade some cost for three nodes on one laptop, and the parameters travel with each
 * hash so they can be raised later without invalidating old hashes.
 */
export const SCRYPT_COST = 1 << 15;
export const SCRYPT_BLOCK_SIZE = 8;
export const SCRYPT_PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Memory scrypt may use: 128 * N * r bytes plus slack. */
const SCRYPT_MAX_MEMORY_BYTES = 64 * 1024 * 1024;
/** Shortest and longest password accepted (long ones are hashed fine, but bound the work). */
export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 256;

/** Why a password is not acceptable, or undefined. */
export function passwordProblem(password: unknown): string | undefined {
  if (typeof password !== "string") return "the password must be a string";
  if (password.length < MIN_PASSWORD_CHARS) return `the password must have at least ${MIN_PASSWORD_CHARS} characters`;
  if (password.length > MAX_PASSWORD_CHARS) return `the password must have at most ${MAX_PASSWORD_CHARS} characters`;
  return undefined;
}

/**
 * Hashes `password` with scrypt on libuv's thread pool (never on the event loop). The result is
 * self-describing: `scrypt$N$r$p$salt$key` (base64url), so it can go into the Raft log as it is.
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, SCRYPT_COST, SCRYPT_BLOCK_SIZE, SCRYPT_PARALLELISM);
  return [
    "scrypt",
    SCRYPT_COST,
    SCRYPT_BLOCK_SIZE,
    SCRYPT_PARALLELISM,
    salt.toString("base64url"),
    key.toString("base64url"),
  ].join("$");
}

/** Whether `password` matches `stored` (constant-time compare). A malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = typeof stored === "string" ? stored.split("$") : [];
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [cost, blockSize, parallelism] = parts.slice(1, 4).map(Number);
  if (![cost, blockSize, parallelism].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  if (cost > 1 << 20 || blockSize > 32 || parallelism > 16) return false;
  const salt = Buffer.from(parts[4], "base64url");
  const expected = Buffer.from(parts[5], "base64url");
  if (expected.length !== KEY_BYTES || typeof password !== "string") return false;
  const actual = await derive(password, salt, cost, blockSize, parallelism);
  return timingSafeEqual(actual, expected);
}

/**
 * scrypt calls running at once. They run on libuv's thread pool (4 threads by default), which
 * LevelDB's writes and fsyncs share: a burst of sign-ups or logins must not take every thread and
 * stall the Raft log's synced writes (seen as elections during a sign-up burst).
 */
export const MAX_CONCURRENT_SCRYPT = 2;
let scryptRunning = 0;
const scryptWaiting: (() => void)[] = [];

async function derive(
  password: string,
  salt: Buffer,
  cost: number,
  blockSize: number,
  parallelism: number,
): Promise<Buffer> {
  if (scryptRunning >= MAX_CONCURRENT_SCRYPT) await new Promise<void>((resolve) => scryptWaiting.push(resolve));
  scryptRunning++;
  try {
    return await deriveNow(password, salt, cost, blockSize, parallelism);
  } finally {
    scryptRunning--;
    scryptWaiting.shift()?.();
  }
}

function deriveNow(
  password: string,
  salt: Buffer,
  cost: number,
  blockSize: number,
  parallelism: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize("NFKC"),
      salt,
      KEY_BYTES,
      { cost, blockSize, parallelization: parallelism, maxmem: SCRYPT_MAX_MEMORY_BYTES },
      (error, key) => (error === null ? resolve(key) : reject(error)),
    );
  });
}
