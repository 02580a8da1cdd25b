import type { Viewer } from "../http/session.js";
import type { Course } from "../lms-api.js";

/**
 * Whether the viewer manages `course` and so sees the instructor's view. Only chooses what is
 * rendered: the service decides what the viewer may actually read or change.
 */
export function managesCourse(viewer: Viewer, course: Course): boolean {
  return viewer.role === "admin" || (viewer.role === "instructor" && course.instructorId === viewer.userId);
}
