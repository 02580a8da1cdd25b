import type { FastifyReply } from "fastify";
import { type ApiErrorCode, isApiError } from "../lms-api.js";
import { setFlash } from "./flash.js";
import { HttpError } from "./http-error.js";
import { wantsJson } from "./negotiation.js";

/** API failures that mean "the form was wrong or is stale": shown on the form's page, not as an error page. */
export const formErrorCodes: readonly ApiErrorCode[] = ["INVALID_ARGUMENT", "ALREADY_EXISTS", "FAILED_PRECONDITION"];

export interface FormOutcome {
  /** Where to go after success. */
  readonly redirectTo: string;
  /** The message shown there. */
  readonly message: string;
}

/**
 * Runs a form's write and answers Post/Redirect/Get: success flashes `message` at `redirectTo`;
 * a form error (bad input, a taken name, a revoked code, or one of `extraCodes`) flashes the
 * service's message back at `back`. Anything else (outage, wrong role) goes to the error handler.
 * A page script (asking for JSON) gets `{ redirectTo }` or `{ error }` instead of a redirect, so it
 * can navigate itself once its upload finished.
 */
export async function runFormAction(
  reply: FastifyReply,
  back: string,
  action: () => Promise<FormOutcome>,
  extraCodes: readonly ApiErrorCode[] = [],
): Promise<FastifyReply> {
  let outcome: FormOutcome;
  try {
    outcome = await action();
  } catch (error) {
    const isFormError =
      (isApiError(error) && (formErrorCodes.includes(error.code) || extraCodes.includes(error.code))) ||
      (error instanceof HttpError && error.statusCode === 400);
    if (!isFormError) throw error;
    const text = (error as Error).message;
    if (wantsJson(reply.request)) return reply.code(400).send({ error: text, title: "Please check the form" });
    setFlash(reply, { kind: "error", text });
    return reply.redirect(back, 303);
  }
  setFlash(reply, { kind: "success", text: outcome.message });
  if (wantsJson(reply.request)) return reply.send({ redirectTo: outcome.redirectTo });
  return reply.redirect(outcome.redirectTo, 303);
}
