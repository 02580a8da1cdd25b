import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { isApiError } from "../lms-api.js";
import { errorPage } from "../views/error-page.js";
import { setFlash } from "./flash.js";
import { LoginRequired } from "./guards.js";
import { HttpError } from "./http-error.js";
import { wantsJson } from "./negotiation.js";
import { renderPage } from "./page.js";
import { endSession } from "./session.js";

/** How an error is shown to a person. */
export interface ErrorView {
  readonly statusCode: number;
  readonly title: string;
  readonly message: string;
  /** A retryable outage: the page says to retry and sends Retry-After. */
  readonly retry?: boolean;
}

/** Seconds a browser (or person) should wait before retrying after a 503. */
export const retryAfterSeconds = 1;

/** Maps any error to what the user sees; unknown errors become a 500 that reveals nothing. */
export function describeError(error: unknown): ErrorView {
  if (error instanceof HttpError) return { statusCode: error.statusCode, title: error.title, message: error.message };
  if (isApiError(error)) {
    switch (error.code) {
      case "UNAUTHENTICATED":
        return { statusCode: 401, title: "Please sign in", message: error.message };
      case "PERMISSION_DENIED":
        return { statusCode: 403, title: "Not allowed", message: error.message };
      case "NOT_FOUND":
        return { statusCode: 404, title: "Not found", message: error.message };
      case "INVALID_ARGUMENT":
        return { statusCode: 400, title: "Please check the form", message: error.message };
      case "ALREADY_EXISTS":
      case "FAILED_PRECONDITION":
        return { statusCode: 409, title: "That cannot be done now", message: error.message };
      case "RESOURCE_EXHAUSTED":
        return error.detail === "FILE_TOO_LARGE"
          ? { statusCode: 413, title: "File too large", message: error.message }
          : { statusCode: 429, title: "Too many requests", message: error.message };
      case "UNAVAILABLE":
        return error.detail === "TUTOR_UNAVAILABLE"
          ? { statusCode: 503, title: "Tutor unavailable", message: error.message }
          : {
              statusCode: 503,
              title: "Lectern is busy for a moment",
              message: "The service is choosing a new leader or is overloaded.",
              retry: true,
            };
    }
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.code === "FST_CSRF_MISSING_SECRET" || fastifyError.code === "FST_CSRF_INVALID_TOKEN") {
    return {
      statusCode: 403,
      title: "This form has expired",
      message:
        "The form was missing its security token or it did not come from Lectern. Reload the page and try again.",
    };
  }
  if (fastifyError.code === "FST_REQ_FILE_TOO_LARGE") {
    return { statusCode: 413, title: "File too large", message: "The file is larger than the upload limit." };
  }
  if (fastifyError.statusCode === 429) {
    return {
      statusCode: 429,
      title: "Too many attempts",
      message: "Too many sign-in attempts. Wait a minute and try again.",
    };
  }
  const status = fastifyError.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return {
      statusCode: status,
      title: "Bad request",
      message: "The request could not be read. Go back and try again.",
    };
  }
  return {
    statusCode: 500,
    title: "Something went wrong",
    message: "An unexpected error happened. It has been logged.",
  };
}

/** The app's error handler: JSON for script requests, otherwise an error page or a redirect to sign in. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const view = describeError(error);
  if (view.statusCode >= 500) request.log.error({ err: error }, "request failed");
  const signedOut = error instanceof LoginRequired || (isApiError(error) && error.code === "UNAUTHENTICATED");
  if (view.retry) reply.header("retry-after", String(retryAfterSeconds));
  if (wantsJson(request)) {
    if (signedOut) endSession(reply);
    const statusCode = error instanceof LoginRequired ? 401 : view.statusCode;
    return reply.code(statusCode).header("cache-control", "no-store").send({ error: view.message, title: view.title });
  }
  if (signedOut) {
    if (request.viewer !== undefined) {
      endSession(reply);
      setFlash(reply, { kind: "error", text: "Your session has ended. Please sign in again." });
    }
    const next = request.method === "GET" ? `?next=${encodeURIComponent(request.url)}` : "";
    return reply.redirect(`/login${next}`, 303);
  }
  return renderPage(request, reply, (context) => errorPage(context, view), view.statusCode);
}
