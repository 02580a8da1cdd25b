import type { LmsCommandKind, Role } from "./commands.js";
import type { LmsResult } from "./results.js";

/**
 * What the LMS stores, collection by collection. Keys are ids joined with "/" (ids never contain
 * "/"), so "everything of course c1" is the key prefix "c1/". The comment on each collection gives
 * its key. Index collections (a key and a small pointer) let every list be a prefix scan, which
 * the embedded and the MongoDB store both do in key order.
 */
export interface UserRecord {
  readonly userId: string;
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
  readonly passwordHash: string;
  readonly createdAt: number;
  /** The admin who created an instructor; absent for self-registration and bootstrap. */
  readonly createdBy?: string;
}

export interface UserRef {
  readonly userId: string;
}

export interface RevokedTokenRecord {
  readonly tokenId: string;
  readonly userId: string;
  readonly revokedAt: number;
  readonly expiresAt: number;
}

export interface CourseRecord {
  readonly courseId: string;
  readonly title: string;
  readonly description: string;
  readonly ownerId: string;
  readonly createdAt: number;
}

/** How a member came in: the owner at creation, a student by join code or by the instructor. */
export type MembershipSource = "owner" | "joinCode" | "instructor";

export interface MembershipRecord {
  readonly courseId: string;
  readonly userId: string;
  readonly role: "instructor" | "student";
  readonly since: number;
  readonly source: MembershipSource;
}

export interface JoinCodeRecord {
  readonly code: string;
  readonly courseId: string;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly expiresAt?: number;
  readonly revokedAt?: number;
  /** How many students joined with this code (absent: none yet); a repeat join is not counted. */
  readonly timesUsed?: number;
}

export interface CodeRef {
  readonly code: string;
}

export interface AssignmentRecord {
  readonly assignmentId: string;
  readonly courseId: string;
  readonly title: string;
  readonly description: string;
  readonly dueAt: number;
  readonly maxPoints: number;
  readonly createdBy: string;
  readonly createdAt: number;
  /** Absent until the instructor releases grades; students see no grade before that. */
  readonly gradesReleasedAt?: number;
}

export interface AssignmentRef {
  readonly assignmentId: string;
}

export type UploadState = "open" | "committed" | "aborted";

export interface UploadRecord {
  readonly uploadId: string;
  readonly ownerId: string;
  readonly startedAt: number;
  readonly state: UploadState;
  readonly receivedBytes: number;
  readonly chunkCount: number;
  readonly sha256?: string;
  readonly size?: number;
  readonly name?: string;
  readonly mime?: string;
  readonly finishedAt?: number;
}

/** One piece of an open upload; deleted when the upload is committed or aborted. */
export interface UploadChunkRecord {
  readonly offset: number;
  /** Canonical base64. */
  readonly data: string;
}

/** A stored file (the bytes live in the file store under this hash). */
export interface FileRecord {
  readonly sha256: string;
  readonly size: number;
  readonly storedAt: number;
}

/** A user's upload of a file, with the display name they gave it (never used as a path). */
export interface FileOwnerRecord {
  readonly sha256: string;
  readonly userId: string;
  readonly name: string;
  readonly mime: string;
  readonly size: number;
  readonly uploadId: string;
  readonly uploadedAt: number;
}

/** Where a file is attached: who else may download it follows from this. */
export interface FileRefRecord {
  readonly sha256: string;
  readonly courseId: string;
  readonly kind: "submission" | "material";
  readonly refId: string;
  /** For a submission: its student. */
  readonly studentId?: string;
}

export interface AttachedFile {
  readonly sha256: string;
  readonly name: string;
  readonly mime: string;
  readonly size: number;
}

export interface SubmissionRecord {
  readonly submissionId: string;
  readonly assignmentId: string;
  readonly courseId: string;
  readonly studentId: string;
  /** 1 for the first submission, then 2, 3... Every version is kept. */
  readonly version: number;
  readonly files: readonly AttachedFile[];
  readonly comment: string;
  readonly submittedAt: number;
  /** Decided in apply: the stamped time is after the assignment's due date. */
  readonly late: boolean;
}

export interface SubmissionRef {
  readonly submissionId: string;
}

export interface LatestSubmissionRecord {
  readonly submissionId: string;
  readonly version: number;
  readonly submittedAt: number;
  readonly late: boolean;
}

export interface GradeValue {
  readonly points: number;
  readonly feedback: string;
}

export interface GradeRecord extends GradeValue {
  readonly assignmentId: string;
  readonly courseId: string;
  readonly studentId: string;
  readonly gradedBy: string;
  readonly gradedAt: number;
  /** The log index of the grading command (the key of its history row). */
  readonly logIndex: number;
  /** The latest submission when graded, if any. */
  readonly submissionId?: string;
}

/** One grade change: who, when, old -> new; keyed by the log index of the command. */
export interface GradeHistoryRecord {
  readonly logIndex: number;
  readonly assignmentId: string;
  readonly studentId: string;
  readonly changedBy: string;
  readonly changedAt: number;
  readonly old: GradeValue | null;
  readonly new: GradeValue;
}

export interface FeedbackNoteRecord {
  readonly noteId: string;
  readonly courseId: string;
  /** Absent: for every student of the course. */
  readonly studentId?: string;
  readonly authorId: string;
  readonly text: string;
  readonly postedAt: number;
}

export interface MaterialRecord {
  readonly materialId: string;
  readonly courseId: string;
  readonly title: string;
  readonly body: string;
  readonly file?: AttachedFile;
  readonly postedBy: string;
  readonly postedAt: number;
}

export interface MaterialRef {
  readonly materialId: string;
}

export interface QuestionRecord {
  readonly questionId: string;
  readonly courseId: string;
  readonly askedBy: string;
  readonly text: string;
  readonly askedAt: number;
  readonly status: "pending" | "answered";
  readonly answer?: string;
  readonly answeredBy?: string;
  readonly answeredAt?: number;
}

export interface QuestionRef {
  readonly questionId: string;
}

export interface TutorExchangeRecord {
  readonly exchangeId: string;
  readonly userId: string;
  readonly courseId?: string;
  readonly materialId?: string;
  readonly model: string;
  readonly prompt: string;
  readonly answer: string;
  readonly at: number;
}

/** The first result of an idempotency key, returned again for any repeat. */
export interface IdempotencyRecord {
  readonly kind: LmsCommandKind;
  /** See `requestFingerprint`: a repeat with other content is a conflict, not a replay. */
  readonly fingerprint: string;
  readonly logIndex: number;
  readonly result: LmsResult;
}

/** Every collection with its record type. */
export interface LmsCollections {
  /** userId */
  users: UserRecord;
  /** username */
  usernames: UserRef;
  /** role/userId */
  roleMembers: UserRef;
  /** tokenId */
  revokedTokens: RevokedTokenRecord;
  /** courseId */
  courses: CourseRecord;
  /** courseId/userId */
  courseMembers: MembershipRecord;
  /** userId/courseId */
  userCourses: MembershipRecord;
  /** code */
  joinCodes: JoinCodeRecord;
  /** courseId/code */
  courseJoinCodes: CodeRef;
  /** assignmentId */
  assignments: AssignmentRecord;
  /** courseId/assignmentId */
  courseAssignments: AssignmentRef;
  /** uploadId */
  uploads: UploadRecord;
  /** uploadId/sequence (zero-padded) */
  uploadChunks: UploadChunkRecord;
  /** sha256 */
  files: FileRecord;
  /** sha256/userId */
  fileOwners: FileOwnerRecord;
  /** sha256/courseId/kind/refId */
  fileRefs: FileRefRecord;
  /** submissionId */
  submissions: SubmissionRecord;
  /** assignmentId/studentId/version (zero-padded) */
  submissionVersions: SubmissionRef;
  /** assignmentId/studentId */
  latestSubmissions: LatestSubmissionRecord;
  /** assignmentId/studentId */
  grades: GradeRecord;
  /** assignmentId/studentId/logIndex (zero-padded) */
  gradeHistory: GradeHistoryRecord;
  /** courseId/noteId */
  notes: FeedbackNoteRecord;
  /** materialId */
  materials: MaterialRecord;
  /** courseId/materialId */
  courseMaterials: MaterialRef;
  /** questionId */
  questions: QuestionRecord;
  /** courseId/questionId */
  courseQuestions: QuestionRef;
  /** userId/exchangeId */
  tutorExchanges: TutorExchangeRecord;
  /** generation (10 digits, idempotency-retention.ts)/userId (or "anonymous")/idempotencyKey */
  idempotency: IdempotencyRecord;
}

export type CollectionName = keyof LmsCollections;

/**
 * Every collection name, sorted in code-unit order: the order snapshots list them in, which is
 * also the embedded store's key order (no name is a prefix of another).
 */
export const collectionNames: readonly CollectionName[] = [
  "assignments",
  "courseAssignments",
  "courseJoinCodes",
  "courseMaterials",
  "courseMembers",
  "courseQuestions",
  "courses",
  "fileOwners",
  "fileRefs",
  "files",
  "gradeHistory",
  "grades",
  "idempotency",
  "joinCodes",
  "latestSubmissions",
  "materials",
  "notes",
  "questions",
  "revokedTokens",
  "roleMembers",
  "submissionVersions",
  "submissions",
  "tutorExchanges",
  "uploadChunks",
  "uploads",
  "userCourses",
  "usernames",
  "users",
];

/** True when `name` is a collection. */
export function isCollectionName(name: unknown): name is CollectionName {
  return typeof name === "string" && (collectionNames as readonly string[]).includes(name);
}
