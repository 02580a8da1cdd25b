import type { FileStore } from "../store/file-store.js";
import type { ApplyContext, Handler } from "./apply-context.js";
import { idempotencyScope } from "./apply-prefetch.js";
import { WriteLayer } from "./apply-transaction.js";
import { requestFingerprint } from "./command-codec.js";
import type { CommandOf, LmsCommand, LmsCommandKind } from "./commands.js";
import { bootstrapAdmin, createAdmin, createInstructor, registerStudent, revokeToken } from "./handlers/accounts.js";
import { createAssignment, grade, releaseGrades, submit, updateAssignment } from "./handlers/assignments.js";
import {
  answerQuestion,
  askQuestion,
  deleteMaterial,
  postFeedbackNote,
  postMaterial,
  recordTutorExchange,
} from "./handlers/course-content.js";
import {
  createCourse,
  createJoinCode,
  enrolStudent,
  joinByCode,
  revokeJoinCode,
  unenrolStudent,
} from "./handlers/courses.js";
import { abortUpload, appendUploadChunk, commitUpload, startUpload } from "./handlers/uploads.js";
import { findFirstResult, keepFirstResult } from "./idempotency-retention.js";
import { conflict, forbidden, type LmsResult } from "./results.js";

const handlers: { readonly [K in LmsCommandKind]: Handler<K> } = {
  registerStudent,
  createInstructor,
  createAdmin,
  bootstrapAdmin,
  revokeToken,
  createCourse,
  createJoinCode,
  revokeJoinCode,
  joinByCode,
  enrolStudent,
  unenrolStudent,
  createAssignment,
  updateAssignment,
  startUpload,
  appendUploadChunk,
  commitUpload,
  abortUpload,
  submit,
  grade,
  releaseGrades,
  postFeedbackNote,
  postMaterial,
  deleteMaterial,
  askQuestion,
  answerQuestion,
  recordTutorExchange,
};

export interface ApplyEnvironment {
  readonly files: FileStore;
  readonly maxFileBytes: number;
  /** Log indexes between idempotency pruning passes (idempotency-retention.ts). */
  readonly idempotencyPruneEveryEntries: number;
}

/**
 * Applies one decoded command on top of `batch`: resolves the actor from the store (the stored
 * role decides, not the token's), answers a repeated idempotency key with its first result while
 * that is kept, runs the handler in a layer of its own and keeps its writes only if it accepted.
 * An accepted command at a pruning index also prunes a bounded number of expired idempotency
 * records (see idempotency-retention.ts); a refused or replayed one changes nothing.
 */
export async function applyCommand(
  batch: WriteLayer,
  command: LmsCommand,
  logIndex: number,
  environment: ApplyEnvironment,
): Promise<LmsResult> {
  const actor = command.actor === null ? null : await batch.get("users", command.actor.userId);
  if (actor === undefined) return forbidden("your account does not exist; sign in again");
  // The stored actor's id equals the command's (it was found under it), so this is its scope.
  const scope = idempotencyScope(command);
  const fingerprint = requestFingerprint(command);
  const seen = await findFirstResult(batch, command, scope);
  if (seen !== undefined) {
    if (seen.fingerprint !== fingerprint) {
      return conflict("this idempotency key was used for a different request; use a new key");
    }
    return seen.result.status === "ok" ? { ...seen.result, replayed: true } : seen.result;
  }
  const layer = new WriteLayer(batch);
  const context: ApplyContext = {
    tx: layer,
    logIndex,
    actor,
    files: environment.files,
    maxFileBytes: environment.maxFileBytes,
  };
  const result = await runHandler(context, command);
  if (result.status !== "ok") return result;
  await keepFirstResult(
    layer,
    command,
    scope,
    { kind: command.kind, fingerprint, logIndex, result },
    logIndex,
    environment.idempotencyPruneEveryEntries,
  );
  batch.absorb(layer);
  return result;
}

function runHandler<K extends LmsCommandKind>(context: ApplyContext, command: CommandOf<K>): Promise<LmsResult> {
  const handler = handlers[command.kind] as Handler<K>;
  return handler(context, command) as Promise<LmsResult>;
}
