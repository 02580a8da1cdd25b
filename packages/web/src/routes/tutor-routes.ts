import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { formBody, formIdempotencyKey, textField } from "../http/forms.js";
import { requireRole, viewerOf } from "../http/guards.js";
import { badRequest } from "../http/http-error.js";
import { wantsJson } from "../http/negotiation.js";
import { renderPage } from "../http/page.js";
import { isApiError, type LmsApi, type TutorExchange } from "../lms-api.js";
import { type TutorPageState, tutorPage } from "../views/tutor-page.js";
import type { RouteDeps } from "./route-deps.js";

/** Longest answer the no-script path collects before it stops. */
export const maxTutorAnswerChars = 32_000;
/** What users read when the model server is down. */
export const tutorUnavailableMessage =
  "The AI tutor is unavailable right now. Everything else keeps working; try the tutor again later.";

/** One line of the NDJSON stream the tutor script reads. */
export type TutorStreamEvent =
  | { readonly type: "piece"; readonly text: string }
  | { readonly type: "done" }
  | { readonly type: "error"; readonly message: string };

/** The AI tutor page, streamed (NDJSON to the script) or whole (plain form post). */
export function registerTutorRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;

  /** Renders the page with the viewer's earlier exchanges, read after any answer was recorded. */
  async function renderTutor(
    request: FastifyRequest,
    reply: FastifyReply,
    state: TutorPageState,
    statusCode = 200,
  ): Promise<FastifyReply> {
    const history = await readHistory(api, viewerOf(request).token);
    return renderPage(request, reply, (context) => tutorPage(context, { ...state, history }), statusCode);
  }

  app.get("/tutor", { preHandler: requireRole() }, async (request, reply) => {
    const materialId = (request.query as { materialId?: unknown }).materialId;
    const state = typeof materialId === "string" && materialId !== "" ? { materialId } : {};
    return renderTutor(request, reply, state);
  });

  app.post("/tutor", { preHandler: [requireRole(), app.csrfProtection] }, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    const question = textField(body, "question");
    const materialId = textField(body, "materialId");
    if (question === "") throw badRequest("Type a question for the tutor.");
    const pieces = api.askTutor(viewer.token, {
      question,
      ...(materialId === "" ? {} : { materialId }),
      idempotencyKey: formIdempotencyKey(body),
    });
    const state = { question, ...(materialId === "" ? {} : { materialId }) };
    if (wantsJson(request)) return streamAnswer(reply, pieces);
    let answer = "";
    try {
      for await (const piece of pieces) {
        answer += piece;
        if (answer.length >= maxTutorAnswerChars) break;
      }
    } catch (error) {
      if (!isTutorDown(error)) throw error;
      return renderTutor(request, reply, { ...state, answer, error: tutorUnavailableMessage }, 503);
    }
    return renderTutor(request, reply, { ...state, answer });
  });
}

/**
 * The viewer's past exchanges, or undefined when the cluster could not answer: the history is a
 * convenience, so an outage there must not take the tutor page down with it.
 */
async function readHistory(api: LmsApi, token: string): Promise<readonly TutorExchange[] | undefined> {
  try {
    return await api.listTutorExchanges(token);
  } catch (error) {
    if (isApiError(error) && error.code === "UNAVAILABLE") return undefined;
    throw error;
  }
}

function isTutorDown(error: unknown): boolean {
  return isApiError(error) && error.code === "UNAVAILABLE";
}

/**
 * Streams the answer as NDJSON. The first piece is awaited before the status is sent, so a tutor
 * that is down from the start gets a 503; a failure later ends the stream with an error line.
 */
async function streamAnswer(reply: FastifyReply, pieces: AsyncIterable<string>): Promise<FastifyReply> {
  const iterator = pieces[Symbol.asyncIterator]();
  let first: IteratorResult<string>;
  try {
    first = await iterator.next();
  } catch (error) {
    if (!isTutorDown(error)) throw error;
    return reply
      .code(503)
      .header("cache-control", "no-store")
      .send({ error: tutorUnavailableMessage, title: "Tutor unavailable" });
  }
  async function* lines(): AsyncGenerator<string> {
    try {
      for (let next = first; next.done !== true; next = await iterator.next()) {
        yield line({ type: "piece", text: next.value });
      }
      yield line({ type: "done" });
    } catch (error) {
      yield line({
        type: "error",
        message: isTutorDown(error) ? tutorUnavailableMessage : "The tutor stopped unexpectedly.",
      });
    } finally {
      // A reader that went away cancels the answer upstream instead of letting the model run on.
      await iterator.return?.();
    }
  }
  return reply
    .header("cache-control", "no-store")
    .header("x-accel-buffering", "no")
    .type("application/x-ndjson; charset=utf-8")
    .send(Readable.from(lines()));
}

function line(event: TutorStreamEvent): string {
  return `${JSON.stringify(event)}\n`;
}
