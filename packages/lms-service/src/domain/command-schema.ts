import type { CommandOf, CommandStamp, LmsCommandKind } from "./commands.js";
import {
  base64,
  type FieldRule,
  flag,
  hundredths,
  integer,
  list,
  matching,
  optional,
  stamped,
  text,
  timestamp,
} from "./field-rules.js";
import {
  idPattern,
  joinCodePattern,
  mimePattern,
  passwordHashPattern,
  sha256Pattern,
  tokenIdPattern,
  usernamePattern,
} from "./identifiers.js";
import {
  maxAnswerChars,
  maxAssignmentPoints,
  maxDescriptionChars,
  maxDisplayNameChars,
  maxFeedbackChars,
  maxFileBytesCeiling,
  maxFileNameChars,
  maxFilesPerSubmission,
  maxMaterialBodyChars,
  maxModelNameChars,
  maxNoteChars,
  maxQuestionChars,
  maxTitleChars,
  maxTutorAnswerChars,
  maxTutorPromptChars,
  maxUploadChunkBytes,
} from "./limits.js";

/** The kind-specific fields of a command (everything but `kind` and the stamp). */
type PayloadKeys<K extends LmsCommandKind> = Exclude<keyof CommandOf<K>, keyof CommandStamp | "kind">;

/** How to check one kind: a rule for every payload field, and whether it may come without an actor. */
export interface CommandSchema<K extends LmsCommandKind> {
  readonly anonymous: boolean;
  readonly fields: { readonly [F in PayloadKeys<K>]-?: FieldRule };
}

const id = () => matching(idPattern, "an id of letters, digits, '_' or '-'");
const newId = () => stamped(id());
const sha256 = () => matching(sha256Pattern, "a SHA-256 hex digest (64 lower-case hex digits)");
const title = () => text(maxTitleChars, { minChars: 1, singleLine: true });

const newAccount = {
  userId: newId(),
  username: matching(usernamePattern, "a lower-case username of 3 to 32 letters, digits, '.', '_' or '-'"),
  displayName: text(maxDisplayNameChars, { minChars: 1, singleLine: true }),
  passwordHash: stamped(matching(passwordHashPattern, "an encoded scrypt hash")),
};

/** Every command kind's schema; the codec and the idempotency fingerprint both read it. */
export const commandSchemas: { readonly [K in LmsCommandKind]: CommandSchema<K> } = {
  registerStudent: { anonymous: true, fields: newAccount },
  createInstructor: { anonymous: false, fields: newAccount },
  createAdmin: { anonymous: false, fields: newAccount },
  bootstrapAdmin: { anonymous: true, fields: newAccount },
  revokeToken: {
    anonymous: false,
    fields: { tokenId: matching(tokenIdPattern, "a token id"), expiresAt: timestamp() },
  },
  createCourse: {
    anonymous: false,
    fields: {
      courseId: newId(),
      title: title(),
      description: text(maxDescriptionChars),
      ownerId: optional(id()),
    },
  },
  createJoinCode: {
    anonymous: false,
    fields: {
      courseId: id(),
      code: stamped(matching(joinCodePattern, "6 to 16 upper-case letters or digits")),
      expiresAt: optional(timestamp()),
    },
  },
  revokeJoinCode: { anonymous: false, fields: { code: matching(joinCodePattern, "a join code") } },
  joinByCode: { anonymous: false, fields: { code: matching(joinCodePattern, "a join code") } },
  enrolStudent: { anonymous: false, fields: { courseId: id(), studentId: id() } },
  unenrolStudent: { anonymous: false, fields: { courseId: id(), studentId: id() } },
  createAssignment: {
    anonymous: false,
    fields: {
      assignmentId: newId(),
      courseId: id(),
      title: title(),
      description: text(maxDescriptionChars),
      dueAt: timestamp(),
      maxPoints: integer(1, maxAssignmentPoints),
    },
  },
  updateAssignment: {
    anonymous: false,
    fields: {
      assignmentId: id(),
      title: optional(title()),
      description: optional(text(maxDescriptionChars)),
      dueAt: optional(timestamp()),
      maxPoints: optional(integer(1, maxAssignmentPoints)),
    },
  },
  startUpload: { anonymous: false, fields: { uploadId: newId() } },
  appendUploadChunk: {
    anonymous: false,
    fields: { uploadId: id(), offset: integer(0, maxFileBytesCeiling), data: base64(maxUploadChunkBytes) },
  },
  commitUpload: {
    anonymous: false,
    fields: {
      uploadId: id(),
      sha256: sha256(),
      size: integer(0, maxFileBytesCeiling),
      name: text(maxFileNameChars, { minChars: 1, singleLine: true }),
      mime: matching(mimePattern, "a lower-case MIME type like application/pdf"),
    },
  },
  abortUpload: { anonymous: false, fields: { uploadId: id() } },
  submit: {
    anonymous: false,
    fields: {
      submissionId: newId(),
      assignmentId: id(),
      fileHashes: list(sha256(), 0, maxFilesPerSubmission, true),
      comment: text(maxFeedbackChars),
    },
  },
  grade: {
    anonymous: false,
    fields: {
      assignmentId: id(),
      studentId: id(),
      points: hundredths(maxAssignmentPoints),
      feedback: text(maxFeedbackChars),
    },
  },
  releaseGrades: { anonymous: false, fields: { assignmentId: id(), released: optional(flag()) } },
  postFeedbackNote: {
    anonymous: false,
    fields: {
      noteId: newId(),
      courseId: id(),
      studentId: optional(id()),
      text: text(maxNoteChars, { minChars: 1 }),
    },
  },
  postMaterial: {
    anonymous: false,
    fields: {
      materialId: newId(),
      courseId: id(),
      title: title(),
      body: text(maxMaterialBodyChars),
      fileHash: optional(sha256()),
    },
  },
  deleteMaterial: { anonymous: false, fields: { materialId: id() } },
  askQuestion: {
    anonymous: false,
    fields: { questionId: newId(), courseId: id(), text: text(maxQuestionChars, { minChars: 1 }) },
  },
  answerQuestion: {
    anonymous: false,
    fields: { questionId: id(), text: text(maxAnswerChars, { minChars: 1 }) },
  },
  recordTutorExchange: {
    anonymous: false,
    fields: {
      exchangeId: newId(),
      courseId: optional(id()),
      materialId: optional(id()),
      model: text(maxModelNameChars, { minChars: 1, singleLine: true }),
      prompt: text(maxTutorPromptChars, { minChars: 1 }),
      answer: text(maxTutorAnswerChars),
    },
  },
};

/** True when `kind` names a command. */
export function isCommandKind(kind: unknown): kind is LmsCommandKind {
  return typeof kind === "string" && Object.hasOwn(commandSchemas, kind);
}
