import { randomUUID } from "node:crypto";
import { createSigner, createVerifier, TokenError } from "fast-jwt";

/** Roles of the LMS. */
export type Role = "student" | "instructor" | "admin";
export const ROLES: readonly Role[] = ["student", "instructor", "admin"];
/** How long a login lasts. */
export const TOKEN_LIFETIME_MS = 12 * 60 * 60 * 1000;
/** Tokens name this issuer and audience; a token for anything else is refused. */
export const TOKEN_ISSUER = "lectern";
export const TOKEN_AUDIENCE = "lectern-lms";

/** Who a verified token says the caller is. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  /** The token's id: logout revokes it (through Raft, so every node honours it). */
  readonly tokenId: string;
  /** Expiry, ms since the epoch: a revocation need only be kept until then. */
  readonly expiresAtMs: number;
}

/** The token is missing, malformed, forged, expired or revoked. Maps to gRPC UNAUTHENTICATED. */
export class AuthenticationError extends Error {
  readonly code = "UNAUTHENTICATED";

  constructor(message: string) {
    super(message);
    this.name = "AuthenticationError";
  }
}

/**
 * Issues and verifies HS256 JWTs with the cluster's shared secret, so a token from any node is
 * valid on every node and a leader change never logs anyone out (fast-jwt does the JOSE work).
 */
export class TokenService {
  constructor(
    private readonly secret: string,
    /** Whether a token id was revoked by a logout (the replicated revocation list). */
    private readonly isRevoked: (tokenId: string) => boolean = () => false,
    private readonly now: () => number = Date.now,
  ) {
    if (typeof secret !== "string" || secret.length < 32)
      throw new Error("the JWT secret must have at least 32 characters");
  }

  /** A fresh token for `user`. */
  issue(user: { readonly userId: string; readonly username: string; readonly role: Role }): {
    token: string;
    principal: Principal;
  } {
    const tokenId = randomUUID();
    const nowMs = this.now();
    const token = createSigner({
      key: this.secret,
      algorithm: "HS256",
      expiresIn: TOKEN_LIFETIME_MS,
      iss: TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
      clockTimestamp: nowMs,
    })({ sub: user.userId, name: user.username, role: user.role, jti: tokenId }) as string;
    return {
      token,
      principal: { ...user, tokenId, expiresAtMs: nowMs + TOKEN_LIFETIME_MS - (nowMs % 1000) },
    };
  }

  /** The principal of a valid, unrevoked token; otherwise an AuthenticationError saying why. */
  authenticate(token: string | undefined): Principal {
    if (typeof token !== "string" || token === "") throw new AuthenticationError("no token: log in first");
    if (token.length > 4096) throw new AuthenticationError("the token is too long");
    let claims: Record<string, unknown>;
    try {
      claims = createVerifier({
        key: this.secret,
        algorithms: ["HS256"],
        allowedIss: TOKEN_ISSUER,
        allowedAud: TOKEN_AUDIENCE,
        requiredClaims: ["sub", "jti", "exp", "role", "name"],
        clockTimestamp: this.now(),
        cache: false,
      })(token) as Record<string, unknown>;
    } catch (error) {
      const expired = error instanceof TokenError && error.code === TokenError.codes.expired;
      throw new AuthenticationError(expired ? "the session expired: log in again" : "the token is not valid");
    }
    const { sub, jti, exp, role, name } = claims;
    if (typeof sub !== "string" || typeof jti !== "string" || typeof exp !== "number" || typeof name !== "string") {
      throw new AuthenticationError("the token is not valid");
    }
    if (!ROLES.includes(role as Role)) throw new AuthenticationError("the token is not valid");
    if (this.isRevoked(jti)) throw new AuthenticationError("the session was logged out: log in again");
    return { userId: sub, username: name, role: role as Role, tokenId: jti, expiresAtMs: exp * 1000 };
  }
}
