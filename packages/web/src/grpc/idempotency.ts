import { createHash } from "node:crypto";

/**
 * A key for one step of a composed write (an upload before a submission), derived from the
 * write's own key: deterministic, so a retry of the whole write, on any node, derives the same key
 * and the service answers the first upload's result; within lms.proto's rule (16 to 128 characters
 * from [A-Za-z0-9_-]) whatever the parent key's length.
 *
 * @example
 * ```ts
 * derivedIdempotencyKey("sub_abc...", "upload"); // "upload_" + 43 base64url characters
 * ```
 */
export function derivedIdempotencyKey(parentKey: string, step: string): string {
  if (!/^[a-z]{1,16}$/.test(step)) throw new Error(`step must be 1 to 16 lower-case letters: ${step}`);
  const digest = createHash("sha256").update(`lectern-web:${step}:${parentKey}`).digest("base64url");
  return `${step}_${digest}`;
}
