import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";
import { commandSchemas, isCommandKind } from "./command-schema.js";
import type { LmsCommand } from "./commands.js";
import type { FieldRule } from "./field-rules.js";
import { idempotencyKeyPattern, idPattern } from "./identifiers.js";
import { maxCommandBytes, maxTimestampMs } from "./limits.js";

/** Version of the encoded form; a decoder refuses any other. */
export const commandFormatVersion = 1;

/**
 * Why bytes (or an object) are not a valid command. Returned, never thrown: a malformed entry in
 * the log must not stop the state machine. `field` names the offending field ("" for the whole).
 *
 * `fromNewerVersion` marks what a later build may write and this one cannot read: a newer format
 * version, a command kind or a field this build does not know. Every node of one build judges
 * plain garbage the same way, so applying it as "invalid" keeps the replicas equal; a command
 * from a newer build is different, because the upgraded nodes apply it and this one would skip
 * it (the state machine stops instead, see lms-state-machine.ts). A later build that changes what
 * an existing field accepts must therefore add a field or a kind, or raise the format version.
 */
export class MalformedCommandError extends Error {
  /** Stable across module copies, where `instanceof` can fail. */
  readonly code = "MALFORMED_COMMAND";

  constructor(
    readonly field: string,
    readonly problem: string,
    readonly fromNewerVersion = false,
  ) {
    super(field === "" ? `malformed command: ${problem}` : `malformed command: ${field} ${problem}`);
    this.name = "MalformedCommandError";
  }
}

export type DecodeResult =
  | { readonly ok: true; readonly command: LmsCommand }
  | { readonly ok: false; readonly error: MalformedCommandError };

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();
const stampFields = ["kind", "actor", "idempotencyKey", "at"] as const;
const roles = new Set(["student", "instructor", "admin"]);

/**
 * Checks every field of `value` against the command's schema: known kind, no unknown fields, each
 * field's type, pattern and size limit, an actor unless the kind is anonymous.
 * @returns the first problem found, or undefined when `value` is a valid {@link LmsCommand}.
 */
export function validateCommand(value: unknown): MalformedCommandError | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return new MalformedCommandError("", "must be a JSON object");
  }
  const record = value as Record<string, unknown>;
  if (!isCommandKind(record.kind)) {
    // A well-formed name this build does not know is a kind a newer build added.
    const newer = typeof record.kind === "string" && idPattern.test(record.kind);
    return new MalformedCommandError("kind", "names no command", newer);
  }
  const schema = commandSchemas[record.kind];
  const fields: Record<string, FieldRule> = schema.fields;
  for (const key of Object.keys(record)) {
    if (!(stampFields as readonly string[]).includes(key) && !Object.hasOwn(fields, key)) {
      // A field a newer build added to this kind; "__proto__" and the like are plain garbage.
      const newer = idPattern.test(key) && !Object.hasOwn(Object.prototype, key);
      return new MalformedCommandError(key, `is not a field of ${record.kind}`, newer);
    }
  }
  const actorProblem = checkActor(record.actor, schema.anonymous);
  if (actorProblem !== undefined) return new MalformedCommandError("actor", actorProblem);
  if (typeof record.idempotencyKey !== "string" || !idempotencyKeyPattern.test(record.idempotencyKey)) {
    return new MalformedCommandError("idempotencyKey", "must be 8 to 128 letters, digits, '_', '.', ':' or '-'");
  }
  if (!Number.isSafeInteger(record.at) || (record.at as number) < 0 || (record.at as number) > maxTimestampMs) {
    return new MalformedCommandError("at", "must be a timestamp in ms since the epoch");
  }
  for (const [name, rule] of Object.entries(fields)) {
    const fieldValue = record[name];
    if (fieldValue === undefined) {
      if (rule.optional) continue;
      return new MalformedCommandError(name, "is missing");
    }
    const problem = rule.check(fieldValue);
    if (problem !== undefined) return new MalformedCommandError(name, problem);
  }
  return undefined;
}

function checkActor(actor: unknown, anonymousAllowed: boolean): string | undefined {
  if (actor === null) return anonymousAllowed ? undefined : "is required (this command needs a signed-in user)";
  if (typeof actor !== "object" || Array.isArray(actor)) return "must be null or { userId, role }";
  const record = actor as Record<string, unknown>;
  if (Object.keys(record).some((key) => key !== "userId" && key !== "role")) return "has unknown fields";
  if (typeof record.userId !== "string" || !idPattern.test(record.userId)) return "userId must be an id";
  if (typeof record.role !== "string" || !roles.has(record.role)) return "role must be student, instructor or admin";
  return undefined;
}

/**
 * The bytes of a Raft entry for `command` (canonical JSON, so equal commands give equal bytes).
 * @throws MalformedCommandError when the command is invalid or encodes above `maxCommandBytes`:
 * the node must never propose what every replica would refuse.
 * @example
 * const bytes = encodeCommand({ kind: "createCourse", actor, idempotencyKey: "k-12345678", at: 1, courseId: "c1", title: "Algebra", description: "" });
 */
export function encodeCommand(command: LmsCommand): Uint8Array {
  const problem = validateCommand(command);
  if (problem !== undefined) throw problem;
  const bytes = utf8Encoder.encode(canonicalJson({ ...command, v: commandFormatVersion }));
  if (bytes.byteLength > maxCommandBytes) {
    throw new MalformedCommandError(
      "",
      `encodes to ${bytes.byteLength} bytes, above the ${maxCommandBytes}-byte limit`,
    );
  }
  return bytes;
}

/**
 * Decodes and validates a command from a Raft entry's bytes. Never throws: malformed input
 * (oversized, not UTF-8, not JSON, wrong version, any invalid field) gives `{ ok: false, error }`.
 */
export function decodeCommand(bytes: Uint8Array): DecodeResult {
  if (bytes.byteLength > maxCommandBytes) {
    return fail("", `is ${bytes.byteLength} bytes, above the ${maxCommandBytes}-byte limit`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decoder.decode(bytes));
  } catch {
    return fail("", "is not UTF-8 JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return fail("", "must be a JSON object");
  const { v, ...rest } = parsed as Record<string, unknown>;
  if (v !== commandFormatVersion) {
    const newer = Number.isSafeInteger(v) && (v as number) > commandFormatVersion;
    return { ok: false, error: new MalformedCommandError("v", `must be ${commandFormatVersion}`, newer) };
  }
  const problem = validateCommand(rest);
  if (problem !== undefined) return { ok: false, error: problem };
  return { ok: true, command: rest as unknown as LmsCommand };
}

function fail(field: string, problem: string): DecodeResult {
  return { ok: false, error: new MalformedCommandError(field, problem) };
}

/**
 * A digest of what the client asked for: the kind and every field the node does not stamp. Two
 * proposals of one request (a retry through another node) have equal fingerprints even though
 * their ids, time and password salt differ; a reused idempotency key with other content does not.
 */
export function requestFingerprint(command: LmsCommand): string {
  const fields: Record<string, FieldRule> = commandSchemas[command.kind].fields;
  const record = command as unknown as Record<string, unknown>;
  const clientPart: Record<string, unknown> = { kind: command.kind };
  for (const [name, rule] of Object.entries(fields)) {
    if (!rule.stamped) clientPart[name] = record[name];
  }
  return createHash("sha256").update(canonicalJson(clientPart)).digest("hex");
}
