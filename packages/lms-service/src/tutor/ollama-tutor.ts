import { Agent, errors, request } from "undici";
import { TutorRequestError, TutorUnavailableError } from "./tutor-errors.js";
import { MAX_QUESTION_CHARS, type TutorQuestion, tutorMessages } from "./tutor-prompt.js";

/** Time to connect and get response headers: a model server that does not answer this fast is down. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
/**
 * Longest silence between two streamed pieces. Loading a model into memory can take a while on
 * the first question, so this is generous.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Longest whole answer, in characters: the stream is cut there. */
export const MAX_ANSWER_CHARS = 20_000;
/** Longest line of the model server's NDJSON stream; a longer one is a protocol error. */
const MAX_LINE_CHARS = 1024 * 1024;

export interface OllamaTutorOptions {
  /** e.g. http://127.0.0.1:11434 (`OLLAMA_URL`). */
  readonly baseUrl: string;
  /** e.g. gemma2:2b (`OLLAMA_MODEL`). */
  readonly model: string;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
}

/**
 * Asks an Ollama-compatible model server (`POST /api/chat` with `stream: true`, which answers with
 * one JSON object per line) and yields the answer piece by piece as it is generated. Any failure —
 * nothing listening, an HTTP error, a missing model, a stalled or malformed stream — becomes a
 * `TutorUnavailableError` whose message tells the user what happened; nothing else is affected.
 *
 * @example
 * const tutor = new OllamaTutor({ baseUrl: "http://127.0.0.1:11434", model: "gemma2:2b" });
 * for await (const piece of tutor.ask({ question: "What is a quorum?" })) process.stdout.write(piece);
 */
export class OllamaTutor {
  private readonly dispatcher: Agent;
  private readonly chatUrl: URL;

  constructor(private readonly options: OllamaTutorOptions) {
    this.chatUrl = new URL("/api/chat", options.baseUrl);
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.dispatcher = new Agent({
      connect: { timeout: connectTimeoutMs },
      headersTimeout: connectTimeoutMs,
      bodyTimeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    });
  }

  get model(): string {
    return this.options.model;
  }

  /** Streams the answer to `question`; `signal` aborts it (the request to the model server too). */
  async *ask(question: TutorQuestion, signal?: AbortSignal): AsyncGenerator<string> {
    const text = typeof question.question === "string" ? question.question.trim() : "";
    if (text === "") throw new TutorRequestError("the question is empty");
    if (text.length > MAX_QUESTION_CHARS) {
      throw new TutorRequestError(`the question is longer than ${MAX_QUESTION_CHARS} characters`);
    }
    const body = JSON.stringify({
      model: this.options.model,
      messages: tutorMessages({ ...question, question: text }),
      stream: true,
    });
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(this.chatUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        dispatcher: this.dispatcher,
        signal,
      });
    } catch (error) {
      throw this.unavailable(error);
    }
    if (response.statusCode !== 200) {
      const detail = await readErrorBody(response.body);
      if (response.statusCode === 404 && /model/i.test(detail)) {
        throw new TutorUnavailableError(
          `The AI tutor is unavailable: the model server has no model "${this.options.model}" (install it with \`ollama pull ${this.options.model}\`).`,
        );
      }
      throw new TutorUnavailableError(
        `The AI tutor is unavailable: the model server answered HTTP ${response.statusCode}${detail === "" ? "" : ` (${detail})`}.`,
      );
    }
    let produced = 0;
    try {
      for await (const line of ndjsonLines(response.body)) {
        const piece = parseChatLine(line);
        if (piece.error !== undefined) {
          throw new TutorUnavailableError(`The AI tutor is unavailable: the model server reported "${piece.error}".`);
        }
        if (piece.content !== "") {
          const room = MAX_ANSWER_CHARS - produced;
          const out = piece.content.slice(0, room);
          produced += out.length;
          yield out;
          if (produced >= MAX_ANSWER_CHARS) return;
        }
        if (piece.done) return;
      }
    } catch (error) {
      if (error instanceof TutorUnavailableError) throw error;
      throw this.unavailable(error);
    } finally {
      // Stop the generation when the caller stops early (or failed): the socket is released.
      response.body.destroy();
    }
    throw new TutorUnavailableError("The AI tutor is unavailable: the model server ended the answer unexpectedly.");
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private unavailable(error: unknown): TutorUnavailableError {
    const base = this.options.baseUrl;
    if (error instanceof errors.RequestAbortedError || (error as Error)?.name === "AbortError") {
      return new TutorUnavailableError("The tutor request was cancelled.", { cause: error });
    }
    if (error instanceof errors.BodyTimeoutError) {
      return new TutorUnavailableError("The AI tutor is unavailable: the model server stopped answering.", {
        cause: error,
      });
    }
    if (error instanceof errors.HeadersTimeoutError || error instanceof errors.ConnectTimeoutError) {
      return new TutorUnavailableError(
        `The AI tutor is unavailable: the model server at ${base} did not answer in time.`,
        {
          cause: error,
        },
      );
    }
    const code = (error as { code?: string } | null)?.code;
    if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH") {
      return new TutorUnavailableError(
        `The AI tutor is unavailable: no model server answers at ${base}. Everything else keeps working.`,
        { cause: error },
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    return new TutorUnavailableError(`The AI tutor is unavailable: ${message}.`, { cause: error });
  }
}

interface ChatPiece {
  readonly content: string;
  readonly done: boolean;
  readonly error: string | undefined;
}

/** One line of Ollama's chat stream: `{"message":{"content":"..."},"done":false}` or `{"error":"..."}`. */
function parseChatLine(line: string): ChatPiece {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TutorUnavailableError("The AI tutor is unavailable: the model server sent a malformed answer.");
  }
  const object = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof object.error === "string") return { content: "", done: true, error: object.error };
  const message = object.message as Record<string, unknown> | undefined;
  const content = typeof message?.content === "string" ? message.content : "";
  return { content, done: object.done === true, error: undefined };
}

/** The non-empty lines of a newline-delimited stream, decoded as UTF-8 across chunk boundaries. */
async function* ndjsonLines(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline !== -1) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line !== "") yield line;
      newline = pending.indexOf("\n");
    }
    if (pending.length > MAX_LINE_CHARS) {
      throw new TutorUnavailableError("The AI tutor is unavailable: the model server sent an oversized line.");
    }
  }
  pending += decoder.decode();
  if (pending.trim() !== "") yield pending.trim();
}

/** The start of an error body (Ollama answers `{"error":"..."}`), for the message. */
async function readErrorBody(body: AsyncIterable<Uint8Array> & { destroy(): void }): Promise<string> {
  let text = "";
  try {
    for await (const chunk of body) {
      text += Buffer.from(chunk).toString("utf8");
      if (text.length > 2_000) break;
    }
  } catch {
    // The detail is only for the message.
  } finally {
    body.destroy();
  }
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error.slice(0, 200);
  } catch {
    // Not JSON: use the text.
  }
  return text.trim().slice(0, 200);
}
