import type { FastifyInstance } from "fastify";
import { path } from "../html.js";
import { sendDownload, startStream } from "../http/downloads.js";
import { runFormAction } from "../http/form-action.js";
import { checkboxField, formBody, formIdempotencyKey, textField, utcTimeField } from "../http/forms.js";
import { requireRole, viewerOf } from "../http/guards.js";
import { badRequest, forbidden, notFound } from "../http/http-error.js";
import { renderPage } from "../http/page.js";
import { spoolMultipartForm } from "../http/uploads.js";
import { coursePage, deleteMaterialPage, newCoursePage } from "../views/course-page.js";
import { loadCoursePage } from "./course-page-data.js";
import { managesCourse } from "./ownership.js";
import type { RouteDeps } from "./route-deps.js";

type CourseParams = { courseId: string };
type MaterialParams = CourseParams & { materialId: string };

/** Courses: create, join, view, join codes, enrolment, materials (post, delete), feedback notes, assignments, questions, CSV export. */
export function registerCourseRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;
  const instructorForm = { preHandler: [requireRole("instructor", "admin"), app.csrfProtection] };
  const studentForm = { preHandler: [requireRole("student"), app.csrfProtection] };

  // Instructors and admins create courses (lms.proto CreateCourse); the creator owns the course.
  app.get("/courses/new", { preHandler: requireRole("instructor", "admin") }, async (request, reply) =>
    renderPage(request, reply, (context) => newCoursePage(context)),
  );

  app.post(
    "/courses",
    { preHandler: [requireRole("instructor", "admin"), app.csrfProtection] },
    async (request, reply) => {
      const viewer = viewerOf(request);
      const body = formBody(request.body);
      return runFormAction(reply, "/courses/new", async () => {
        const course = await api.createCourse(viewer.token, {
          title: textField(body, "title"),
          description: textField(body, "description"),
          idempotencyKey: formIdempotencyKey(body),
        });
        return {
          redirectTo: path`/courses/${course.id}`,
          message: "Course created. Next: create a join code for your students.",
        };
      });
    },
  );

  app.post("/courses/join", studentForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    return runFormAction(
      reply,
      "/dashboard",
      async () => {
        const code = textField(body, "code").toUpperCase();
        if (code === "") throw badRequest("Enter a join code.");
        const course = await api.joinCourse(viewer.token, { code, idempotencyKey: formIdempotencyKey(body) });
        return { redirectTo: path`/courses/${course.id}`, message: `You joined ${course.title}.` };
      },
      ["NOT_FOUND"],
    );
  });

  app.get<{ Params: CourseParams }>("/courses/:courseId", { preHandler: requireRole() }, async (request, reply) => {
    const data = await loadCoursePage(api, viewerOf(request), request.params.courseId, deps.maxUploadBytes);
    return renderPage(request, reply, (context) => coursePage(context, data));
  });

  app.post<{ Params: CourseParams }>("/courses/:courseId/join-codes", instructorForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    const back = path`/courses/${request.params.courseId}`;
    return runFormAction(reply, back, async () => {
      const code = await api.createJoinCode(viewer.token, {
        courseId: request.params.courseId,
        expiresAtMs: utcTimeField(body, "expiresAt", "The expiry"),
        idempotencyKey: formIdempotencyKey(body),
      });
      return { redirectTo: back, message: `New join code: ${code.code}` };
    });
  });

  app.post<{ Params: CourseParams & { code: string } }>(
    "/courses/:courseId/join-codes/:code/revoke",
    instructorForm,
    async (request, reply) => {
      const viewer = viewerOf(request);
      const body = formBody(request.body);
      const back = path`/courses/${request.params.courseId}`;
      return runFormAction(reply, back, async () => {
        const code = await api.revokeJoinCode(viewer.token, {
          courseId: request.params.courseId,
          code: request.params.code,
          idempotencyKey: formIdempotencyKey(body),
        });
        return { redirectTo: back, message: `Join code ${code.code} revoked.` };
      });
    },
  );

  app.post<{ Params: CourseParams }>("/courses/:courseId/enrol", instructorForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    const back = path`/courses/${request.params.courseId}`;
    return runFormAction(
      reply,
      back,
      async () => {
        const student = await api.enrolStudent(viewer.token, {
          courseId: request.params.courseId,
          username: textField(body, "username"),
          idempotencyKey: formIdempotencyKey(body),
        });
        return { redirectTo: back, message: `${student.displayName} is enrolled.` };
      },
      ["NOT_FOUND"],
    );
  });

  app.post<{ Params: CourseParams }>("/courses/:courseId/materials", instructorForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const back = path`/courses/${request.params.courseId}`;
    const form = await spoolMultipartForm(request, { maxFileBytes: deps.maxUploadBytes, tempRoot: deps.uploadTempDir });
    return runFormAction(reply, back, async () => {
      try {
        const material = await api.postMaterial(viewer.token, {
          courseId: request.params.courseId,
          title: textField(form.fields, "title"),
          description: textField(form.fields, "description"),
          ...(form.file === undefined ? {} : { file: form.file }),
          idempotencyKey: formIdempotencyKey(form.fields),
        });
        return { redirectTo: back, message: `Material "${material.title}" posted.` };
      } finally {
        await form.cleanup();
      }
    });
  });

  app.post<{ Params: CourseParams }>("/courses/:courseId/feedback", instructorForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    const back = `${path`/courses/${request.params.courseId}`}#feedback`;
    return runFormAction(
      reply,
      back,
      async () => {
        const text = textField(body, "text");
        if (text === "") throw badRequest("Write the feedback note first.");
        const studentId = textField(body, "studentId");
        await api.postFeedback(viewer.token, {
          courseId: request.params.courseId,
          ...(studentId === "" ? {} : { studentId }),
          text,
          idempotencyKey: formIdempotencyKey(body),
        });
        return {
          redirectTo: back,
          message: studentId === "" ? "Feedback posted to the whole course." : "Feedback posted to the student.",
        };
      },
      ["NOT_FOUND"],
    );
  });

  app.get<{ Params: MaterialParams }>(
    "/courses/:courseId/materials/:materialId/delete",
    { preHandler: requireRole("instructor", "admin") },
    async (request, reply) => {
      const viewer = viewerOf(request);
      const { courseId, materialId } = request.params;
      const [detail, materials] = await Promise.all([
        api.getCourse(viewer.token, { courseId }),
        api.listMaterials(viewer.token, { courseId }),
      ]);
      if (!managesCourse(viewer, detail.course))
        throw forbidden("Only the course's instructor may delete its materials.");
      const material = materials.find((candidate) => candidate.id === materialId);
      if (material === undefined) throw notFound("This material does not exist (it may have been deleted already).");
      return renderPage(request, reply, (context) => deleteMaterialPage(context, { detail, material }));
    },
  );

  app.post<{ Params: MaterialParams }>(
    "/courses/:courseId/materials/:materialId/delete",
    instructorForm,
    async (request, reply) => {
      const viewer = viewerOf(request);
      const body = formBody(request.body);
      const { courseId, materialId } = request.params;
      const confirmPage = path`/courses/${courseId}/materials/${materialId}/delete`;
      return runFormAction(reply, confirmPage, async () => {
        if (!checkboxField(body, "confirm")) throw badRequest("Confirm that the material should be deleted.");
        await api.deleteMaterial(viewer.token, { materialId, idempotencyKey: formIdempotencyKey(body) });
        return { redirectTo: `${path`/courses/${courseId}`}#materials-title`, message: "Material deleted." };
      });
    },
  );

  app.post<{ Params: CourseParams }>("/courses/:courseId/assignments", instructorForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    const back = path`/courses/${request.params.courseId}`;
    return runFormAction(reply, back, async () => {
      const maxPoints = Number(textField(body, "maxPoints"));
      const assignment = await api.createAssignment(viewer.token, {
        courseId: request.params.courseId,
        title: textField(body, "title"),
        description: textField(body, "description"),
        dueAtMs: utcTimeField(body, "dueAt", "The due date"),
        maxPoints: Number.isFinite(maxPoints) ? maxPoints : Number.NaN,
        idempotencyKey: formIdempotencyKey(body),
      });
      return { redirectTo: path`/assignments/${assignment.id}`, message: `Assignment "${assignment.title}" created.` };
    });
  });

  app.post<{ Params: CourseParams }>("/courses/:courseId/questions", studentForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    const back = `${path`/courses/${request.params.courseId}`}#questions`;
    return runFormAction(reply, back, async () => {
      await api.askQuestion(viewer.token, {
        courseId: request.params.courseId,
        text: textField(body, "text"),
        idempotencyKey: formIdempotencyKey(body),
      });
      return { redirectTo: back, message: "Question sent. Your instructor's answer will appear here." };
    });
  });

  app.post<{ Params: { questionId: string } }>(
    "/questions/:questionId/answer",
    instructorForm,
    async (request, reply) => {
      const viewer = viewerOf(request);
      const body = formBody(request.body);
      const courseId = textField(body, "courseId");
      const back = courseId === "" ? "/dashboard" : `${path`/courses/${courseId}`}#questions`;
      return runFormAction(reply, back, async () => {
        await api.answerQuestion(viewer.token, {
          questionId: request.params.questionId,
          answer: textField(body, "answer"),
          idempotencyKey: formIdempotencyKey(body),
        });
        return { redirectTo: back, message: "Answer sent." };
      });
    },
  );

  app.get<{ Params: CourseParams }>(
    "/courses/:courseId/grades.csv",
    { preHandler: requireRole("instructor", "admin") },
    async (request, reply) => {
      const viewer = viewerOf(request);
      const csv = await api.exportGradesCsv(viewer.token, { courseId: request.params.courseId });
      const chunks = await startStream(csv);
      return sendDownload(reply, csv.fileName, "text/csv; charset=utf-8", chunks);
    },
  );
}
