import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { type ServerUnaryCall, status } from "@grpc/grpc-js";
import { hashPassword, passwordProblem, verifyPassword } from "../auth/passwords.js";
import { usernamePattern } from "../domain/identifiers.js";
import { getUserForLogin, listInstructors, listMyCourses, listStudents, type PublicUser } from "../domain/queries.js";
import { type AuthServiceServer, Role } from "../gen/lms.js";
import { invalidArgument, LmsCallError, retryAfterTrailer } from "./call-error.js";
import {
  authenticate,
  checkIdempotencyKey,
  optionalId,
  paginate,
  propose,
  queried,
  readBarrier,
  stamp,
  unary,
} from "./call-helpers.js";
import { loadUser, toUser } from "./proto-mapping.js";
import type { LmsServiceContext } from "./service-context.js";

/** What the bootstrap proof signs, before the username (lms.proto BootstrapAdminRequest). */
export const bootstrapProofLabel = "lectern-bootstrap-admin";

/**
 * The proof the bootstrap command sends: hex HMAC-SHA256(CLUSTER_SECRET, label + username).
 * @example
 * const proof = bootstrapProof(secrets.clusterSecret, "admin");
 */
export function bootstrapProof(clusterSecret: string, username: string): string {
  return createHmac("sha256", clusterSecret)
    .update(bootstrapProofLabel + username)
    .digest("hex");
}

function normalizedUsername(raw: string): string {
  const username = raw.trim().toLowerCase();
  if (!usernamePattern.test(username)) {
    throw invalidArgument(
      "username",
      "must be 3 to 32 characters from a-z, 0-9, '.', '_' and '-', starting alphanumeric",
    );
  }
  return username;
}

function checkedPassword(password: string): string {
  const problem = passwordProblem(password);
  if (problem !== undefined) throw new LmsCallError(status.INVALID_ARGUMENT, problem);
  return password;
}

function displayNameOr(displayName: string, username: string): string {
  const trimmed = displayName.trim();
  return trimmed === "" ? username : trimmed;
}

/** The client's address as the limiter's key (the port changes per connection, the host does not). */
function peerHost(call: ServerUnaryCall<unknown, unknown>): string {
  const peer = call.getPeer();
  const colon = peer.lastIndexOf(":");
  return colon > 0 ? peer.slice(0, colon) : peer;
}

async function createdUser(context: LmsServiceContext, userId: string) {
  const user = await loadUser(context.store, userId);
  if (user === undefined) throw new Error(`user ${userId} was accepted but is not in the store`);
  return user;
}

/** AuthService: accounts, sessions and user lists. */
export function authService(context: LmsServiceContext): AuthServiceServer {
  /**
   * A scrypt hash of a password nobody has: login compares against it when the username is
   * unknown, so an unknown name takes as long as a wrong password. Computed on first use.
   */
  let decoyHash: Promise<string> | undefined;
  return {
    register: unary(context, async (request) => {
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const username = normalizedUsername(request.username);
      const passwordHash = await hashPassword(checkedPassword(request.password));
      const { userId } = await propose(
        context,
        {
          kind: "registerStudent",
          ...stamp(context, null, idempotencyKey),
          userId: randomUUID(),
          username,
          displayName: displayNameOr(request.displayName, username),
          passwordHash,
        },
        status.ALREADY_EXISTS,
      );
      return { user: await createdUser(context, userId) };
    }),

    login: unary(context, async (request, call) => {
      const username = request.username.trim().toLowerCase();
      const keys = [`user:${username}`, `peer:${peerHost(call)}`];
      const waitMs = context.loginLimiter.retryAfterMs(keys);
      if (waitMs > 0) {
        throw new LmsCallError(
          status.RESOURCE_EXHAUSTED,
          `too many failed logins: try again in ${Math.ceil(waitMs / 1000)} s`,
          "RATE_LIMITED",
          { [retryAfterTrailer]: String(waitMs) },
        );
      }
      await readBarrier(context, undefined);
      const stored = usernamePattern.test(username) ? await getUserForLogin(context.store, username) : undefined;
      decoyHash ??= hashPassword(`decoy-${randomUUID()}`);
      const hash = stored?.passwordHash ?? (await decoyHash);
      const matches = typeof request.password === "string" && (await verifyPassword(request.password, hash));
      if (stored === undefined || !matches) {
        context.loginLimiter.recordFailure(keys);
        throw new LmsCallError(status.UNAUTHENTICATED, "wrong username or password");
      }
      context.loginLimiter.recordSuccess(keys[0]);
      const { token, principal } = context.tokens.issue({
        userId: stored.userId,
        username: stored.username,
        role: stored.role,
      });
      return { token, expiresAtMs: principal.expiresAtMs, user: await createdUser(context, stored.userId) };
    }),

    logout: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      await propose(context, {
        kind: "revokeToken",
        ...stamp(context, caller.actor, checkIdempotencyKey(request.idempotencyKey)),
        tokenId: caller.tokenId,
        expiresAt: caller.expiresAtMs,
      });
      return {};
    }),

    whoAmI: unary(context, async (_request, call) => {
      const caller = await authenticate(context, call.metadata);
      const user = await loadUser(context.store, caller.userId);
      if (user === undefined)
        throw new LmsCallError(status.UNAUTHENTICATED, "your account does not exist: log in again");
      return { user, tokenExpiresAtMs: caller.expiresAtMs };
    }),

    createUser: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      if (request.role !== Role.ROLE_INSTRUCTOR && request.role !== Role.ROLE_ADMIN) {
        throw invalidArgument("role", "must be ROLE_INSTRUCTOR or ROLE_ADMIN (students register themselves)");
      }
      // A quick refusal before the costly hash; apply decides again with the stored role.
      if (caller.role !== "admin") throw new LmsCallError(status.PERMISSION_DENIED, "only an admin may create users");
      const username = normalizedUsername(request.username);
      const passwordHash = await hashPassword(checkedPassword(request.password));
      const { userId } = await propose(
        context,
        {
          kind: request.role === Role.ROLE_ADMIN ? "createAdmin" : "createInstructor",
          ...stamp(context, caller.actor, idempotencyKey),
          userId: randomUUID(),
          username,
          displayName: displayNameOr(request.displayName, username),
          passwordHash,
        },
        status.ALREADY_EXISTS,
      );
      return { user: await createdUser(context, userId) };
    }),

    bootstrapAdmin: unary(context, async (request) => {
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const username = normalizedUsername(request.username);
      const expected = Buffer.from(bootstrapProof(context.clusterSecret, username), "hex");
      const given = /^[0-9a-f]{64}$/.test(request.bootstrapProof)
        ? Buffer.from(request.bootstrapProof, "hex")
        : undefined;
      if (given === undefined || !timingSafeEqual(expected, given)) {
        throw new LmsCallError(status.PERMISSION_DENIED, "the bootstrap proof does not match this cluster's secret");
      }
      const passwordHash = await hashPassword(checkedPassword(request.password));
      const { userId } = await propose(context, {
        kind: "bootstrapAdmin",
        ...stamp(context, null, idempotencyKey),
        userId: randomUUID(),
        username,
        displayName: displayNameOr(request.displayName, username),
        passwordHash,
      });
      return { user: await createdUser(context, userId) };
    }),

    listStudents: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      await readBarrier(context, request.consistency);
      const courseId = optionalId("course_id", request.courseId);
      let students: PublicUser[];
      if (courseId !== undefined || caller.role === "admin") {
        students = queried(await listStudents(context.store, caller.actor, courseId));
      } else {
        students = await studentsOfOwnCourses(context, caller.actor);
      }
      const { page, nextPageToken } = paginate(students, request.pageSize, request.pageToken);
      return { students: page.map(toUser), nextPageToken };
    }),

    listInstructors: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      await readBarrier(context, request.consistency);
      const instructors = queried(await listInstructors(context.store, caller.actor)).map((user) => ({
        ...toUser(user),
        // lms.proto: names only, except for admins.
        username: caller.role === "admin" ? user.username : "",
      }));
      const { page, nextPageToken } = paginate(instructors, request.pageSize, request.pageToken);
      return { instructors: page, nextPageToken };
    }),
  };
}

/** An instructor without `course_id`: every student of every course they own, each once. */
async function studentsOfOwnCourses(
  context: LmsServiceContext,
  actor: { userId: string; role: "student" | "instructor" | "admin" },
): Promise<PublicUser[]> {
  if (actor.role === "student") throw new LmsCallError(status.PERMISSION_DENIED, "students may not list students");
  const courses = queried(await listMyCourses(context.store, actor));
  const seen = new Map<string, PublicUser>();
  for (const summary of courses) {
    if (summary.course.ownerId !== actor.userId) continue;
    for (const student of queried(await listStudents(context.store, actor, summary.course.courseId))) {
      seen.set(student.userId, student);
    }
  }
  return [...seen.values()];
}
