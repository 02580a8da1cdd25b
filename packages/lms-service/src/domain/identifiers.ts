import {
  maxIdChars,
  maxIdempotencyKeyChars,
  maxJoinCodeChars,
  maxPasswordHashChars,
  maxTokenIdChars,
  maxUsernameChars,
  minIdempotencyKeyChars,
  minJoinCodeChars,
  minUsernameChars,
} from "./limits.js";

/**
 * The shapes of every identifier. They are ASCII without "/" so they can be joined into store
 * keys with "/" and sort the same as bytes (LevelDB) and as strings (MongoDB, JavaScript).
 */
export const idPattern = new RegExp(`^[A-Za-z0-9_-]{1,${maxIdChars}}$`);
/** Lower case: the node lowercases before proposing, so "Ann" and "ann" are one name. */
export const usernamePattern = new RegExp(`^[a-z0-9][a-z0-9._-]{${minUsernameChars - 1},${maxUsernameChars - 1}}$`);
export const joinCodePattern = new RegExp(`^[A-Z0-9]{${minJoinCodeChars},${maxJoinCodeChars}}$`);
export const idempotencyKeyPattern = new RegExp(
  `^[A-Za-z0-9_.:-]{${minIdempotencyKeyChars},${maxIdempotencyKeyChars}}$`,
);
export const tokenIdPattern = new RegExp(`^[A-Za-z0-9_-]{1,${maxTokenIdChars}}$`);
export const sha256Pattern = /^[0-9a-f]{64}$/;
/** Printable ASCII without spaces: scrypt output like `scrypt$16384$8$1$salt$hash`. */
export const passwordHashPattern = new RegExp(`^[\\x21-\\x7e]{16,${maxPasswordHashChars}}$`);
/** type/subtype in lower case, RFC 6838 characters, no parameters. */
export const mimePattern = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$/;
