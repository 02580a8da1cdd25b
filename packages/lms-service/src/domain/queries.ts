import type { FileStore } from "../store/file-store.js";
import type { Keyed, LmsReader } from "../store/lms-store.js";
import { isRejection } from "./apply-context.js";
import { isCourseMember, isEnrolledStudent, mayKnowCourse, noCourse, ownedCourse } from "./authorization.js";
import type { Actor, Role } from "./commands.js";
import { toCsv } from "./csv.js";
import { key, prefix } from "./keys.js";
import type {
  AssignmentRecord,
  AttachedFile,
  CollectionName,
  CourseRecord,
  FeedbackNoteRecord,
  GradeHistoryRecord,
  GradeRecord,
  JoinCodeRecord,
  MaterialRecord,
  MembershipRecord,
  QuestionRecord,
  SubmissionRecord,
  TutorExchangeRecord,
  UserRecord,
} from "./records.js";
import { forbidden, notFound, type Rejection } from "./results.js";

/**
 * Reads of the LMS with the same authorisation as apply (authorization.ts). Every function takes
 * the actor from the verified JWT; the stored user decides the role. Grades of an assignment whose
 * grades are not released are hidden from students on EVERY path here (course page, grades,
 * submissions, history). Every list is bounded by {@link maxQueryRecords}.
 */

/** Most records a query reads from one list. */
export const maxQueryRecords = 5000;
const pageRecords = 500;
/**
 * Courses the dashboard inspects for its per-course lists (lms.proto GetDashboardResponse); more
 * are listed but not inspected. The web front's `maxDashboardCourses` is this constant.
 */
export const maxDashboardCourses = 20;

export type QueryResult<T> = { readonly status: "ok"; readonly value: T } | Rejection;

function ok<T>(value: T): QueryResult<T> {
  return { status: "ok", value };
}

/** A user as others may see them (no password hash). */
export interface PublicUser {
  readonly userId: string;
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
}

/** What login needs: the stored scrypt hash, compared by the auth layer. */
export interface LoginRecord extends PublicUser {
  readonly passwordHash: string;
}

/** How a viewer sees a course: as its owner or student, or as an admin who is no member of it. */
export type CourseViewerRole = MembershipRecord["role"] | "admin";

export interface CourseSummary {
  readonly course: CourseRecord;
  readonly role: CourseViewerRole;
}

export interface CoursePage {
  readonly course: CourseRecord;
  readonly role: MembershipRecord["role"];
  readonly materials: readonly MaterialRecord[];
  readonly assignments: readonly AssignmentRecord[];
  readonly notes: readonly FeedbackNoteRecord[];
  /** Owner only. */
  readonly joinCodes?: readonly JoinCodeRecord[];
}

export interface SubmissionView {
  readonly submission: SubmissionRecord;
  /** The student's grade if the viewer may see it (instructor always, student once released). */
  readonly grade?: GradeRecord;
}

export interface GradingQueueItem {
  readonly assignmentId: string;
  readonly studentId: string;
  readonly submissionId: string;
  readonly submittedAt: number;
  readonly late: boolean;
}

export interface GradingQueue {
  readonly ungradedCount: number;
  readonly lateCount: number;
  /** Oldest submission first. */
  readonly items: readonly GradingQueueItem[];
}

/** One assignment of an owned course with latest attempts waiting for a grade. */
export interface AssignmentGradingCount {
  readonly assignment: AssignmentRecord;
  /** The title of the assignment's course. */
  readonly courseTitle: string;
  /** Latest attempts without a grade of that very attempt. */
  readonly ungraded: number;
  /** Of those, the late ones. */
  readonly late: number;
}

/** What the dashboard shows (lms.proto GetDashboardResponse); lists the role does not see are empty. */
export interface Dashboard {
  /** As {@link listMyCourses}. */
  readonly courses: readonly CourseSummary[];
  /** Student: assignments of the inspected courses without an attempt of theirs, course by course. */
  readonly unsubmitted: readonly AssignmentRecord[];
  /** Instructor: per owned course, the assignments with ungraded latest attempts. */
  readonly needsGrading: readonly AssignmentGradingCount[];
  /** Instructor: pending questions per inspected owned course (0 included). */
  readonly pendingQuestions: ReadonlyArray<{ readonly courseId: string; readonly pending: number }>;
}

/** Every record under `prefix`, page by page, up to {@link maxQueryRecords}. */
async function listAll<C extends CollectionName>(
  reader: LmsReader,
  collection: C,
  keyPrefix: string,
): Promise<Keyed<C>[]> {
  const all: Keyed<C>[] = [];
  let startAfter: string | undefined;
  while (all.length < maxQueryRecords) {
    const page = await reader.list(collection, keyPrefix, {
      startAfter,
      limit: Math.min(pageRecords, maxQueryRecords - all.length),
    });
    all.push(...page);
    if (page.length < pageRecords) break;
    startAfter = page[page.length - 1].key;
  }
  return all;
}

/** The stored user behind a token's actor, or forbidden (deleted or unknown account). */
async function storedActor(reader: LmsReader, actor: Actor): Promise<UserRecord | Rejection> {
  const user = await reader.get("users", actor.userId);
  return user ?? forbidden("your account does not exist; sign in again");
}

function publicUser(user: UserRecord): PublicUser {
  return { userId: user.userId, username: user.username, displayName: user.displayName, role: user.role };
}

function isReleased(assignment: AssignmentRecord): boolean {
  return assignment.gradesReleasedAt !== undefined;
}

/** The grade `viewer` may see: the course owner always, the graded student once released. */
function visibleGrade(
  viewer: UserRecord,
  course: CourseRecord,
  assignment: AssignmentRecord,
  grade: GradeRecord | undefined,
) {
  if (grade === undefined) return undefined;
  if (viewer.userId === course.ownerId) return grade;
  if (viewer.userId === grade.studentId && isReleased(assignment)) return grade;
  return undefined;
}

/** For login: the user with this (lower-case) username, with the password hash. */
export async function getUserForLogin(reader: LmsReader, username: string): Promise<LoginRecord | undefined> {
  const ref = await reader.get("usernames", username);
  const user = ref === undefined ? undefined : await reader.get("users", ref.userId);
  return user === undefined ? undefined : { ...publicUser(user), passwordHash: user.passwordHash };
}

/** A user's public profile. */
export async function getUser(reader: LmsReader, userId: string): Promise<PublicUser | undefined> {
  const user = await reader.get("users", userId);
  return user === undefined ? undefined : publicUser(user);
}

/** True when a token id was revoked by logout (the auth layer checks it on every call). */
export async function isTokenRevoked(reader: LmsReader, tokenId: string): Promise<boolean> {
  return (await reader.get("revokedTokens", tokenId)) !== undefined;
}

/**
 * The courses the actor owns or is enrolled in; for an admin every course (lms.proto ListCourses),
 * with the admin's own membership role where they have one.
 */
export async function listMyCourses(reader: LmsReader, actor: Actor): Promise<QueryResult<CourseSummary[]>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  return ok(await coursesOf(reader, user));
}

async function coursesOf(reader: LmsReader, user: UserRecord): Promise<CourseSummary[]> {
  if (user.role === "admin") return everyCourse(reader, user);
  const memberships = await listAll(reader, "userCourses", prefix(user.userId));
  const summaries: CourseSummary[] = [];
  for (const { value } of memberships) {
    const course = await reader.get("courses", value.courseId);
    if (course !== undefined) summaries.push({ course, role: value.role });
  }
  return summaries;
}

async function everyCourse(reader: LmsReader, admin: UserRecord): Promise<CourseSummary[]> {
  const summaries: CourseSummary[] = [];
  for (const { value: course } of await listAll(reader, "courses", "")) {
    const membership = await membershipOf(reader, admin, course.courseId);
    summaries.push({ course, role: membership?.role ?? "admin" });
  }
  return summaries;
}

async function membershipOf(reader: LmsReader, user: UserRecord, courseId: string) {
  return reader.get("courseMembers", key(courseId, user.userId));
}

/** For an existing course `user` is no member of: forbidden if they may know it, else not-found. */
async function notMember(reader: LmsReader, user: UserRecord, courseId: string): Promise<Rejection> {
  return (await mayKnowCourse(reader, user, courseId))
    ? forbidden("you are not a member of this course")
    : noCourse(courseId);
}

/** For an assignment of a course `user` is no member of: as {@link notMember}, naming the assignment. */
async function hiddenAssignment(reader: LmsReader, user: UserRecord, assignment: AssignmentRecord): Promise<Rejection> {
  return (await mayKnowCourse(reader, user, assignment.courseId))
    ? forbidden("you are not a member of this course")
    : notFound(`no assignment ${assignment.assignmentId}`);
}

/**
 * The course itself and the actor's role in it, with the course page's authorisation (its owner or
 * an enrolled member) but none of its lists: what a caller needs who shows only the course.
 */
export async function getCourseSummary(
  reader: LmsReader,
  actor: Actor,
  courseId: string,
): Promise<QueryResult<CourseSummary>> {
  const member = await courseMember(reader, actor, courseId);
  if (isRejection(member)) return member;
  return ok({ course: member.course, role: member.membership.role });
}

/**
 * The course record for GetCourse: its members and, as lms.proto documents, any admin (who sees it
 * with role "admin" unless they are a member). Reads of what is inside a course stay members-only.
 */
export async function getCourse(
  reader: LmsReader,
  actor: Actor,
  courseId: string,
): Promise<QueryResult<CourseSummary>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const course = await reader.get("courses", courseId);
  // Whoever may know the course exists may read its record: its members and any admin.
  if (course === undefined || !(await mayKnowCourse(reader, user, courseId))) return noCourse(courseId);
  const membership = await membershipOf(reader, user, courseId);
  return ok({ course, role: membership?.role ?? "admin" });
}

/** The course, the stored actor and their membership: the authorisation every course read shares. */
async function courseMember(reader: LmsReader, actor: Actor, courseId: string) {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const course = await reader.get("courses", courseId);
  if (course === undefined) return noCourse(courseId);
  const membership = await membershipOf(reader, user, courseId);
  if (membership === undefined) return notMember(reader, user, courseId);
  return { user, course, membership };
}

/**
 * The course page: materials, assignments and the notes meant for the caller, and for the owner the
 * join codes. A student's own attempts and grades, and the owner's grading counts, come from their
 * own queries (listSubmissions, listGrades, getDashboard), so a caller that only needs the lists
 * (ListAssignments, ListMaterials, ListFeedback, ListJoinCodes) does not read them.
 */
export async function getCoursePage(
  reader: LmsReader,
  actor: Actor,
  courseId: string,
): Promise<QueryResult<CoursePage>> {
  const member = await courseMember(reader, actor, courseId);
  if (isRejection(member)) return member;
  const { user, course, membership } = member;
  const isOwner = course.ownerId === user.userId;
  const materials = await recordsByRef(reader, "courseMaterials", courseId, (ref) =>
    reader.get("materials", ref.value.materialId),
  );
  const assignments = await courseAssignments(reader, courseId);
  const notes = (await listAll(reader, "notes", prefix(courseId)))
    .map((entry) => entry.value)
    .filter((note) => isOwner || note.studentId === undefined || note.studentId === user.userId);
  const page: CoursePage = { course, role: membership.role, materials, assignments, notes };
  if (!isOwner) return ok(page);
  const joinCodes = await recordsByRef(reader, "courseJoinCodes", courseId, (ref) =>
    reader.get("joinCodes", ref.value.code),
  );
  return ok({ ...page, joinCodes });
}

async function recordsByRef<C extends "courseMaterials" | "courseAssignments" | "courseJoinCodes", T>(
  reader: LmsReader,
  collection: C,
  courseId: string,
  load: (ref: Keyed<C>) => Promise<T | undefined>,
): Promise<T[]> {
  const records: T[] = [];
  for (const ref of await listAll(reader, collection, prefix(courseId))) {
    const record = await load(ref);
    if (record !== undefined) records.push(record);
  }
  return records;
}

/** The course's assignments, in course order. */
function courseAssignments(reader: LmsReader, courseId: string): Promise<AssignmentRecord[]> {
  return recordsByRef(reader, "courseAssignments", courseId, (ref) =>
    reader.get("assignments", ref.value.assignmentId),
  );
}

/** The user's latest attempt at the assignment, if any: what "submitted" means everywhere. */
function latestAttemptOf(reader: LmsReader, assignment: AssignmentRecord, user: UserRecord) {
  return reader.get("latestSubmissions", key(assignment.assignmentId, user.userId));
}

/**
 * Submissions of an assignment: for the course owner every version of every student, for a
 * student only their own versions. Oldest first.
 */
export async function listSubmissions(
  reader: LmsReader,
  actor: Actor,
  assignmentId: string,
): Promise<QueryResult<SubmissionView[]>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const assignment = await reader.get("assignments", assignmentId);
  if (assignment === undefined) return notFound(`no assignment ${assignmentId}`);
  const course = await reader.get("courses", assignment.courseId);
  if (course === undefined) return notFound(`no assignment ${assignmentId}`);
  const isOwner = course.ownerId === user.userId;
  if (!isOwner && !(await isEnrolledStudent(reader, course.courseId, user.userId))) {
    return hiddenAssignment(reader, user, assignment);
  }
  // A student's prefix holds only their own rows: another student's work is never even read.
  const refs = await listAll(
    reader,
    "submissionVersions",
    isOwner ? prefix(assignmentId) : prefix(assignmentId, user.userId),
  );
  const views: SubmissionView[] = [];
  for (const ref of refs) {
    const submission = await reader.get("submissions", ref.value.submissionId);
    if (submission === undefined) continue;
    const grade = visibleGrade(
      user,
      course,
      assignment,
      await reader.get("grades", key(assignmentId, submission.studentId)),
    );
    views.push(grade === undefined ? { submission } : { submission, grade });
  }
  return ok(views);
}

/** Grades in a course: the owner sees all; a student sees their own, released ones only. */
export async function listGrades(
  reader: LmsReader,
  actor: Actor,
  courseId: string,
): Promise<QueryResult<GradeRecord[]>> {
  const member = await courseMember(reader, actor, courseId);
  if (isRejection(member)) return member;
  const { user, course } = member;
  const grades: GradeRecord[] = [];
  for (const assignment of await courseAssignments(reader, courseId)) {
    const candidates =
      course.ownerId === user.userId
        ? (await listAll(reader, "grades", prefix(assignment.assignmentId))).map((entry) => entry.value)
        : [await reader.get("grades", key(assignment.assignmentId, user.userId))];
    for (const candidate of candidates) {
      const grade = visibleGrade(user, course, assignment, candidate);
      if (grade !== undefined) grades.push(grade);
    }
  }
  return ok(grades);
}

/** Every change of one grade (oldest first): the owner, or the student once released. */
export async function getGradeHistory(
  reader: LmsReader,
  actor: Actor,
  assignmentId: string,
  studentId: string,
): Promise<QueryResult<GradeHistoryRecord[]>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const assignment = await reader.get("assignments", assignmentId);
  if (assignment === undefined) return notFound(`no assignment ${assignmentId}`);
  const course = await reader.get("courses", assignment.courseId);
  if (course === undefined) return notFound(`no assignment ${assignmentId}`);
  if (course.ownerId !== user.userId) {
    if (!(await isCourseMember(reader, user, course.courseId))) return hiddenAssignment(reader, user, assignment);
    if (user.userId !== studentId) return forbidden("a student sees only their own grade history");
    // An unreleased grade is hidden on every read path: its history does not exist for the student yet.
    if (!isReleased(assignment)) return notFound("no released grade for this assignment yet");
  }
  const rows = await listAll(reader, "gradeHistory", prefix(assignmentId, studentId));
  return ok(rows.map((row) => row.value));
}

/** The owner's queue: latest submissions without a grade (oldest first), with ungraded and late counts. */
export async function needsGrading(
  reader: LmsReader,
  actor: Actor,
  courseId: string,
): Promise<QueryResult<GradingQueue>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const course = await ownedCourse(reader, user, courseId);
  if (isRejection(course)) return course;
  const items = (await ungradedByAssignment(reader, courseId)).flatMap((entry) => entry.items);
  const lateCount = items.filter((item) => item.late).length;
  items.sort((a, b) => a.submittedAt - b.submittedAt || (a.submissionId < b.submissionId ? -1 : 1));
  return ok({ ungradedCount: items.length, lateCount, items });
}

/**
 * Every assignment of the course (in course order) with its latest attempts that wait for a
 * grade. The caller has checked that the actor owns the course.
 */
async function ungradedByAssignment(
  reader: LmsReader,
  courseId: string,
): Promise<{ readonly assignment: AssignmentRecord; readonly items: GradingQueueItem[] }[]> {
  const queue = [];
  for (const assignment of await courseAssignments(reader, courseId)) {
    const items: GradingQueueItem[] = [];
    for (const { key: entryKey, value } of await listAll(
      reader,
      "latestSubmissions",
      prefix(assignment.assignmentId),
    )) {
      const studentId = entryKey.slice(assignment.assignmentId.length + 1);
      const grade = await reader.get("grades", entryKey);
      // Graded before a resubmission still counts as needing grading: the new version is unseen.
      if (grade !== undefined && grade.submissionId === value.submissionId) continue;
      items.push({
        assignmentId: assignment.assignmentId,
        studentId,
        submissionId: value.submissionId,
        submittedAt: value.submittedAt,
        late: value.late,
      });
    }
    queue.push({ assignment, items });
  }
  return queue;
}

/**
 * The grading queue by assignment (lms.proto ListNeedsGrading): with `courseId` that course, which
 * the actor must own (refused as {@link listStudents} refuses); without, every course the actor
 * owns, in {@link listMyCourses} order (an admin's own courses only; a student is refused). The
 * counts are the dashboard's: one rule, {@link needsGrading}'s.
 */
export async function listNeedsGrading(
  reader: LmsReader,
  actor: Actor,
  courseId?: string,
): Promise<QueryResult<AssignmentGradingCount[]>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  if (courseId !== undefined) {
    const course = await ownedCourse(reader, user, courseId);
    if (isRejection(course)) return course;
    return ok(await gradingCounts(reader, [course]));
  }
  if (user.role === "student") return forbidden("a student has no grading queue: only a course's instructor grades");
  const owned = (await coursesOf(reader, user))
    .map((summary) => summary.course)
    .filter((course) => course.ownerId === user.userId);
  return ok(await gradingCounts(reader, owned));
}

/**
 * Course by course, each assignment (in course order) with latest attempts that wait for a grade,
 * and how many of those are late; assignments with none are left out. The caller has checked that
 * the actor owns every course.
 */
async function gradingCounts(reader: LmsReader, courses: readonly CourseRecord[]): Promise<AssignmentGradingCount[]> {
  const counts: AssignmentGradingCount[] = [];
  for (const course of courses) {
    for (const { assignment, items } of await ungradedByAssignment(reader, course.courseId)) {
      if (items.length === 0) continue;
      const late = items.filter((item) => item.late).length;
      counts.push({ assignment, courseTitle: course.title, ungraded: items.length, late });
    }
  }
  return counts;
}

/** Questions of a course: the owner sees all, a student their own. */
export async function listQuestions(
  reader: LmsReader,
  actor: Actor,
  courseId: string,
): Promise<QueryResult<QuestionRecord[]>> {
  const member = await courseMember(reader, actor, courseId);
  if (isRejection(member)) return member;
  return ok(await visibleQuestions(reader, member.user, member.course));
}

/** The course's questions `user` may see (a member: the caller checked it): all for the owner, else their own. */
async function visibleQuestions(reader: LmsReader, user: UserRecord, course: CourseRecord): Promise<QuestionRecord[]> {
  const questions: QuestionRecord[] = [];
  for (const ref of await listAll(reader, "courseQuestions", prefix(course.courseId))) {
    const question = await reader.get("questions", ref.value.questionId);
    if (question !== undefined && (course.ownerId === user.userId || question.askedBy === user.userId)) {
      questions.push(question);
    }
  }
  return questions;
}

/**
 * The dashboard (lms.proto GetDashboard): the actor's courses as {@link listMyCourses}, and by the
 * stored role: for a student the assignments they have not submitted in the first
 * {@link maxDashboardCourses} courses; for an instructor the needs-grading counts of every owned
 * course (the rule of {@link needsGrading}) and the pending questions of the first
 * {@link maxDashboardCourses} owned ones (the visibility of {@link listQuestions}); for an admin
 * only the courses.
 */
export async function getDashboard(reader: LmsReader, actor: Actor): Promise<QueryResult<Dashboard>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const courses = await coursesOf(reader, user);
  const inspected = courses.slice(0, maxDashboardCourses);
  const dashboard: Dashboard = { courses, unsubmitted: [], needsGrading: [], pendingQuestions: [] };
  if (user.role === "student") {
    const enrolled = inspected.filter((summary) => summary.role === "student");
    return ok({ ...dashboard, unsubmitted: await unsubmittedAssignments(reader, user, enrolled) });
  }
  if (user.role !== "instructor") return ok(dashboard);
  const owns = (summary: CourseSummary) => summary.course.ownerId === user.userId;
  const needsGrading = await gradingCounts(
    reader,
    courses.filter(owns).map((summary) => summary.course),
  );
  const pendingQuestions = [];
  for (const { course } of inspected.filter(owns)) {
    const questions = await visibleQuestions(reader, user, course);
    pendingQuestions.push({
      courseId: course.courseId,
      pending: questions.filter((question) => question.status === "pending").length,
    });
  }
  return ok({ ...dashboard, needsGrading, pendingQuestions });
}

/** The assignments of `courses` (the student's) that `student` has no attempt at, course by course. */
async function unsubmittedAssignments(
  reader: LmsReader,
  student: UserRecord,
  courses: readonly CourseSummary[],
): Promise<AssignmentRecord[]> {
  const unsubmitted: AssignmentRecord[] = [];
  for (const { course } of courses) {
    for (const assignment of await courseAssignments(reader, course.courseId)) {
      if ((await latestAttemptOf(reader, assignment, student)) === undefined) unsubmitted.push(assignment);
    }
  }
  return unsubmitted;
}

/**
 * Students: of one course for its owner, or every student for an admin (omit `courseId`).
 */
export async function listStudents(
  reader: LmsReader,
  actor: Actor,
  courseId?: string,
): Promise<QueryResult<PublicUser[]>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  if (courseId === undefined) {
    if (user.role !== "admin") return forbidden("only an admin may list every student");
    return ok(await usersWithRole(reader, "student"));
  }
  const course = await ownedCourse(reader, user, courseId);
  if (isRejection(course)) return course;
  const students: PublicUser[] = [];
  for (const { value } of await listAll(reader, "courseMembers", prefix(courseId))) {
    if (value.role !== "student") continue;
    const student = await reader.get("users", value.userId);
    if (student !== undefined) students.push(publicUser(student));
  }
  return ok(students);
}

/** Every instructor (names only): any signed-in user may see who teaches. */
export async function listInstructors(reader: LmsReader, actor: Actor): Promise<QueryResult<PublicUser[]>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  return ok(await usersWithRole(reader, "instructor"));
}

async function usersWithRole(reader: LmsReader, role: Role): Promise<PublicUser[]> {
  const users: PublicUser[] = [];
  for (const { value } of await listAll(reader, "roleMembers", prefix(role))) {
    const user = await reader.get("users", value.userId);
    if (user !== undefined) users.push(publicUser(user));
  }
  return users;
}

/**
 * The course's grades as CSV for its owner: one row per enrolled student and assignment, cells
 * neutralised against formula injection (csv.ts).
 */
export async function exportGradesCsv(reader: LmsReader, actor: Actor, courseId: string): Promise<QueryResult<string>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const course = await ownedCourse(reader, user, courseId);
  if (isRejection(course)) return course;
  const rows: (string | number)[][] = [
    ["username", "display name", "assignment", "points", "max points", "late", "feedback"],
  ];
  const assignments = await courseAssignments(reader, courseId);
  for (const { value } of await listAll(reader, "courseMembers", prefix(courseId))) {
    if (value.role !== "student") continue;
    const student = await reader.get("users", value.userId);
    if (student === undefined) continue;
    for (const assignment of assignments) {
      const grade = await reader.get("grades", key(assignment.assignmentId, student.userId));
      const latest = await reader.get("latestSubmissions", key(assignment.assignmentId, student.userId));
      rows.push([
        student.username,
        student.displayName,
        assignment.title,
        grade === undefined ? "" : grade.points,
        assignment.maxPoints,
        latest === undefined ? "" : latest.late ? "yes" : "no",
        grade?.feedback ?? "",
      ]);
    }
  }
  return ok(toCsv(rows));
}

/**
 * Whether `actor` may download the file: they uploaded it, or it is attached to a material of a
 * course they belong to, or to a submission they may see (their own, or one in a course they own).
 * Returns the display metadata to serve it with.
 */
export async function fileAccess(reader: LmsReader, actor: Actor, sha256: string): Promise<QueryResult<AttachedFile>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const file = await reader.get("files", sha256);
  if (file === undefined) return notFound("no such file");
  const own = await reader.get("fileOwners", key(sha256, user.userId));
  if (own !== undefined) return ok({ sha256, name: own.name, mime: own.mime, size: own.size });
  for (const { value: ref } of await listAll(reader, "fileRefs", prefix(sha256))) {
    const allowed =
      ref.kind === "material"
        ? await isCourseMember(reader, user, ref.courseId)
        : ref.studentId === user.userId || !isRejection(await ownedCourse(reader, user, ref.courseId));
    if (!allowed) continue;
    const attached = await attachedFile(reader, ref.kind, ref.refId, sha256);
    if (attached !== undefined) return ok(attached);
  }
  // Readable by someone else only: answered like a missing file, so a hash cannot be probed.
  return notFound("no such file");
}

async function attachedFile(
  reader: LmsReader,
  kind: "submission" | "material",
  refId: string,
  sha256: string,
): Promise<AttachedFile | undefined> {
  if (kind === "material") return (await reader.get("materials", refId))?.file;
  return (await reader.get("submissions", refId))?.files.find((file) => file.sha256 === sha256);
}

/** A material, for a member of its course (the tutor grounds answers in it). */
export async function getMaterial(
  reader: LmsReader,
  actor: Actor,
  materialId: string,
): Promise<QueryResult<MaterialRecord>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  const material = await reader.get("materials", materialId);
  if (material === undefined) return notFound(`no material ${materialId}`);
  if (!(await isCourseMember(reader, user, material.courseId))) {
    return (await mayKnowCourse(reader, user, material.courseId))
      ? forbidden("you are not a member of this course")
      : notFound(`no material ${materialId}`);
  }
  return ok(material);
}

/** The actor's own tutor exchanges. */
export async function listTutorExchanges(reader: LmsReader, actor: Actor): Promise<QueryResult<TutorExchangeRecord[]>> {
  const user = await storedActor(reader, actor);
  if (isRejection(user)) return user;
  return ok((await listAll(reader, "tutorExchanges", prefix(user.userId))).map((entry) => entry.value));
}

/**
 * Hashes the store names but the file store lacks (after restoring a snapshot): the node fetches
 * them from a peer by hash and stores them with `FileStore.store`, which verifies the hash.
 */
export async function missingFiles(reader: LmsReader, files: FileStore): Promise<string[]> {
  const missing: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await reader.list("files", "", { startAfter, limit: pageRecords });
    for (const { key: sha256 } of page) if (!(await files.has(sha256))) missing.push(sha256);
    if (page.length < pageRecords) return missing;
    startAfter = page[page.length - 1].key;
  }
}
