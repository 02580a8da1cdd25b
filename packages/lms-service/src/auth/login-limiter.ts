/** Failed logins allowed per key within the window before further attempts are refused. */
export const MAX_FAILED_LOGINS = 5;
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;
/** Keys tracked at most (oldest forgotten first), so an attacker cannot grow memory without bound. */
export const MAX_TRACKED_KEYS = 10_000;

/**
 * Limits password guessing at one node: after `MAX_FAILED_LOGINS` failures for a key (username
 * and, separately, the client's address) within `LOGIN_WINDOW_MS`, attempts are refused until the
 * window has passed since the first failure. A success clears the username's count. Per node, not
 * replicated: a guesser spreading over N nodes gets N times the budget, which is still small.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds until `keys` may try again, or 0 when they may now. */
  retryAfterMs(keys: readonly string[]): number {
    const now = this.now();
    let wait = 0;
    for (const key of keys) {
      const entry = this.failures.get(key);
      if (entry === undefined) continue;
      if (now - entry.since >= LOGIN_WINDOW_MS) {
        this.failures.delete(key);
        continue;
      }
      if (entry.count >= MAX_FAILED_LOGINS) wait = Math.max(wait, entry.since + LOGIN_WINDOW_MS - now);
    }
    return wait;
  }

  recordFailure(keys: readonly string[]): void {
    const now = this.now();
    for (const key of keys) {
      const entry = this.failures.get(key);
      if (entry === undefined || now - entry.since >= LOGIN_WINDOW_MS) {
        this.failures.delete(key);
        this.failures.set(key, { count: 1, since: now });
        if (this.failures.size > MAX_TRACKED_KEYS) {
          const oldest = this.failures.keys().next().value;
          if (oldest !== undefined) this.failures.delete(oldest);
        }
      } else {
        entry.count++;
      }
    }
  }

  recordSuccess(key: string): void {
    this.failures.delete(key);
  }
}
