import type { LmsCommandKind } from "./commands.js";

/** What an accepted command produced, by kind (what the gRPC handler returns to the client). */
export interface OkValues {
  registerStudent: { readonly userId: string };
  createInstructor: { readonly userId: string };
  createAdmin: { readonly userId: string };
  bootstrapAdmin: { readonly userId: string };
  revokeToken: { readonly tokenId: string };
  createCourse: { readonly courseId: string };
  createJoinCode: { readonly code: string; readonly courseId: string };
  revokeJoinCode: { readonly code: string };
  joinByCode: { readonly courseId: string; readonly alreadyEnrolled: boolean };
  enrolStudent: { readonly courseId: string; readonly studentId: string; readonly alreadyEnrolled: boolean };
  unenrolStudent: { readonly courseId: string; readonly studentId: string; readonly wasEnrolled: boolean };
  createAssignment: { readonly assignmentId: string };
  updateAssignment: { readonly assignmentId: string };
  startUpload: { readonly uploadId: string };
  appendUploadChunk: { readonly uploadId: string; readonly receivedBytes: number };
  commitUpload: { readonly uploadId: string; readonly sha256: string; readonly size: number };
  abortUpload: { readonly uploadId: string };
  submit: { readonly submissionId: string; readonly version: number; readonly late: boolean };
  grade: { readonly assignmentId: string; readonly studentId: string; readonly historyIndex: number };
  releaseGrades: { readonly assignmentId: string };
  postFeedbackNote: { readonly noteId: string };
  postMaterial: { readonly materialId: string };
  deleteMaterial: { readonly materialId: string };
  askQuestion: { readonly questionId: string };
  answerQuestion: { readonly questionId: string };
  recordTutorExchange: { readonly exchangeId: string };
}

/** Why a command was refused; a refused command changed nothing. */
export type RejectionStatus = "not-found" | "forbidden" | "conflict" | "invalid";

export interface Rejection {
  readonly status: RejectionStatus;
  /** A sentence for the user saying what was wrong (never a secret). */
  readonly message: string;
}

export interface Accepted<K extends LmsCommandKind> {
  readonly status: "ok";
  readonly kind: K;
  readonly value: OkValues[K];
  /** True when this is the stored first result of an idempotency key seen before. */
  readonly replayed: boolean;
}

/** One result per applied command; the same on every node. */
export type LmsResult<K extends LmsCommandKind = LmsCommandKind> = { [Kind in K]: Accepted<Kind> }[K] | Rejection;

export function notFound(message: string): Rejection {
  return { status: "not-found", message };
}
export function forbidden(message: string): Rejection {
  return { status: "forbidden", message };
}
export function conflict(message: string): Rejection {
  return { status: "conflict", message };
}
export function invalid(message: string): Rejection {
  return { status: "invalid", message };
}

/** True for a result that accepted its command. */
export function isAccepted<K extends LmsCommandKind>(result: LmsResult<K>): result is Accepted<K> {
  return result.status === "ok";
}
