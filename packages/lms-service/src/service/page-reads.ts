import {
  getCoursePage,
  getDashboard,
  listGrades,
  listQuestions,
  listStudents,
  listSubmissions,
  type SubmissionView,
} from "../domain/queries.js";
import { GetCoursePageResponse, GetDashboardResponse } from "../gen/lms.js";
import { checkedAnswerSize } from "./answer-size.js";
import { latestAttempts } from "./assignment-service.js";
import { type Caller, queried } from "./call-helpers.js";
import { withDescriptionExcerpt } from "./description-excerpt.js";
import {
  loadUser,
  toAssignment,
  toCourse,
  toFeedbackNote,
  toGrade,
  toGradingCount,
  toJoinCode,
  toMaterial,
  toProtoRole,
  toQuestion,
  toSubmission,
  toUser,
} from "./proto-mapping.js";
import type { LmsServiceContext } from "./service-context.js";

/**
 * The composite reads behind CourseService.GetCoursePage and GetDashboard: what a page shows,
 * assembled from the same domain queries the single list RPCs use (so the authorisation and the
 * visibility rules, such as grades hidden until released, are theirs), after the one read barrier
 * the handler waited for. Each part answers as its list RPC would, unpaged.
 */

/** GetCoursePage's answer, or RESOURCE_EXHAUSTED naming the paged list RPCs when it is too large. */
export function checkedCoursePageSize(page: GetCoursePageResponse): GetCoursePageResponse {
  return checkedAnswerSize(
    page,
    GetCoursePageResponse.encode,
    "this course's page",
    "read the course with the paged list RPCs instead (GetCourse, ListAssignments, ListMaterials, ListQuestions, " +
      "ListFeedback, and ListSubmissions with course_id and ListGrades for a student, ListJoinCodes and ListStudents " +
      "for the owner)",
  );
}

/** GetDashboard's answer, or RESOURCE_EXHAUSTED: too large only with whole descriptions of many courses. */
export function checkedDashboardSize(dashboard: GetDashboardResponse): GetDashboardResponse {
  return checkedAnswerSize(
    dashboard,
    GetDashboardResponse.encode,
    "this dashboard",
    "ask with max_description_chars, or read the courses with ListCourses",
  );
}

/**
 * GetCoursePage for `caller`: refused exactly as ListAssignments (the first read inside a course)
 * would be; a student's own submissions and released grades, or the owner's join codes and
 * students, by the caller's place in the course.
 */
export async function coursePageFor(
  context: LmsServiceContext,
  caller: Caller,
  courseId: string,
): Promise<GetCoursePageResponse> {
  const { store } = context;
  const page = queried(await getCoursePage(store, caller.actor, courseId));
  const { assignments } = page;
  const questions = queried(await listQuestions(store, caller.actor, courseId));
  const response: GetCoursePageResponse = {
    course: await toCourse(store, page.course),
    instructor: await loadUser(store, page.course.ownerId),
    viewerRole: toProtoRole(page.role),
    assignments: assignments.map(toAssignment),
    materials: page.materials.map(toMaterial),
    questions: questions.map(toQuestion),
    feedback: page.notes.map(toFeedbackNote),
    mySubmissions: [],
    myGrades: [],
    joinCodes: [],
    students: [],
  };
  // getCoursePage lists join codes for the owner only: the one place that decides who owns it.
  if (page.joinCodes !== undefined) {
    const students = queried(await listStudents(store, caller.actor, courseId));
    return { ...response, joinCodes: page.joinCodes.map(toJoinCode), students: students.map(toUser) };
  }
  // As ListSubmissions with course_id: each assignment's views, then the latest attempt of each.
  const views: SubmissionView[] = [];
  for (const assignment of assignments) {
    views.push(...queried(await listSubmissions(store, caller.actor, assignment.assignmentId)));
  }
  const released = new Map(assignments.map((a) => [a.assignmentId, a.gradesReleasedAt !== undefined]));
  const grades = queried(await listGrades(store, caller.actor, courseId));
  return {
    ...response,
    mySubmissions: latestAttempts(views).map((view) => toSubmission(view.submission)),
    myGrades: grades.map((grade) => toGrade(grade, released.get(grade.assignmentId) === true)),
  };
}

/**
 * GetDashboard for `caller`: the courses as ListCourses, and what the caller's role needs to see,
 * every description cut to `maxDescriptionChars` (0: whole; description-excerpt.ts).
 */
export async function dashboardFor(
  context: LmsServiceContext,
  caller: Caller,
  maxDescriptionChars = 0,
): Promise<GetDashboardResponse> {
  const { store } = context;
  const dashboard = queried(await getDashboard(store, caller.actor));
  const courses = [];
  for (const summary of dashboard.courses) {
    courses.push(withDescriptionExcerpt(await toCourse(store, summary.course), maxDescriptionChars));
  }
  return {
    courses,
    unsubmittedAssignments: dashboard.unsubmitted.map((assignment) =>
      withDescriptionExcerpt(toAssignment(assignment), maxDescriptionChars),
    ),
    needsGrading: dashboard.needsGrading.map((entry) => toGradingCount(entry, maxDescriptionChars)),
    pendingQuestions: dashboard.pendingQuestions.map((entry) => ({
      courseId: entry.courseId,
      pendingCount: entry.pending,
    })),
  };
}
