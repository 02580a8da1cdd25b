import type { FastifyInstance } from "fastify";
import { requireRole, viewerOf } from "../http/guards.js";
import { renderPage } from "../http/page.js";
import type { Viewer } from "../http/session.js";
import type { Assignment, Course, LmsApi } from "../lms-api.js";
import { type Dashboard, dashboardPage } from "../views/dashboard-page.js";
import type { RouteDeps } from "./route-deps.js";

/** The dashboard. */
export function registerDashboardRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get("/dashboard", { preHandler: requireRole() }, async (request, reply) => {
    const dashboard = await loadDashboard(deps.api, viewerOf(request));
    return renderPage(request, reply, (context) => dashboardPage(context, dashboard));
  });
}

/** The dashboard from one GetDashboard call (one read barrier), shaped for the viewer's role. */
async function loadDashboard(api: LmsApi, viewer: Viewer): Promise<Dashboard> {
  const data = await api.getDashboard(viewer.token);
  const { courses } = data;
  const courseById = new Map(courses.map((course) => [course.id, course]));
  /** The listed course of an entry; an entry for a course not listed is dropped. */
  const withCourse = <T>(courseId: string, make: (course: Course) => T): T[] => {
    const course = courseById.get(courseId);
    return course === undefined ? [] : [make(course)];
  };
  if (viewer.role === "student") {
    const toDo = data.unsubmitted
      .flatMap((assignment) => withCourse(assignment.courseId, (course) => ({ course, assignment })))
      .sort((a, b) => dueOrder(a.assignment) - dueOrder(b.assignment));
    return { kind: "student", courses, toDo, nowMs: Date.now() };
  }
  if (viewer.role === "instructor") {
    const pendingQuestions = data.pendingQuestions.flatMap(({ courseId, count }) =>
      withCourse(courseId, (course) => ({ course, count })),
    );
    return { kind: "instructor", courses, needsGrading: data.needsGrading, pendingQuestions };
  }
  return { kind: "admin", courses, viewerId: viewer.userId };
}

/** Sorts assignments with a due date first, soonest first. */
function dueOrder(assignment: Assignment): number {
  return assignment.dueAtMs === 0 ? Number.MAX_SAFE_INTEGER : assignment.dueAtMs;
}
