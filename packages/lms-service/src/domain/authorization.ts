import type { LmsReader } from "../store/lms-store.js";
import { isRejection } from "./apply-context.js";
import { key } from "./keys.js";
import type { AssignmentRecord, CourseRecord, UserRecord } from "./records.js";
import { forbidden, notFound, type Rejection } from "./results.js";

/**
 * The authorisation rules, shared by apply and the queries so both decide alike:
 * - an instructor acts only on courses they own (admins included: owning is not a role);
 * - a student acts only in courses they are enrolled in, and sees only their own work;
 * - admin-only commands check the stored role;
 * - an admin reads every course itself (lms.proto: ListCourses "Admin: every course", GetCourse
 *   "Enrolled student, owning instructor or admin"), but not what is inside it (assignments,
 *   submissions, grades...), whose reads lms.proto opens to members only;
 * - an object the caller may not know exists (a course they are not a member of, and everything in
 *   it; another user's upload; a file they may not read) answers exactly as a missing one does, so
 *   nobody can probe for ids (lms.proto: NOT_FOUND). A caller who may know it exists but may not do
 *   this with it (a student in the course acting as its instructor) is forbidden.
 */

/** The answer for a course that does not exist or that `user` may not know about: the same words. */
export function noCourse(courseId: string): Rejection {
  return notFound(`no course ${courseId}`);
}

/**
 * True when `user` may know that the (existing) course exists: a member of it (its owner or an
 * enrolled student), or an admin (who lists every course).
 */
export async function mayKnowCourse(reader: LmsReader, user: UserRecord, courseId: string): Promise<boolean> {
  return user.role === "admin" || (await isCourseMember(reader, user, courseId));
}

/** The course, if `user` owns it; else not-found (also when `user` may not know it) or forbidden. */
export async function ownedCourse(
  reader: LmsReader,
  user: UserRecord,
  courseId: string,
): Promise<CourseRecord | Rejection> {
  const course = await reader.get("courses", courseId);
  if (course === undefined) return noCourse(courseId);
  if (course.ownerId !== user.userId) {
    if (!(await mayKnowCourse(reader, user, courseId))) return noCourse(courseId);
    return forbidden("only the course's instructor may do that");
  }
  return course;
}

/** The assignment and its course, if `user` owns the course. */
export async function ownedAssignment(
  reader: LmsReader,
  user: UserRecord,
  assignmentId: string,
): Promise<{ assignment: AssignmentRecord; course: CourseRecord } | Rejection> {
  const assignment = await reader.get("assignments", assignmentId);
  if (assignment === undefined) return notFound(`no assignment ${assignmentId}`);
  const course = await ownedCourse(reader, user, assignment.courseId);
  // A hidden course hides its assignments too, in the words used for a missing one.
  if (isRejection(course)) return course.status === "not-found" ? notFound(`no assignment ${assignmentId}`) : course;
  return { assignment, course };
}

/** True when `userId` is enrolled as a student of `courseId`. */
export async function isEnrolledStudent(reader: LmsReader, courseId: string, userId: string): Promise<boolean> {
  const membership = await reader.get("courseMembers", key(courseId, userId));
  return membership?.role === "student";
}

/** True when `user` may read the course: its owner or an enrolled student. */
export async function isCourseMember(reader: LmsReader, user: UserRecord, courseId: string): Promise<boolean> {
  const membership = await reader.get("courseMembers", key(courseId, user.userId));
  return membership !== undefined;
}
