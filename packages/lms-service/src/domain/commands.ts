/**
 * Every LMS write, as one discriminated union on `kind`. A command is what enters the Raft log:
 * the accepting node fills the {@link CommandStamp} (the actor from the verified JWT, the time and
 * every new id), so applying it on any node, at any time, gives the same state and result.
 * Nothing in apply generates an id, reads a clock or draws a random number.
 */

/** The three roles; a user has exactly one. */
export type Role = "student" | "instructor" | "admin";

/** Who sends a command: taken from the verified JWT by the accepting node, never from the client body. */
export interface Actor {
  readonly userId: string;
  /** The role the token claims; apply trusts the stored user's role instead (a token may be stale). */
  readonly role: Role;
}

/** Fields every command carries. */
export interface CommandStamp {
  /** `null` only for the anonymous commands: registerStudent and bootstrapAdmin. */
  readonly actor: Actor | null;
  /**
   * Chosen by the client and kept across retries: a key seen before (for the same actor) returns
   * the first result instead of applying again.
   */
  readonly idempotencyKey: string;
  /** Milliseconds since the epoch, stamped by the accepting node (the leader keeps it monotonic). */
  readonly at: number;
}

/** A new account; the password is already scrypt-hashed by the node (no secret enters the log). */
interface NewAccount {
  /** Stamped by the node. */
  readonly userId: string;
  /** Lower case; unique across all users (decided in apply). */
  readonly username: string;
  readonly displayName: string;
  /** Stamped by the node: scrypt output with its parameters and salt. */
  readonly passwordHash: string;
}

export interface RegisterStudent extends CommandStamp, NewAccount {
  readonly kind: "registerStudent";
}
export interface CreateInstructor extends CommandStamp, NewAccount {
  readonly kind: "createInstructor";
}
/** An admin creates another admin (the first one comes from bootstrapAdmin). */
export interface CreateAdmin extends CommandStamp, NewAccount {
  readonly kind: "createAdmin";
}
/** Creates the first admin; refused once any admin exists. */
export interface BootstrapAdmin extends CommandStamp, NewAccount {
  readonly kind: "bootstrapAdmin";
}
/** Logout: the token's `jti` is refused by every node until `expiresAt`. */
export interface RevokeToken extends CommandStamp {
  readonly kind: "revokeToken";
  readonly tokenId: string;
  readonly expiresAt: number;
}

export interface CreateCourse extends CommandStamp {
  readonly kind: "createCourse";
  /** Stamped by the node. */
  readonly courseId: string;
  readonly title: string;
  readonly description: string;
  /**
   * Admins only: the instructor who will own the course (checked in apply). Absent: the actor
   * owns it, as in log entries written before admins could create courses for others.
   */
  readonly ownerId?: string;
}
export interface CreateJoinCode extends CommandStamp {
  readonly kind: "createJoinCode";
  readonly courseId: string;
  /** Stamped by the node (random upper-case letters and digits); uniqueness is decided in apply. */
  readonly code: string;
  /** Optional expiry in ms since the epoch. */
  readonly expiresAt?: number;
}
export interface RevokeJoinCode extends CommandStamp {
  readonly kind: "revokeJoinCode";
  readonly code: string;
}
export interface JoinByCode extends CommandStamp {
  readonly kind: "joinByCode";
  readonly code: string;
}
export interface EnrolStudent extends CommandStamp {
  readonly kind: "enrolStudent";
  readonly courseId: string;
  readonly studentId: string;
}
/** The owner removes a student from the course; their submissions and grades are kept. */
export interface UnenrolStudent extends CommandStamp {
  readonly kind: "unenrolStudent";
  readonly courseId: string;
  readonly studentId: string;
}

export interface CreateAssignment extends CommandStamp {
  readonly kind: "createAssignment";
  /** Stamped by the node. */
  readonly assignmentId: string;
  readonly courseId: string;
  readonly title: string;
  readonly description: string;
  readonly dueAt: number;
  /** A positive integer. */
  readonly maxPoints: number;
}
/**
 * The course owner changes an assignment; an absent field keeps its value and at least one must be
 * present. Submissions keep the late flag decided when they were made, and `maxPoints` may not
 * drop below a grade already given (both decided in apply; see the handler).
 */
export interface UpdateAssignment extends CommandStamp {
  readonly kind: "updateAssignment";
  readonly assignmentId: string;
  readonly title?: string;
  readonly description?: string;
  readonly dueAt?: number;
  /** A positive integer, like CreateAssignment's. */
  readonly maxPoints?: number;
}

/** Opens an upload owned by the actor; its chunks follow, then a commit. */
export interface StartUpload extends CommandStamp {
  readonly kind: "startUpload";
  /** Stamped by the node. */
  readonly uploadId: string;
}
/** One piece of an upload at `offset` (must equal the bytes received so far). */
export interface AppendUploadChunk extends CommandStamp {
  readonly kind: "appendUploadChunk";
  readonly uploadId: string;
  readonly offset: number;
  /** Base64 (canonical, padded) of at most `maxUploadChunkBytes` bytes. */
  readonly data: string;
}
/**
 * Seals an upload: the chunks must add up to `size` and hash to `sha256`; the file is then stored
 * under its hash. `name` and `mime` are display metadata only and never reach a path.
 */
export interface CommitUpload extends CommandStamp {
  readonly kind: "commitUpload";
  readonly uploadId: string;
  readonly sha256: string;
  readonly size: number;
  readonly name: string;
  readonly mime: string;
}
export interface AbortUpload extends CommandStamp {
  readonly kind: "abortUpload";
  readonly uploadId: string;
}

/** A (re)submission: every submission is kept; the latest one counts. */
export interface Submit extends CommandStamp {
  readonly kind: "submit";
  /** Stamped by the node. */
  readonly submissionId: string;
  readonly assignmentId: string;
  /**
   * SHA-256 hex of files the actor uploaded; 0 to `maxFilesPerSubmission`, no repeats. With no
   * file the comment must hold some text (the handler refuses an empty submission).
   */
  readonly fileHashes: readonly string[];
  readonly comment: string;
}
export interface Grade extends CommandStamp {
  readonly kind: "grade";
  readonly assignmentId: string;
  readonly studentId: string;
  /** 0..maxPoints, at most two decimals. */
  readonly points: number;
  readonly feedback: string;
}
/** Makes an assignment's grades visible to its students, or (`released: false`) hides them again. */
export interface ReleaseGrades extends CommandStamp {
  readonly kind: "releaseGrades";
  readonly assignmentId: string;
  /** Absent means true, as in log entries written before grades could be hidden again. */
  readonly released?: boolean;
}
/** A note from an instructor to one student of the course, or to all of them. */
export interface PostFeedbackNote extends CommandStamp {
  readonly kind: "postFeedbackNote";
  /** Stamped by the node. */
  readonly noteId: string;
  readonly courseId: string;
  /** Omitted: the note is for every student of the course. */
  readonly studentId?: string;
  readonly text: string;
}
export interface PostMaterial extends CommandStamp {
  readonly kind: "postMaterial";
  /** Stamped by the node. */
  readonly materialId: string;
  readonly courseId: string;
  readonly title: string;
  readonly body: string;
  /** A file the actor uploaded, if any. */
  readonly fileHash?: string;
}
/** The owner removes a material from the course (and with it the course's reference to its file). */
export interface DeleteMaterial extends CommandStamp {
  readonly kind: "deleteMaterial";
  readonly materialId: string;
}
export interface AskQuestion extends CommandStamp {
  readonly kind: "askQuestion";
  /** Stamped by the node. */
  readonly questionId: string;
  readonly courseId: string;
  readonly text: string;
}
export interface AnswerQuestion extends CommandStamp {
  readonly kind: "answerQuestion";
  readonly questionId: string;
  readonly text: string;
}
/** A finished AI tutor exchange, kept for the asking user. */
export interface RecordTutorExchange extends CommandStamp {
  readonly kind: "recordTutorExchange";
  /** Stamped by the node. */
  readonly exchangeId: string;
  readonly courseId?: string;
  readonly materialId?: string;
  readonly model: string;
  readonly prompt: string;
  readonly answer: string;
}

/** Every LMS write. */
export type LmsCommand =
  | RegisterStudent
  | CreateInstructor
  | CreateAdmin
  | BootstrapAdmin
  | RevokeToken
  | CreateCourse
  | CreateJoinCode
  | RevokeJoinCode
  | JoinByCode
  | EnrolStudent
  | UnenrolStudent
  | CreateAssignment
  | UpdateAssignment
  | StartUpload
  | AppendUploadChunk
  | CommitUpload
  | AbortUpload
  | Submit
  | Grade
  | ReleaseGrades
  | PostFeedbackNote
  | PostMaterial
  | DeleteMaterial
  | AskQuestion
  | AnswerQuestion
  | RecordTutorExchange;

export type LmsCommandKind = LmsCommand["kind"];

/** The command of one kind. */
export type CommandOf<K extends LmsCommandKind> = Extract<LmsCommand, { kind: K }>;
