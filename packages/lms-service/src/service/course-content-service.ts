import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { sha256Pattern } from "../domain/identifiers.js";
import { key } from "../domain/keys.js";
import { getCoursePage, listQuestions } from "../domain/queries.js";
import { type CourseContentServiceServer, QuestionStatus } from "../gen/lms.js";
import { invalidArgument, LmsCallError } from "./call-error.js";
import {
  authenticate,
  checkIdempotencyKey,
  optionalId,
  paginate,
  propose,
  queried,
  readBarrier,
  requiredId,
  stamp,
  unary,
} from "./call-helpers.js";
import { toFeedbackNote, toMaterial, toQuestion } from "./proto-mapping.js";
import type { LmsServiceContext } from "./service-context.js";

async function storedQuestion(context: LmsServiceContext, questionId: string) {
  const question = await context.store.get("questions", questionId);
  if (question === undefined) throw new Error(`question ${questionId} was accepted but is not in the store`);
  return toQuestion(question);
}

/** CourseContentService: feedback notes, course materials and questions to instructors. */
export function courseContentService(context: LmsServiceContext): CourseContentServiceServer {
  return {
    postFeedback: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const courseId = requiredId("course_id", request.courseId);
      const studentId = optionalId("student_id", request.studentId);
      const { noteId } = await propose(context, {
        kind: "postFeedbackNote",
        ...stamp(context, caller.actor, idempotencyKey),
        noteId: randomUUID(),
        courseId,
        ...(studentId === undefined ? {} : { studentId }),
        text: request.text,
      });
      const note = await context.store.get("notes", key(courseId, noteId));
      if (note === undefined) throw new Error(`note ${noteId} was accepted but is not in the store`);
      return { note: toFeedbackNote(note) };
    }),

    listFeedback: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      const studentId = optionalId("student_id", request.studentId);
      await readBarrier(context, request.consistency);
      const page = queried(await getCoursePage(context.store, caller.actor, courseId));
      if (studentId !== undefined && page.course.ownerId !== caller.userId) {
        throw new LmsCallError(status.PERMISSION_DENIED, "only the course's instructor may filter by student");
      }
      const notes = page.notes.filter(
        (note) => studentId === undefined || note.studentId === undefined || note.studentId === studentId,
      );
      const { page: slice, nextPageToken } = paginate(notes, request.pageSize, request.pageToken);
      return { notes: slice.map(toFeedbackNote), nextPageToken };
    }),

    postMaterial: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      if (request.fileId !== "" && !sha256Pattern.test(request.fileId)) {
        throw invalidArgument("file_id", "must be a file id from FileService.Upload");
      }
      const { materialId } = await propose(context, {
        kind: "postMaterial",
        ...stamp(context, caller.actor, idempotencyKey),
        materialId: randomUUID(),
        courseId: requiredId("course_id", request.courseId),
        title: request.title.trim(),
        body: request.description,
        ...(request.fileId === "" ? {} : { fileHash: request.fileId }),
      });
      const material = await context.store.get("materials", materialId);
      if (material === undefined) throw new Error(`material ${materialId} was accepted but is not in the store`);
      return { material: toMaterial(material) };
    }),

    listMaterials: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      const page = queried(await getCoursePage(context.store, caller.actor, courseId));
      const { page: slice, nextPageToken } = paginate(page.materials, request.pageSize, request.pageToken);
      return { materials: slice.map(toMaterial), nextPageToken };
    }),

    deleteMaterial: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      await propose(context, {
        kind: "deleteMaterial",
        ...stamp(context, caller.actor, idempotencyKey),
        materialId: requiredId("material_id", request.materialId),
      });
      return {};
    }),

    askQuestion: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const { questionId } = await propose(context, {
        kind: "askQuestion",
        ...stamp(context, caller.actor, idempotencyKey),
        questionId: randomUUID(),
        courseId: requiredId("course_id", request.courseId),
        text: request.text,
      });
      return { question: await storedQuestion(context, questionId) };
    }),

    answerQuestion: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const { questionId } = await propose(context, {
        kind: "answerQuestion",
        ...stamp(context, caller.actor, idempotencyKey),
        questionId: requiredId("question_id", request.questionId),
        text: request.answer,
      });
      return { question: await storedQuestion(context, questionId) };
    }),

    listQuestions: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      const wanted =
        request.status === QuestionStatus.QUESTION_STATUS_PENDING
          ? "pending"
          : request.status === QuestionStatus.QUESTION_STATUS_ANSWERED
            ? "answered"
            : undefined;
      const questions = queried(await listQuestions(context.store, caller.actor, courseId)).filter(
        (question) => wanted === undefined || question.status === wanted,
      );
      const { page, nextPageToken } = paginate(questions, request.pageSize, request.pageToken);
      return { questions: page.map(toQuestion), nextPageToken };
    }),
  };
}
