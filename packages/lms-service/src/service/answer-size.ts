import { status } from "@grpc/grpc-js";
import { clientMaxMessageBytes } from "../transport/limits.js";
import { LmsCallError } from "./call-error.js";

/**
 * Room kept under the client message limit for what gRPC adds around a message (its 5-byte length
 * prefix) and for any difference between this encoder's count and the receiver's; far more than
 * either needs, far less than any list item an answer could drop.
 */
export const framingMarginBytes = 1024;

/**
 * Largest encoded answer of an unpaged RPC (GetCoursePage, GetDashboard, ListNeedsGrading) a node
 * sends. Above it the client's receive limit (`clientMaxMessageBytes`) would fail the call anyway,
 * after the node had sent it all; refusing first says why and what to do instead.
 */
export const maxAnswerBytes = clientMaxMessageBytes - framingMarginBytes;

/**
 * `answer` when its encoding fits in one client message ({@link maxAnswerBytes}), else
 * RESOURCE_EXHAUSTED naming `what` it is and what to ask `instead`. Measuring encodes the answer
 * once more; these answers are small in the common case, so that is cheap next to the store reads
 * that built them.
 */
export function checkedAnswerSize<T>(
  answer: T,
  encode: (answer: T) => { finish(): Uint8Array },
  what: string,
  instead: string,
): T {
  const bytes = encode(answer).finish().byteLength;
  if (bytes <= maxAnswerBytes) return answer;
  throw new LmsCallError(
    status.RESOURCE_EXHAUSTED,
    `${what} is ${bytes} bytes, more than one client API message may carry (${maxAnswerBytes}): ${instead}`,
  );
}
