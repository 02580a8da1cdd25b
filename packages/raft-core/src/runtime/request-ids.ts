import type { Random } from "../core/random.js";

/** Request ids of one server incarnation start at a random multiple of this. */
const REQUEST_ID_BLOCK = 2 ** 20;
/** Bound of the random block number: the first id stays below 2^52, leaving 2^52 ids per incarnation. */
const REQUEST_ID_BLOCKS = 2 ** 32;

/**
 * The first request id of a server incarnation. Forwarded proposals are recognised at apply by
 * (origin, requestId); a restarted node re-applies or receives entries it forwarded in an earlier
 * life, and if ids restarted at 1 such an old entry would "complete" a new, unrelated proposal.
 * Starting each incarnation at a random block (drawn from the injected Random, so simulation
 * stays deterministic) makes such a collision practically impossible while ids stay safe integers.
 */
export function firstRequestId(random: Random): number {
  return random.nextInt(REQUEST_ID_BLOCKS) * REQUEST_ID_BLOCK + 1;
}
