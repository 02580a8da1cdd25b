import type { RecordRef } from "../store/lms-store.js";
import type { LmsCommand } from "./commands.js";
import { idempotencyLookupKeys } from "./idempotency-retention.js";
import { key } from "./keys.js";

/** The idempotency scope of anonymous commands (register, bootstrap). */
export const anonymousScope = "anonymous";

/** The scope of `command`'s idempotency key: its actor, or {@link anonymousScope}. */
export function idempotencyScope(command: LmsCommand): string {
  return command.actor?.userId ?? anonymousScope;
}

/**
 * The records applying `command` will most likely read: its actor, its idempotency record and the
 * records its handler looks up first. Only a hint for `LmsStore.prefetch`, so a batch of entries
 * costs one disk round trip instead of several per entry; a record missing here is still read,
 * one listed here but not read costs nothing but the lookup.
 */
export function likelyReads(command: LmsCommand): RecordRef[] {
  const refs: RecordRef[] = idempotencyLookupKeys(command, idempotencyScope(command)).map((recordKey) => ({
    collection: "idempotency",
    key: recordKey,
  }));
  if (command.actor !== null) refs.push({ collection: "users", key: command.actor.userId });
  switch (command.kind) {
    case "postFeedbackNote":
      refs.push({ collection: "courses", key: command.courseId });
      refs.push({ collection: "notes", key: key(command.courseId, command.noteId) });
      if (command.studentId !== undefined) {
        refs.push({ collection: "courseMembers", key: key(command.courseId, command.studentId) });
      }
      break;
    case "createAssignment":
      refs.push({ collection: "courses", key: command.courseId });
      refs.push({ collection: "assignments", key: command.assignmentId });
      break;
    case "submit":
      refs.push({ collection: "assignments", key: command.assignmentId });
      refs.push({ collection: "submissions", key: command.submissionId });
      break;
    case "grade":
    case "releaseGrades":
      refs.push({ collection: "assignments", key: command.assignmentId });
      break;
    case "askQuestion":
      refs.push({ collection: "courses", key: command.courseId });
      refs.push({ collection: "questions", key: command.questionId });
      break;
    case "answerQuestion":
      refs.push({ collection: "questions", key: command.questionId });
      break;
    case "recordTutorExchange":
      if (command.courseId !== undefined) refs.push({ collection: "courses", key: command.courseId });
      if (command.actor !== null) {
        refs.push({ collection: "tutorExchanges", key: key(command.actor.userId, command.exchangeId) });
      }
      break;
    default:
      break;
  }
  return refs;
}
