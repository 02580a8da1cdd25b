import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Role, Session } from "../lms-api.js";

/** The cookie holding the signed web session (which wraps the service's JWT). */
export const sessionCookieName = "lectern_session";

/** Who is signed in on this request, and the service token to act as them. */
export interface Viewer {
  readonly token: string;
  readonly userId: string;
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The signed-in user, or undefined when nobody is. */
    viewer: Viewer | undefined;
  }
}

interface SessionClaims {
  tok: string;
  uid: string;
  usr: string;
  dn: string;
  role: Role;
}

const roles: readonly Role[] = ["student", "instructor", "admin"];

/**
 * Starts a session: the service's token and the user's identity go into a JWT signed with the web
 * front's secret (so a role shown on a page cannot be forged by editing a cookie), stored in an
 * httpOnly, SameSite=Strict cookie that is Secure whenever the request came over https. The cookie
 * and the JWT expire with the service's token.
 */
export function startSession(app: FastifyInstance, reply: FastifyReply, session: Session): void {
  const claims: SessionClaims = {
    tok: session.token,
    uid: session.user.id,
    usr: session.user.username,
    dn: session.user.displayName,
    role: session.user.role,
  };
  const lifetimeSeconds = Math.max(1, Math.floor((session.expiresAtMs - Date.now()) / 1000));
  const signed = app.jwt.sign(claims, { expiresIn: lifetimeSeconds });
  reply.setCookie(sessionCookieName, signed, {
    path: "/",
    httpOnly: true,
    sameSite: "strict",
    secure: "auto",
    maxAge: lifetimeSeconds,
  });
}

/** Ends the session in this browser (the service token is revoked separately). */
export function endSession(reply: FastifyReply): void {
  reply.clearCookie(sessionCookieName, { path: "/", httpOnly: true, sameSite: "strict", secure: "auto" });
}

/** Reads the viewer from the session cookie; a missing, forged or expired cookie means nobody. */
export function readViewer(app: FastifyInstance, request: FastifyRequest): Viewer | undefined {
  const cookie = request.cookies[sessionCookieName];
  if (cookie === undefined || cookie === "") return undefined;
  try {
    const claims = app.jwt.verify<SessionClaims>(cookie);
    if (typeof claims.tok !== "string" || typeof claims.uid !== "string" || !roles.includes(claims.role))
      return undefined;
    return {
      token: claims.tok,
      userId: claims.uid,
      username: String(claims.usr),
      displayName: String(claims.dn),
      role: claims.role,
    };
  } catch {
    return undefined;
  }
}
