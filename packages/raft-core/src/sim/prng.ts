import type { Random } from "../core/random.js";

/** Number of distinct 32-bit values; every draw is an integer in [0, UINT32_RANGE). */
const UINT32_RANGE = 0x1_0000_0000;
/** Increment of the splitmix-style seeding sequence (2^32 divided by the golden ratio). */
const GOLDEN_GAMMA = 0x9e3779b9;
const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/**
 * Outputs discarded after seeding: sfc32's first outputs are correlated with its seed words, and
 * discarding a few makes nearby seeds (1, 2, 3, ...) diverge at once.
 */
const WARM_UP_DRAWS = 12;

/** Murmur3's 32-bit finaliser: every input bit flips each output bit with probability about 1/2. */
function mix32(value: number): number {
  let x = value | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a over the 4 bytes of `key` then the UTF-16 code units of `label` (2 bytes each). */
function hashLabel(key: number, label: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (let shift = 0; shift < 32; shift += 8) {
    hash = Math.imul(hash ^ ((key >>> shift) & 0xff), FNV_PRIME);
  }
  for (let i = 0; i < label.length; i++) {
    const unit = label.charCodeAt(i);
    hash = Math.imul(hash ^ (unit & 0xff), FNV_PRIME);
    hash = Math.imul(hash ^ (unit >>> 8), FNV_PRIME);
  }
  return hash >>> 0;
}

function assertUint32Bound(boundExclusive: number, what: string): void {
  if (!Number.isInteger(boundExclusive) || boundExclusive < 1 || boundExclusive > UINT32_RANGE) {
    throw new RangeError(`${what} must be an integer in [1, 2^32], got ${boundExclusive}`);
  }
}

/**
 * A small, fast, seedable PRNG (sfc32, seeded through a splitmix-style sequence) for the
 * simulator. All arithmetic is 32-bit integer math, so a seed replays the same stream on every
 * platform. Independent streams come from {@link Prng.fork}: each node's timeouts, the network,
 * the disk, the workload and the fault schedule draw from their own stream, so adding draws to
 * one stream never shifts another.
 *
 * @example
 * const root = Prng.fromSeed(42);
 * const network = root.fork("network");
 * const latencyMs = network.nextRange(1, 10);
 */
export class Prng implements Random {
  /** 32-bit identity of this stream; forks derive from it, never from the position in the stream. */
  readonly key: number;
  private a: number;
  private b: number;
  private c: number;
  private counter: number;

  private constructor(key: number) {
    this.key = key >>> 0;
    let sequence = this.key;
    sequence = (sequence + GOLDEN_GAMMA) | 0;
    this.a = mix32(sequence);
    sequence = (sequence + GOLDEN_GAMMA) | 0;
    this.b = mix32(sequence);
    sequence = (sequence + GOLDEN_GAMMA) | 0;
    this.c = mix32(sequence);
    this.counter = 1;
    for (let i = 0; i < WARM_UP_DRAWS; i++) this.nextUint32();
  }

  /**
   * The root stream of one simulation run.
   * @param seed any safe integer (negative and > 2^32 seeds are folded into 32 bits by hashing).
   * @example const prng = Prng.fromSeed(7);
   */
  static fromSeed(seed: number): Prng {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    const low = seed >>> 0;
    const high = Math.floor(seed / UINT32_RANGE) >>> 0;
    return new Prng(mix32(low ^ mix32(high ^ GOLDEN_GAMMA)));
  }

  /**
   * An independent stream named `label`. It depends only on this stream's key and the label, not
   * on how many numbers were drawn here, so `root.fork("network")` is the same stream whenever it
   * is taken.
   * @example const timeouts = Prng.fromSeed(1).fork("node:n1:timeouts");
   */
  fork(label: string): Prng {
    return new Prng(mix32(hashLabel(this.key, label)));
  }

  /** The next 32-bit output, an integer in [0, 2^32). */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.counter) | 0;
    this.counter = (this.counter + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /**
   * A uniform integer in [0, boundExclusive), without modulo bias: draws at or above the largest
   * multiple of the bound are rejected and redrawn.
   * @example const die = prng.nextInt(6) + 1;
   */
  nextInt(boundExclusive: number): number {
    assertUint32Bound(boundExclusive, "boundExclusive");
    const limit = UINT32_RANGE - (UINT32_RANGE % boundExclusive);
    let draw = this.nextUint32();
    while (draw >= limit) draw = this.nextUint32();
    return draw % boundExclusive;
  }

  /**
   * A uniform integer in [low, highInclusive]; the range may hold at most 2^32 values.
   * @example const latencyMs = prng.nextRange(1, 10);
   */
  nextRange(low: number, highInclusive: number): number {
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(highInclusive) || highInclusive < low) {
      throw new RangeError(`nextRange needs safe integers low <= high, got [${low}, ${highInclusive}]`);
    }
    return low + this.nextInt(highInclusive - low + 1);
  }

  /**
   * True with probability numerator / denominator. Certain outcomes (numerator <= 0 or
   * numerator >= denominator) draw nothing, so a disabled fault costs no draw.
   * @example const lost = prng.nextBool(lossPerMillion, 1_000_000);
   */
  nextBool(numerator: number, denominator: number): boolean {
    assertUint32Bound(denominator, "denominator");
    if (!Number.isInteger(numerator)) throw new RangeError(`numerator must be an integer, got ${numerator}`);
    if (numerator <= 0) return false;
    if (numerator >= denominator) return true;
    return this.nextInt(denominator) < numerator;
  }

  /**
   * A uniformly chosen element of a non-empty array.
   * @example const target = prng.pick(["n1", "n2", "n3"]);
   */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick needs a non-empty array");
    return items[this.nextInt(items.length)] as T;
  }

  /**
   * Shuffles `items` in place (Fisher–Yates) and returns it; every permutation is equally likely.
   * @example prng.shuffle(nodeIds);
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const swap = items[i] as T;
      items[i] = items[j] as T;
      items[j] = swap;
    }
    return items;
  }
}
