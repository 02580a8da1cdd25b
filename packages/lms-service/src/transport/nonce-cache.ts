/**
 * Nonces of recently accepted hellos, so a captured hello replayed within the freshness window is
 * refused. Bounded: entries expire after `ttlMs`, and past `maxEntries` the oldest is forgotten
 * (only authenticated hellos are remembered, so only members can fill it).
 */
export class NonceCache {
  /** Insertion-ordered: nonce (hex) -> expiry. Entries are added with non-decreasing expiry in practice. */
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** Remembers `nonce` seen at `nowMs`; false when it was already seen and has not expired. */
  remember(nonce: Uint8Array, nowMs: number): boolean {
    this.forgetExpired(nowMs);
    const key = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString("hex");
    const expiry = this.expiries.get(key);
    if (expiry !== undefined && expiry > nowMs) return false;
    this.expiries.delete(key);
    while (this.expiries.size >= this.maxEntries) {
      const oldest = this.expiries.keys().next();
      if (oldest.done) break;
      this.expiries.delete(oldest.value);
    }
    this.expiries.set(key, nowMs + this.ttlMs);
    return true;
  }

  get size(): number {
    return this.expiries.size;
  }

  private forgetExpired(nowMs: number): void {
    for (const [key, expiry] of this.expiries) {
      if (expiry > nowMs) return;
      this.expiries.delete(key);
    }
  }
}
