import { createHash, randomUUID } from "node:crypto";
import { badRequest } from "./http-error.js";

/** A parsed urlencoded form: @fastify/formbody gives strings, or arrays for repeated names. */
export type FormBody = Record<string, string | string[] | undefined>;

/** The hidden field carrying each rendered form's idempotency key. */
export const idempotencyFieldName = "_idem";
/** Longest single form field accepted before the service even sees it. */
export const maxFieldChars = 20_000;

const idempotencyKeyPattern = /^[A-Za-z0-9_-]{16,128}$/;

/** The body of a form post, or an empty form when there was none. */
export function formBody(body: unknown): FormBody {
  return typeof body === "object" && body !== null ? (body as FormBody) : {};
}

/** One text field (the first when repeated), without surrounding whitespace unless `keepSpace`. */
export function textField(body: FormBody, name: string, options: { keepSpace?: boolean } = {}): string {
  const value = body[name];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return "";
  if (first.length > maxFieldChars) throw badRequest(`The field "${name}" is too long.`);
  return options.keepSpace === true ? first : first.trim();
}

/** A number field, or a 400 naming the field. */
export function numberField(body: FormBody, name: string, label: string): number {
  const text = textField(body, name);
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw badRequest(`${label} must be a number.`);
  return value;
}

/**
 * A `datetime-local` field read as UTC (the pages say so), in epoch ms; empty gives 0 ("not set").
 */
export function utcTimeField(body: FormBody, name: string, label: string): number {
  const text = textField(body, name);
  if (text === "") return 0;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text)) throw badRequest(`${label} must be a date and time.`);
  const ms = Date.parse(`${text}Z`);
  if (!Number.isFinite(ms)) throw badRequest(`${label} must be a date and time.`);
  return ms;
}

/** A checkbox: present means on. */
export function checkboxField(body: FormBody, name: string): boolean {
  return body[name] !== undefined;
}

/** A fresh idempotency key for a form being rendered. */
export function newIdempotencyKey(): string {
  return randomUUID().replace(/-/g, "");
}

/**
 * The idempotency key a form carried, so a double click or a browser resend of the same rendered
 * form is applied once. A missing or malformed key gets a fresh one (the write still works, it just
 * is not deduplicated across resends).
 */
export function formIdempotencyKey(body: FormBody): string {
  const key = textField(body, idempotencyFieldName);
  return idempotencyKeyPattern.test(key) ? key : newIdempotencyKey();
}

/**
 * The idempotency key of a submission: derived from who submits what (user, assignment, the
 * file's SHA-256 and the text), so retrying the same upload after any failure, even from a fresh
 * page, never creates a second attempt.
 */
export function submissionIdempotencyKey(parts: {
  userId: string;
  assignmentId: string;
  sha256: string;
  text: string;
}): string {
  const digest = createHash("sha256")
    .update(JSON.stringify(["lectern-submit-v1", parts.userId, parts.assignmentId, parts.sha256, parts.text]))
    .digest("base64url");
  return `sub_${digest}`;
}
