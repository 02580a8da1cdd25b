import type { Viewer } from "../http/session.js";
import type { LmsApi } from "../lms-api.js";
import type { CoursePageData } from "../views/course-page.js";
import { managesCourse } from "./ownership.js";

/** A read's outcome, kept so failures can be judged once every read has settled. */
type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

function settle<T>(read: Promise<T>): Promise<Settled<T>> {
  return read.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function unwrap<T>(result: Settled<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}

/**
 * Everything the course page shows, read in one round of parallel calls instead of one round per
 * dependency: each page view used to wait for the course, then the lists, then the per-role lists.
 * Whether the viewer manages the course is known only once the course is read, so an instructor's
 * or admin's owner-only lists (join codes, students) start at once and are dropped, failures
 * included, when the course turns out not to be theirs. Every read still starts after the request
 * arrived, so each stays linearizable. Failures are reported in a fixed order, the course first,
 * so a course the viewer may not see is a 404 whichever read failed first.
 */
export async function loadCoursePage(
  api: LmsApi,
  viewer: Viewer,
  courseId: string,
  maxUploadBytes: number,
): Promise<CoursePageData> {
  const { token } = viewer;
  const isStudent = viewer.role === "student";
  const mayManage = viewer.role === "instructor" || viewer.role === "admin";
  const none = Promise.resolve([]);
  const [detail, assignments, materials, questions, feedback, mySubmissions, myGrades, joinCodes, students] =
    await Promise.all([
      settle(api.getCourse(token, { courseId })),
      settle(api.listAssignments(token, { courseId })),
      settle(api.listMaterials(token, { courseId })),
      settle(api.listQuestions(token, { courseId })),
      settle(api.listFeedback(token, { courseId })),
      settle(isStudent ? api.listSubmissions(token, { courseId }) : none),
      settle(isStudent ? api.listGrades(token, { courseId }) : none),
      settle(mayManage ? api.listJoinCodes(token, { courseId }) : none),
      settle(mayManage ? api.listStudents(token, { courseId }) : none),
    ]);
  const course = unwrap(detail);
  const isOwner = managesCourse(viewer, course.course);
  return {
    detail: course,
    isOwner,
    assignments: unwrap(assignments),
    materials: unwrap(materials),
    questions: unwrap(questions),
    feedback: unwrap(feedback),
    mySubmissions: unwrap(mySubmissions),
    myGrades: unwrap(myGrades),
    joinCodes: isOwner ? unwrap(joinCodes) : [],
    students: isOwner ? unwrap(students) : [],
    nowMs: Date.now(),
    maxUploadBytes,
  };
}
