import type { FastifyInstance } from "fastify";
import { path } from "../html.js";
import { sendDownload, startStream } from "../http/downloads.js";
import { runFormAction } from "../http/form-action.js";
import { formBody, formIdempotencyKey, textField, utcTimeField } from "../http/forms.js";
import { requireRole, viewerOf } from "../http/guards.js";
import { badRequest } from "../http/http-error.js";
import { renderPage } from "../http/page.js";
import { spoolMultipartForm } from "../http/uploads.js";
import { type CoursePageData, coursePage, newCoursePage } from "../views/course-page.js";
import { managesCourse } from "./ownership.js";
import type { RouteDeps } from "./route-deps.js";

type CourseParams = { courseId: string };

/** Courses: create, join, view, join codes, enrolment, materials, assignments, questions, CSV export. */
export function registerCourseRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;
  const instructorForm = { preHandler: [requireRole("instructor", "admin"), app.csrfProtection] };
  const studentForm = { preHandler: [requireRole("student"), app.csrfProtection] };

  app.get("/courses/new", { preHandler: requireRole("instructor") }, async (request, reply) =>
    renderPage(request, reply, (context) => newCoursePage(context)),
  );

  app.post("/courses", { preHandler: [requireRole("instructor"), app.csrfProtection] }, async (request, reply) => {
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
  });

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
    const viewer = viewerOf(request);
    const { courseId } = request.params;
    const detail = await api.getCourse(viewer.token, { courseId });
    const isOwner = managesCourse(viewer, detail.course);
    const [assignments, materials, questions] = await Promise.all([
      api.listAssignments(viewer.token, { courseId }),
      api.listMaterials(viewer.token, { courseId }),
      api.listQuestions(viewer.token, { courseId }),
    ]);
    const isStudent = viewer.role === "student";
    const [mySubmissions, myGrades, joinCodes, students] = await Promise.all([
      isStudent ? api.listSubmissions(viewer.token, { courseId }) : [],
      isStudent ? api.listGrades(viewer.token, { courseId }) : [],
      isOwner ? api.listJoinCodes(viewer.token, { courseId }) : [],
      isOwner ? api.listStudents(viewer.token, { courseId }) : [],
    ]);
    const data: CoursePageData = {
      detail,
      isOwner,
      assignments,
      materials,
      questions,
      mySubmissions,
      myGrades,
      joinCodes,
      students,
      nowMs: Date.now(),
      maxUploadBytes: deps.maxUploadBytes,
    };
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
