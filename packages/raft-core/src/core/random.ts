/**
 * The only source of randomness the core and runtime see. Production injects one seeded from a
 * cryptographic source; the simulator injects a seeded PRNG stream so runs replay exactly.
 */
export interface Random {
  /** A uniformly distributed integer in [0, boundExclusive). `boundExclusive` is a positive safe integer ≤ 2^32. */
  nextInt(boundExclusive: number): number;
}
