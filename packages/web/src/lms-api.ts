/**
 * What the web front asks of the LMS service, shaped like the RPCs of `proto/lms.proto` so that a
 * gRPC adapter is a thin translation: plain data in, plain data out, ids are strings, every time is
 * milliseconds since the Unix epoch (0 means "not set", as in the proto).
 *
 * Every call but `register`, `login` and `health` takes the caller's token (the service's JWT) first.
 * Every write takes an `idempotencyKey` (16 to 128 characters from [A-Za-z0-9_-]): a retry with the
 * same key, on any node, returns the first attempt's result and changes nothing more.
 *
 * List methods return whole lists: the adapter follows page tokens (up to a sane bound) so pages do
 * not have to. Failures are {@link ApiError}s.
 */

/** A signed-in user's role. */
export type Role = "student" | "instructor" | "admin";

export interface User {
  readonly id: string;
  /** 3 to 32 characters from [a-z0-9_.-], unique, case-insensitive. */
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
  readonly createdAtMs: number;
}

/** What a successful login gives: the service's JWT and who it belongs to. */
export interface Session {
  readonly token: string;
  readonly expiresAtMs: number;
  readonly user: User;
}

/** A stored file as clients see it; the name is for display and downloads only. */
export interface FileRef {
  readonly fileId: string;
  readonly name: string;
  readonly contentType: string;
  readonly sizeBytes: number;
  /** Lower-case hex SHA-256 of the content. */
  readonly sha256: string;
}

/**
 * A file the web front has spooled to a local temporary file and hashed. The adapter must have read
 * the whole file before its call settles: the caller deletes the file right afterwards.
 */
export interface SpooledFile {
  readonly path: string;
  readonly name: string;
  readonly contentType: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

export interface Course {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly instructorId: string;
  readonly createdAtMs: number;
  readonly studentCount: number;
}

export interface CourseDetail {
  readonly course: Course;
  readonly instructor: User;
}

export interface JoinCode {
  readonly code: string;
  readonly courseId: string;
  readonly createdAtMs: number;
  /** 0: never expires. */
  readonly expiresAtMs: number;
  /** 0: not revoked. */
  readonly revokedAtMs: number;
  readonly timesUsed: number;
}

export interface Assignment {
  readonly id: string;
  readonly courseId: string;
  readonly title: string;
  readonly description: string;
  /** 0: no due date. */
  readonly dueAtMs: number;
  readonly maxPoints: number;
  readonly createdAtMs: number;
  /** 0: grades hidden from students. */
  readonly gradesReleasedAtMs: number;
}

export interface Submission {
  readonly id: string;
  readonly assignmentId: string;
  readonly courseId: string;
  readonly studentId: string;
  /** 1 for the first attempt, then 2, 3, ... */
  readonly attempt: number;
  readonly text: string;
  readonly files: readonly FileRef[];
  readonly submittedAtMs: number;
  /** Submitted after the assignment's due date. */
  readonly late: boolean;
}

export interface Grade {
  readonly assignmentId: string;
  readonly courseId: string;
  readonly studentId: string;
  /** The graded attempt; empty when graded without a submission. */
  readonly submissionId: string;
  readonly points: number;
  readonly feedback: string;
  readonly gradedBy: string;
  readonly gradedAtMs: number;
  readonly released: boolean;
}

/** One change to a grade, keyed by the Raft log index that made it. */
export interface GradeChange {
  readonly logIndex: number;
  readonly assignmentId: string;
  readonly studentId: string;
  readonly changedBy: string;
  readonly changedAtMs: number;
  /** Absent on the first grade. */
  readonly oldPoints?: number;
  readonly newPoints: number;
  readonly oldFeedback: string;
  readonly newFeedback: string;
}

/** One assignment with work waiting for its instructor. */
export interface NeedsGradingItem {
  readonly courseId: string;
  readonly courseTitle: string;
  readonly assignmentId: string;
  readonly assignmentTitle: string;
  readonly dueAtMs: number;
  /** Students whose latest attempt has no grade, or a grade older than the attempt. */
  readonly ungradedCount: number;
  /** Of those, how many latest attempts were late. */
  readonly lateCount: number;
}

export interface Material {
  readonly id: string;
  readonly courseId: string;
  readonly title: string;
  readonly description: string;
  readonly file?: FileRef;
  readonly postedBy: string;
  readonly postedAtMs: number;
}

export type QuestionStatus = "pending" | "answered";

export interface Question {
  readonly id: string;
  readonly courseId: string;
  readonly askedBy: string;
  readonly text: string;
  readonly status: QuestionStatus;
  readonly askedAtMs: number;
  readonly answer: string;
  readonly answeredBy: string;
  readonly answeredAtMs: number;
}

/**
 * Everything the course page shows, for the caller's view, from one call (lms.proto GetCoursePage).
 * The owner-only and student-only lists are empty for the other kind of viewer.
 */
export interface CoursePage {
  readonly detail: CourseDetail;
  /** The caller's role in the course: its owning instructor (an admin who owns it too) or a student. */
  readonly viewerRole: "instructor" | "student";
  readonly assignments: readonly Assignment[];
  readonly materials: readonly Material[];
  /** The owner: every question. A student: their own. */
  readonly questions: readonly Question[];
  /** The owner: every note. A student: notes to them or to the whole course. */
  readonly feedback: readonly FeedbackNote[];
  /** Student: their latest attempt per assignment. */
  readonly mySubmissions: readonly Submission[];
  /** Student: their own released grades only. */
  readonly myGrades: readonly Grade[];
  /** Owner: every join code, revoked ones included. */
  readonly joinCodes: readonly JoinCode[];
  /** Owner: the enrolled students. */
  readonly students: readonly User[];
}

/**
 * Courses the dashboard inspects for its per-course lists; more are listed but not inspected.
 * The service applies the bound in GetDashboard: this is the same value as lms-service's
 * `maxDashboardCourses` (the contract test checks it), kept here so the web front's pages and the
 * fake need not load the service package.
 */
export const maxDashboardCourses = 20;

/**
 * Characters of each description the dashboard shows (lms.proto GetDashboardRequest
 * `max_description_chars`): a longer one is cut to one less, followed by "…". Many courses with
 * syllabus-length descriptions would otherwise make the answer, and the page, megabytes long.
 */
export const dashboardDescriptionChars = 280;

/**
 * A description as the dashboard shows it: whole when it has at most `maxChars` characters (code
 * points), else its first `maxChars` - 1 and "…"; 0 means no bound. The service cuts by the same rule
 * (lms-service `descriptionExcerpt`; a web test checks the two agree); kept here so the fake and
 * the pages need not load the service package.
 */
export function dashboardExcerpt(text: string, maxChars: number = dashboardDescriptionChars): string {
  if (maxChars === 0 || text.length <= maxChars) return text;
  const characters = Array.from(text);
  return characters.length <= maxChars ? text : `${characters.slice(0, maxChars - 1).join("")}\u2026`;
}

/**
 * What the dashboard shows, from one call (lms.proto GetDashboard). Only the first
 * {@link maxDashboardCourses} courses are inspected for the to-do list and the pending questions;
 * every course and assignment description is cut as {@link dashboardExcerpt} says.
 */
export interface DashboardData {
  /** Student: enrolled courses. Instructor: owned courses. Admin: every course. */
  readonly courses: readonly Course[];
  /** Student: assignments with no attempt of theirs, course by course in `courses` order. */
  readonly unsubmitted: readonly Assignment[];
  /** Instructor: every owned course's assignments with ungraded latest attempts. */
  readonly needsGrading: readonly NeedsGradingItem[];
  /** Instructor: pending questions per inspected owned course, 0 included. */
  readonly pendingQuestions: ReadonlyArray<{ readonly courseId: string; readonly count: number }>;
}

/** A general feedback note from a course's instructor, to one student or to the whole course. */
export interface FeedbackNote {
  readonly id: string;
  readonly courseId: string;
  /** Empty: addressed to the whole course. */
  readonly studentId: string;
  readonly authorId: string;
  readonly text: string;
  readonly createdAtMs: number;
}

/** One finished question to the AI tutor and its answer, as recorded by the service. */
export interface TutorExchange {
  readonly id: string;
  readonly userId: string;
  /** Empty when the question was not about a course material. */
  readonly courseId: string;
  readonly materialId: string;
  readonly question: string;
  readonly answer: string;
  readonly model: string;
  readonly askedAtMs: number;
  readonly finishedAtMs: number;
}

/** Bytes that arrive in order, with what they are. */
export interface ByteStream {
  readonly chunks: AsyncIterable<Uint8Array>;
}

export interface FileDownload extends ByteStream {
  readonly file: FileRef;
}

export interface CsvExport extends ByteStream {
  /** A suggested download name such as `grades-<course id>.csv`. */
  readonly fileName: string;
}

export type NodeRole = "follower" | "pre-candidate" | "candidate" | "leader" | "unknown";
export type MembershipKind = "voter" | "outgoing-voter" | "learner" | "unknown";

/** One cluster member as the web front sees it: its own view when reachable, else what others say. */
export interface ClusterNodeStatus {
  readonly nodeId: string;
  readonly address: string;
  readonly kind: MembershipKind;
  /** Whether the web front got an answer from this node just now. */
  readonly reachable: boolean;
  /** Why the node did not answer, when it did not. */
  readonly error?: string;
  readonly role: NodeRole;
  readonly term: number;
  readonly leaderId: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  /** Milliseconds since the leader last heard from this node (0 for the leader itself or unknown). */
  readonly lastContactMsAgo: number;
  /** The leader's replication progress for this node (0 when unknown). */
  readonly matchIndex: number;
}

export interface ClusterStatus {
  readonly clusterId: string;
  /** The leader most nodes agree on; empty when there is none. */
  readonly leaderId: string;
  readonly nodes: readonly ClusterNodeStatus[];
  readonly observedAtMs: number;
}

/** One thing the web front depends on and whether it answered (see `renderHealth`). */
export interface ServiceHealth {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/** Fields every write carries. */
export interface WriteInput {
  readonly idempotencyKey: string;
}

/** The LMS client API the web front is built on. */
export interface LmsApi {
  // Accounts and sessions
  register(input: WriteInput & { username: string; password: string; displayName: string }): Promise<User>;
  login(input: { username: string; password: string }): Promise<Session>;
  logout(token: string, input: WriteInput): Promise<void>;
  whoAmI(token: string): Promise<User>;
  /** Admin: creates an instructor (or admin) account. */
  createUser(
    token: string,
    input: WriteInput & { username: string; password: string; displayName: string; role: "instructor" | "admin" },
  ): Promise<User>;
  /** Instructor: students of their courses (or of one). Admin: every student. */
  listStudents(token: string, input: { courseId?: string }): Promise<User[]>;
  listInstructors(token: string): Promise<User[]>;

  // Courses, join codes and enrolment
  createCourse(token: string, input: WriteInput & { title: string; description: string }): Promise<Course>;
  /** Student: enrolled courses. Instructor: owned courses. Admin: every course. */
  listCourses(token: string): Promise<Course[]>;
  getCourse(token: string, input: { courseId: string }): Promise<CourseDetail>;
  /**
   * Enrolled student or owning instructor: everything the course page shows, in one call. Refused
   * as `listAssignments` would be (NOT_FOUND for a course the caller may not know about).
   */
  getCoursePage(token: string, input: { courseId: string }): Promise<CoursePage>;
  /** Any signed-in user: the dashboard's courses and what needs their attention, in one call. */
  getDashboard(token: string): Promise<DashboardData>;
  createJoinCode(token: string, input: WriteInput & { courseId: string; expiresAtMs: number }): Promise<JoinCode>;
  revokeJoinCode(token: string, input: WriteInput & { courseId: string; code: string }): Promise<JoinCode>;
  listJoinCodes(token: string, input: { courseId: string }): Promise<JoinCode[]>;
  joinCourse(token: string, input: WriteInput & { code: string }): Promise<Course>;
  enrolStudent(token: string, input: WriteInput & { courseId: string; username: string }): Promise<User>;

  // Materials and questions
  postMaterial(
    token: string,
    input: WriteInput & { courseId: string; title: string; description: string; file?: SpooledFile },
  ): Promise<Material>;
  listMaterials(token: string, input: { courseId: string }): Promise<Material[]>;
  askQuestion(token: string, input: WriteInput & { courseId: string; text: string }): Promise<Question>;
  answerQuestion(token: string, input: WriteInput & { questionId: string; answer: string }): Promise<Question>;
  /** Owning instructor: removes a material from the course listing. */
  deleteMaterial(token: string, input: WriteInput & { materialId: string }): Promise<void>;
  /** Owning instructor: a note to one enrolled student, or to the whole course when `studentId` is empty. */
  postFeedback(
    token: string,
    input: WriteInput & { courseId: string; studentId?: string; text: string },
  ): Promise<FeedbackNote>;
  /**
   * Student: notes addressed to them or to the whole course. Owning instructor: every note of the
   * course (or those for one student, course-wide ones included).
   */
  listFeedback(token: string, input: { courseId: string; studentId?: string }): Promise<FeedbackNote[]>;
  /** Student: their own questions. Owning instructor: every question of the course. */
  listQuestions(token: string, input: { courseId: string; status?: QuestionStatus }): Promise<Question[]>;

  // Assignments, submissions and grades
  createAssignment(
    token: string,
    input: WriteInput & { courseId: string; title: string; description: string; dueAtMs: number; maxPoints: number },
  ): Promise<Assignment>;
  listAssignments(token: string, input: { courseId: string }): Promise<Assignment[]>;
  getAssignment(token: string, input: { assignmentId: string }): Promise<Assignment>;
  /**
   * Enrolled student: submits text and/or one spooled file (the adapter uploads it first, deriving
   * the upload's key from `idempotencyKey`, then submits).
   */
  submit(
    token: string,
    input: WriteInput & { assignmentId: string; text: string; file?: SpooledFile },
  ): Promise<Submission>;
  /**
   * Student: their own submissions. Owning instructor: every student's. One of `courseId` and
   * `assignmentId` is needed; without `includeAllAttempts` only each student's latest attempt.
   */
  listSubmissions(
    token: string,
    input: { courseId?: string; assignmentId?: string; studentId?: string; includeAllAttempts?: boolean },
  ): Promise<Submission[]>;
  /** The submitting student (no `studentId`) or the owning instructor: attempts, oldest first. */
  getSubmissionHistory(token: string, input: { assignmentId: string; studentId?: string }): Promise<Submission[]>;
  gradeSubmission(
    token: string,
    input: WriteInput & {
      assignmentId: string;
      studentId: string;
      submissionId?: string;
      points: number;
      feedback: string;
    },
  ): Promise<Grade>;
  setGradesReleased(
    token: string,
    input: WriteInput & { assignmentId: string; released: boolean },
  ): Promise<Assignment>;
  /** Student: their own released grades only. Owning instructor: every grade. */
  listGrades(token: string, input: { courseId: string; assignmentId?: string; studentId?: string }): Promise<Grade[]>;
  /** Owning instructor: every change, oldest first. */
  getGradeHistory(
    token: string,
    input: { courseId: string; assignmentId?: string; studentId?: string },
  ): Promise<GradeChange[]>;
  /**
   * Instructor: assignments with ungraded latest attempts, in their courses (or one course). A
   * caller that has just listed the instructor's courses passes them as `courses` so they are not
   * read again (for the titles); the queue is then that of those courses only.
   */
  listNeedsGrading(
    token: string,
    input: { courseId?: string; courses?: readonly Course[] },
  ): Promise<NeedsGradingItem[]>;
  /** Owning instructor: the course's grades as CSV, formula-looking cells neutralised. */
  exportGradesCsv(token: string, input: { courseId: string }): Promise<CsvExport>;

  // Files
  downloadFile(token: string, input: { fileId: string }): Promise<FileDownload>;

  // AI tutor
  /**
   * Any signed-in user: the answer piece by piece. When the model server is down the iterable
   * throws an `ApiError` with code UNAVAILABLE and detail TUTOR_UNAVAILABLE (possibly before the
   * first piece).
   */
  askTutor(token: string, input: WriteInput & { question: string; materialId?: string }): AsyncIterable<string>;
  /** Any signed-in user: their own past exchanges, in the order the service keeps them. */
  listTutorExchanges(token: string): Promise<TutorExchange[]>;

  // Cluster
  /** Admin: every member's state, asked of every node the adapter knows. */
  getClusterStatus(token: string): Promise<ClusterStatus>;
  addMember(token: string, input: WriteInput & { nodeId: string; address: string; asLearner: boolean }): Promise<void>;
  promoteMember(token: string, input: WriteInput & { nodeId: string }): Promise<void>;
  removeMember(token: string, input: WriteInput & { nodeId: string }): Promise<void>;
  /**
   * Admin: asks the leader to hand leadership to the voter `targetNodeId` (Raft thesis §3.10) and
   * waits for the outcome: the leader the cluster has afterwards.
   */
  transferLeadership(token: string, input: WriteInput & { targetNodeId: string }): Promise<{ leaderId: string }>;
  /** Anyone: whether each node answers (for the web front's health endpoint). */
  health(): Promise<ServiceHealth[]>;
}

/** The gRPC status codes the web front tells apart. */
export type ApiErrorCode =
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "NOT_FOUND"
  | "INVALID_ARGUMENT"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "UNAVAILABLE"
  | "RESOURCE_EXHAUSTED";

/** Every {@link ApiErrorCode}, for checks on untrusted values. */
export const apiErrorCodes: readonly ApiErrorCode[] = [
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "NOT_FOUND",
  "INVALID_ARGUMENT",
  "ALREADY_EXISTS",
  "FAILED_PRECONDITION",
  "UNAVAILABLE",
  "RESOURCE_EXHAUSTED",
];

/**
 * A failed LMS call. `message` is written for a person and shown to the user (escaped); `detail`
 * is the service's stable `lectern-error` code when it sent one (e.g. TUTOR_UNAVAILABLE,
 * FILE_TOO_LARGE, RATE_LIMITED).
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/**
 * Whether `error` is an {@link ApiError}, also across copies of this module (where `instanceof`
 * fails): it checks the name and the code.
 */
export function isApiError(error: unknown): error is ApiError {
  if (typeof error !== "object" || error === null) return false;
  const candidate = error as { name?: unknown; code?: unknown };
  return candidate.name === "ApiError" && apiErrorCodes.includes(candidate.code as ApiErrorCode);
}
