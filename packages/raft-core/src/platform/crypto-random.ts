import type { Random } from "../core/random.js";

const BUFFER_WORDS = 256;

/**
 * Randomness for production from the Web Crypto API (Node.js ≥ 19 and browsers). Election
 * timeouts drawn from it cannot be predicted or synchronised by an outsider.
 */
export class CryptoRandom implements Random {
  private readonly words = new Uint32Array(BUFFER_WORDS);
  private next = BUFFER_WORDS;

  nextInt(boundExclusive: number): number {
    if (!Number.isSafeInteger(boundExclusive) || boundExclusive <= 0 || boundExclusive > 2 ** 32) {
      throw new RangeError(`CryptoRandom.nextInt: bound must be an integer in [1, 2^32], got ${boundExclusive}`);
    }
    // Rejection sampling keeps the result unbiased for bounds that do not divide 2^32.
    const limit = 2 ** 32 - (2 ** 32 % boundExclusive);
    for (;;) {
      const x = this.word();
      if (x < limit) return x % boundExclusive;
    }
  }

  private word(): number {
    if (this.next === BUFFER_WORDS) {
      globalThis.crypto.getRandomValues(this.words);
      this.next = 0;
    }
    return this.words[this.next++];
  }
}
