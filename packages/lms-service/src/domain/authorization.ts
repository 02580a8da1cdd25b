import type { LmsReader } from "../store/lms-store.js";
import { isRejection } from "./apply-context.js";
import { key } from "./keys.js";
import type { AssignmentRecord, CourseRecord, UserRecord } from "./records.js";
import { forbidden, notFound, type Rejection } from "./results.js";

/**
 * The authorisation rules, shared by apply and the queries so both decide alike:
 * - an instructor acts only on courses they own (admins included: owning is not a role);
 * - a student acts only in courses they are enrolled in, and sees only their own work;
 * - admin-only commands check the stored role.
 */

/** The course, if `user` owns it; else not-found or forbidden. */
export async function ownedCourse(
  reader: LmsReader,
  user: UserRecord,
  courseId: string,
): Promise<CourseRecord | Rejection> {
  const course = await reader.get("courses", courseId);
  if (course === undefined) return notFound(`no course ${courseId}`);
  if (course.ownerId !== user.userId) return forbidden("only the course's instructor may do that");
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
  if (isRejection(course)) return course;
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
