// One retry policy for every client the benchmark runs, ours and etcd's alike, so that neither
// system's numbers include a slower client backoff than the other's.

/** Retry settings of the load generator's clients (LmsClient option names). */
export const loadClientPolicy = Object.freeze({
  maxAttempts: 100,
  initialBackoffMs: 10,
  maxBackoffMs: 100,
  callTimeoutMs: 2_000,
});

/** The failover probe: shorter per-attempt deadline, so a write stuck on a dead node is retried soon. */
export const probeClientPolicy = Object.freeze({
  maxAttempts: 100,
  initialBackoffMs: 10,
  maxBackoffMs: 50,
  callTimeoutMs: 1_000,
});

/** `addresses` rotated so that client `index` starts at a different node than its neighbours. */
export function rotatedFrom(addresses, index) {
  const start = index % addresses.length;
  return [...addresses.slice(start), ...addresses.slice(0, start)];
}

/** A payload of exactly `bytes` ASCII characters, different per (worker, sequence). */
export function payloadOf(bytes, worker, sequence) {
  const head = `w${worker}-s${sequence}-`;
  return head + "x".repeat(Math.max(0, bytes - head.length));
}
