import type { FastifyInstance } from "fastify";
import { requireRole, viewerOf } from "../http/guards.js";
import { renderPage } from "../http/page.js";
import type { Viewer } from "../http/session.js";
import type { Assignment, Course, LmsApi } from "../lms-api.js";
import { type Dashboard, dashboardPage } from "../views/dashboard-page.js";
import type { RouteDeps } from "./route-deps.js";

/** Courses whose details the dashboard fetches; more are listed but not inspected. */
export const maxDashboardCourses = 20;

/** The dashboard. */
export function registerDashboardRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/dashboard", { preHandler: requireRole() }, async (request, reply) => {
    const dashboard = await loadDashboard(deps.api, viewerOf(request));
    return renderPage(request, reply, (context) => dashboardPage(context, dashboard));
  });
}

async function loadDashboard(api: LmsApi, viewer: Viewer): Promise<Dashboard> {
  const courses = await api.listCourses(viewer.token);
  const inspected = courses.slice(0, maxDashboardCourses);
  if (viewer.role === "student") {
    const perCourse = await Promise.all(
      inspected.map(async (course) => {
        const [assignments, submissions] = await Promise.all([
          api.listAssignments(viewer.token, { courseId: course.id }),
          api.listSubmissions(viewer.token, { courseId: course.id }),
        ]);
        const submitted = new Set(submissions.map((submission) => submission.assignmentId));
        return assignments
          .filter((assignment) => !submitted.has(assignment.id))
          .map((assignment) => ({ course, assignment }));
      }),
    );
    const toDo = perCourse.flat().sort((a, b) => dueOrder(a.assignment) - dueOrder(b.assignment));
    return { kind: "student", courses, toDo, nowMs: Date.now() };
  }
  if (viewer.role === "instructor") {
    const [needsGrading, pendingQuestions] = await Promise.all([
      // The courses just read: listing them again would cost a call and could disagree.
      api.listNeedsGrading(viewer.token, { courses }),
      Promise.all(
        inspected.map(async (course: Course) => ({
          course,
          count: (await api.listQuestions(viewer.token, { courseId: course.id, status: "pending" })).length,
        })),
      ),
    ]);
    return { kind: "instructor", courses, needsGrading, pendingQuestions };
  }
  return { kind: "admin", courses, viewerId: viewer.userId };
}

/** Sorts assignments with a due date first, soonest first. */
function dueOrder(assignment: Assignment): number {
  return assignment.dueAtMs === 0 ? Number.MAX_SAFE_INTEGER : assignment.dueAtMs;
}
