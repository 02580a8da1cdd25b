import type { FastifyInstance } from "fastify";
import { requireRole, viewerOf } from "../http/guards.js";
import { renderPage } from "../http/page.js";
import { maxDashboardCourses } from "../lms-api.js";
import { gradeHistoryPage, myGradesPage, needsGradingPage } from "../views/grade-pages.js";
import type { RouteDeps } from "./route-deps.js";

/** My grades (students), the needs-grading queue and grade history (instructors). */
export function registerGradeRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;

  app.get("/grades", { preHandler: requireRole("student") }, async (request, reply) => {
    const viewer = viewerOf(request);
    const courses = (await api.listCourses(viewer.token)).slice(0, maxDashboardCourses);
    const perCourse = await Promise.all(
      courses.map(async (course) => {
        const [assignments, grades] = await Promise.all([
          api.listAssignments(viewer.token, { courseId: course.id }),
          api.listGrades(viewer.token, { courseId: course.id }),
        ]);
        return {
          course,
          assignments,
          grades: grades.filter((grade) => grade.released && grade.studentId === viewer.userId),
        };
      }),
    );
    return renderPage(request, reply, (context) => myGradesPage(context, perCourse));
  });

  app.get("/grading", { preHandler: requireRole("instructor", "admin") }, async (request, reply) => {
    const viewer = viewerOf(request);
    const courseId = (request.query as { courseId?: unknown }).courseId;
    const items = await api.listNeedsGrading(
      viewer.token,
      typeof courseId === "string" && courseId !== "" ? { courseId } : {},
    );
    return renderPage(request, reply, (context) => needsGradingPage(context, items));
  });

  app.get<{ Params: { courseId: string }; Querystring: { assignmentId?: string; studentId?: string } }>(
    "/courses/:courseId/grade-history",
    { preHandler: requireRole("instructor", "admin") },
    async (request, reply) => {
      const viewer = viewerOf(request);
      const { courseId } = request.params;
      const filter = {
        courseId,
        ...(typeof request.query.assignmentId === "string" ? { assignmentId: request.query.assignmentId } : {}),
        ...(typeof request.query.studentId === "string" ? { studentId: request.query.studentId } : {}),
      };
      const [detail, changes, assignments, students] = await Promise.all([
        api.getCourse(viewer.token, { courseId }),
        api.getGradeHistory(viewer.token, filter),
        api.listAssignments(viewer.token, { courseId }),
        api.listStudents(viewer.token, { courseId }),
      ]);
      const names = new Map<string, string>([
        [detail.instructor.id, detail.instructor.displayName],
        ...students.map((student): [string, string] => [student.id, student.displayName]),
      ]);
      const titles = new Map(assignments.map((assignment) => [assignment.id, assignment.title]));
      return renderPage(request, reply, (context) =>
        gradeHistoryPage(context, { course: detail.course, changes, names, titles }),
      );
    },
  );
}
