import { type ApplyContext, accepted, type Handler, isRejection, signedIn } from "../apply-context.js";
import type { BootstrapAdmin, CreateAdmin, CreateInstructor, RegisterStudent, Role } from "../commands.js";
import { key, prefix } from "../keys.js";
import type { UserRecord } from "../records.js";
import { conflict, forbidden, type Rejection } from "../results.js";

type NewAccountCommand = RegisterStudent | CreateInstructor | CreateAdmin | BootstrapAdmin;

/** Creates the account, or conflict when the id or (case-folded) username is taken. */
async function createAccount(
  context: ApplyContext,
  command: NewAccountCommand,
  role: Role,
  createdBy: string | undefined,
): Promise<Rejection | undefined> {
  const { tx } = context;
  if ((await tx.get("usernames", command.username)) !== undefined) {
    return conflict(`the username ${command.username} is taken`);
  }
  if ((await tx.get("users", command.userId)) !== undefined) return conflict(`user id ${command.userId} exists`);
  const user: UserRecord = {
    userId: command.userId,
    username: command.username,
    displayName: command.displayName,
    role,
    passwordHash: command.passwordHash,
    createdAt: command.at,
    ...(createdBy === undefined ? {} : { createdBy }),
  };
  tx.put("users", user.userId, user);
  tx.put("usernames", user.username, { userId: user.userId });
  tx.put("roleMembers", key(role, user.userId), { userId: user.userId });
  return undefined;
}

/** Anyone may register as a student. */
export const registerStudent: Handler<"registerStudent"> = async (context, command) => {
  const problem = await createAccount(context, command, "student", undefined);
  return problem ?? accepted("registerStudent", { userId: command.userId });
};

/** Only an admin creates instructors. */
export const createInstructor: Handler<"createInstructor"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  if (actor.role !== "admin") return forbidden("only an admin may create instructors");
  const problem = await createAccount(context, command, "instructor", actor.userId);
  return problem ?? accepted("createInstructor", { userId: command.userId });
};

/** Only an admin creates further admins (the stored role decides, not the token's claim). */
export const createAdmin: Handler<"createAdmin"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  if (actor.role !== "admin") return forbidden("only an admin may create admins");
  const problem = await createAccount(context, command, "admin", actor.userId);
  return problem ?? accepted("createAdmin", { userId: command.userId });
};

/** The first admin; refused once an admin exists, so it works exactly once per cluster. */
export const bootstrapAdmin: Handler<"bootstrapAdmin"> = async (context, command) => {
  const admins = await context.tx.list("roleMembers", prefix("admin"), { limit: 1 });
  if (admins.length > 0) return conflict("the cluster already has an admin");
  const problem = await createAccount(context, command, "admin", undefined);
  return problem ?? accepted("bootstrapAdmin", { userId: command.userId });
};

/**
 * A revocation is dropped this long after its token expired: a token past its expiry is refused
 * anyway, and the margin covers nodes whose clocks run behind the one that stamped the logout.
 */
export const revocationPruneGraceMs = 10 * 60_000;
/** Revocations one logout looks at for pruning: each tidies a slice, and together they tidy all. */
export const revocationPruneScan = 64;

/**
 * Logout: the token id is refused until it expires. Revoking twice is fine. Each logout also drops
 * long-expired revocations from a slice of the list (the ids after its own, wrapping around), so
 * the list, which every node holds in memory, does not grow without bound.
 */
export const revokeToken: Handler<"revokeToken"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  if ((await context.tx.get("revokedTokens", command.tokenId)) === undefined) {
    context.tx.put("revokedTokens", command.tokenId, {
      tokenId: command.tokenId,
      userId: actor.userId,
      revokedAt: command.at,
      expiresAt: command.expiresAt,
    });
  }
  await pruneExpiredRevocations(context, command.tokenId, command.at);
  return accepted("revokeToken", { tokenId: command.tokenId });
};

async function pruneExpiredRevocations(context: ApplyContext, after: string, nowMs: number): Promise<void> {
  const slice = await context.tx.list("revokedTokens", "", { startAfter: after, limit: revocationPruneScan });
  if (slice.length < revocationPruneScan) {
    const wrapped = await context.tx.list("revokedTokens", "", { limit: revocationPruneScan - slice.length });
    slice.push(...wrapped.filter((record) => record.key < after));
  }
  for (const { key, value } of slice) {
    if (value.expiresAt + revocationPruneGraceMs < nowMs) context.tx.delete("revokedTokens", key);
  }
}
