import type { FastifyInstance } from "fastify";
import { path } from "../html.js";
import { runFormAction } from "../http/form-action.js";
import { formBody, formIdempotencyKey, numberField, submissionIdempotencyKey, textField } from "../http/forms.js";
import { requireRole, viewerOf } from "../http/guards.js";
import { renderPage } from "../http/page.js";
import { spoolMultipartForm } from "../http/uploads.js";
import { type AssignmentPageData, assignmentPage, studentAttemptsPage } from "../views/assignment-page.js";
import { managesCourse } from "./ownership.js";
import type { RouteDeps } from "./route-deps.js";

type AssignmentParams = { assignmentId: string };

/** Assignments: view, submit, grade, release, and one student's attempts. */
export function registerAssignmentRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;
  const instructorForm = { preHandler: [requireRole("instructor", "admin"), app.csrfProtection] };

  app.get<{ Params: AssignmentParams }>(
    "/assignments/:assignmentId",
    { preHandler: requireRole() },
    async (request, reply) => {
      const viewer = viewerOf(request);
      const { assignmentId } = request.params;
      const assignment = await api.getAssignment(viewer.token, { assignmentId });
      const detail = await api.getCourse(viewer.token, { courseId: assignment.courseId });
      let data: AssignmentPageData;
      if (managesCourse(viewer, detail.course)) {
        const [students, latest, grades] = await Promise.all([
          api.listStudents(viewer.token, { courseId: assignment.courseId }),
          api.listSubmissions(viewer.token, { assignmentId }),
          api.listGrades(viewer.token, { courseId: assignment.courseId, assignmentId }),
        ]);
        data = { kind: "instructor", assignment, detail, students, latest, grades };
      } else {
        const [attempts, grades] = await Promise.all([
          api.getSubmissionHistory(viewer.token, { assignmentId }),
          api.listGrades(viewer.token, { courseId: assignment.courseId, assignmentId }),
        ]);
        // The service returns students only released grades; the check here is a second belt.
        const grade = grades.find((candidate) => candidate.studentId === viewer.userId && candidate.released);
        data = {
          kind: "student",
          assignment,
          detail,
          attempts,
          grade,
          nowMs: Date.now(),
          maxUploadBytes: deps.maxUploadBytes,
        };
      }
      return renderPage(request, reply, (context) => assignmentPage(context, data));
    },
  );

  app.post<{ Params: AssignmentParams }>(
    "/assignments/:assignmentId/submit",
    { preHandler: [requireRole("student"), app.csrfProtection] },
    async (request, reply) => {
      const viewer = viewerOf(request);
      const { assignmentId } = request.params;
      const back = path`/assignments/${assignmentId}`;
      const form = await spoolMultipartForm(request, {
        maxFileBytes: deps.maxUploadBytes,
        tempRoot: deps.uploadTempDir,
      });
      // The temporary file goes before the answer is sent, whatever the outcome.
      return runFormAction(reply, back, async () => {
        try {
          const text = textField(form.fields, "text", { keepSpace: true });
          const idempotencyKey = submissionIdempotencyKey({
            userId: viewer.userId,
            assignmentId,
            sha256: form.file?.sha256 ?? "",
            text,
          });
          const submission = await api.submit(viewer.token, {
            assignmentId,
            text,
            ...(form.file === undefined ? {} : { file: form.file }),
            idempotencyKey,
          });
          const late = submission.late ? " It was after the due date, so it is marked late." : "";
          return { redirectTo: back, message: `Submitted: attempt ${submission.attempt} is saved.${late}` };
        } finally {
          await form.cleanup();
        }
      });
    },
  );

  app.post<{ Params: AssignmentParams }>("/assignments/:assignmentId/grade", instructorForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    const back = path`/assignments/${request.params.assignmentId}`;
    return runFormAction(reply, back, async () => {
      const submissionId = textField(body, "submissionId");
      await api.gradeSubmission(viewer.token, {
        assignmentId: request.params.assignmentId,
        studentId: textField(body, "studentId"),
        ...(submissionId === "" ? {} : { submissionId }),
        points: numberField(body, "points", "Points"),
        feedback: textField(body, "feedback"),
        idempotencyKey: formIdempotencyKey(body),
      });
      return { redirectTo: back, message: "Grade saved." };
    });
  });

  app.post<{ Params: AssignmentParams }>(
    "/assignments/:assignmentId/release",
    instructorForm,
    async (request, reply) => {
      const viewer = viewerOf(request);
      const body = formBody(request.body);
      const back = path`/assignments/${request.params.assignmentId}`;
      return runFormAction(reply, back, async () => {
        const released = textField(body, "released") === "1";
        await api.setGradesReleased(viewer.token, {
          assignmentId: request.params.assignmentId,
          released,
          idempotencyKey: formIdempotencyKey(body),
        });
        return {
          redirectTo: back,
          message: released ? "Grades released to students." : "Grades hidden from students.",
        };
      });
    },
  );

  app.get<{ Params: AssignmentParams & { studentId: string } }>(
    "/assignments/:assignmentId/students/:studentId",
    { preHandler: requireRole("instructor", "admin") },
    async (request, reply) => {
      const viewer = viewerOf(request);
      const { assignmentId, studentId } = request.params;
      const assignment = await api.getAssignment(viewer.token, { assignmentId });
      const [attempts, students] = await Promise.all([
        api.getSubmissionHistory(viewer.token, { assignmentId, studentId }),
        api.listStudents(viewer.token, { courseId: assignment.courseId }),
      ]);
      const student = students.find((candidate) => candidate.id === studentId);
      return renderPage(request, reply, (context) =>
        studentAttemptsPage(context, { assignment, student, studentId, attempts }),
      );
    },
  );
}
