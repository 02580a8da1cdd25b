import type { FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type { Role } from "../lms-api.js";
import { forbidden } from "./http-error.js";
import type { Viewer } from "./session.js";

/** Thrown when a page needs a signed-in user and there is none; answered with a redirect to sign in. */
export class LoginRequired extends Error {
  override readonly name = "LoginRequired";
  constructor() {
    super("Sign in to continue.");
  }
}

/**
 * A preHandler that lets through only signed-in users with one of `roles` (any role when none are
 * given). It runs before the CSRF check, so a signed-out visitor is sent to sign in and a wrong role
 * gets a 403 whatever the form carried.
 */
export function requireRole(...roles: Role[]): preHandlerAsyncHookHandler {
  return async (request) => {
    const viewer = request.viewer;
    if (viewer === undefined) throw new LoginRequired();
    if (roles.length > 0 && !roles.includes(viewer.role)) {
      throw forbidden(`This page is for ${roles.map((role) => `${role}s`).join(" and ")} only.`);
    }
  };
}

/** The viewer of a request that passed {@link requireRole}. */
export function viewerOf(request: FastifyRequest): Viewer {
  const viewer = request.viewer;
  if (viewer === undefined) throw new LoginRequired();
  return viewer;
}

/** A local path to return to after signing in, or undefined when `candidate` could leave the site. */
export function safeNextPath(candidate: unknown): string | undefined {
  if (typeof candidate !== "string" || candidate.length > 2000) return undefined;
  if (!candidate.startsWith("/") || candidate.startsWith("//") || candidate.includes("\\")) return undefined;
  if (/\p{Cc}/u.test(candidate)) return undefined;
  return candidate;
}
