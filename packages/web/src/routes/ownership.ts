import type { Viewer } from "../http/session.js";
import type { Course } from "../lms-api.js";

/**
 * Whether the viewer manages `course` and so sees the instructor's view: its owner (an instructor,
 * or an admin who created it). Only chooses what is rendered: the service decides what the viewer
 * may actually read or change, and it keeps a course's contents to its members, admins included.
 */
export function managesCourse(viewer: Viewer, course: Course): boolean {
  return viewer.role !== "student" && course.instructorId === viewer.userId;
}
