import type { Principal } from "../auth/tokens.js";

/** Most verified tokens one node remembers (the oldest verified go first). */
export const maxVerifiedTokens = 10_000;

/**
 * Verified JWTs by their exact text, so a client's every call does not redo the HMAC and claim
 * checks (the same text always verifies the same way; only time can change the answer, so a hit
 * counts only before the token's expiry). Revocation is NOT decided here: callers still check the
 * revocation list on every call, so a logout takes effect at once.
 *
 * Eviction is by age of verification, not recency: a hit never reorders the Map (deleting and
 * re-inserting a hot key on every hit makes its lookups slow until the next rehash), and a token
 * evicted while in use only costs one more verification.
 */
export class VerifiedTokenCache {
  private readonly principals = new Map<string, Principal>();

  constructor(private readonly maxTokens: number = maxVerifiedTokens) {}

  /** The principal of `token` if it was verified before and has not expired by `nowMs`. */
  get(token: string, nowMs: number): Principal | undefined {
    const principal = this.principals.get(token);
    if (principal === undefined) return undefined;
    if (nowMs < principal.expiresAtMs) return principal;
    this.principals.delete(token);
    return undefined;
  }

  /** Remembers a token that just verified. */
  add(token: string, principal: Principal): void {
    if (!this.principals.has(token) && this.principals.size >= this.maxTokens) {
      const oldest = this.principals.keys().next();
      if (oldest.done !== true) this.principals.delete(oldest.value);
    }
    this.principals.set(token, principal);
  }

  size(): number {
    return this.principals.size;
  }
}
