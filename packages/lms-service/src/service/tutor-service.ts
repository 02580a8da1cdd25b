import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { isRejection } from "../domain/apply-context.js";
import { ownedCourse } from "../domain/authorization.js";
import { maxTutorAnswerChars } from "../domain/limits.js";
import { getMaterial, listTutorExchanges } from "../domain/queries.js";
import type { TutorExchangeRecord } from "../domain/records.js";
import type { TutorServiceServer } from "../gen/lms.js";
import { MAX_QUESTION_CHARS, type TutorQuestion } from "../tutor/tutor-prompt.js";
import { invalidArgument, LmsCallError } from "./call-error.js";
import {
  authenticate,
  checkIdempotencyKey,
  optionalId,
  paginate,
  propose,
  queried,
  readBarrier,
  serverStream,
  stamp,
  unary,
} from "./call-helpers.js";
import { rejectionError } from "./error-mapping.js";
import { toTutorExchange } from "./proto-mapping.js";
import type { LmsServiceContext } from "./service-context.js";

/** Most exchanges scanned for an instructor's course view. */
const maxScannedExchanges = 5000;

/**
 * The answer as the log may hold it: control characters other than tab and newlines and lone
 * surrogates removed (a model may emit them), cut at the domain's limit.
 */
export function recordableAnswer(answer: string): string {
  let cleaned = "";
  for (let i = 0; i < answer.length; i++) {
    const unit = answer.charCodeAt(i);
    const isControl = (unit < 0x20 && unit !== 0x09 && unit !== 0x0a && unit !== 0x0d) || unit === 0x7f;
    if (isControl) continue;
    const isHigh = unit >= 0xd800 && unit <= 0xdbff;
    const isLow = unit >= 0xdc00 && unit <= 0xdfff;
    if (isHigh) {
      const next = answer.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        cleaned += answer[i] + answer[i + 1];
        i++;
      }
      continue; // A lone high surrogate is dropped.
    }
    if (isLow) continue; // A low surrogate without its high half.
    cleaned += answer[i];
  }
  if (cleaned.length <= maxTutorAnswerChars) return cleaned;
  const cut = cleaned.slice(0, maxTutorAnswerChars);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** TutorService: the AI tutor, streamed, and the record of past exchanges. */
export function tutorService(context: LmsServiceContext): TutorServiceServer {
  return {
    askTutor: serverStream(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const question = request.question.trim();
      if (question.length < 1 || question.length > MAX_QUESTION_CHARS) {
        throw invalidArgument("question", `must have 1 to ${MAX_QUESTION_CHARS} characters`);
      }
      const materialId = optionalId("material_id", request.materialId);
      let asked: TutorQuestion = { question };
      let courseId: string | undefined;
      if (materialId !== undefined) {
        await readBarrier(context, undefined);
        const material = queried(await getMaterial(context.store, caller.actor, materialId));
        const course = await context.store.get("courses", material.courseId);
        courseId = material.courseId;
        asked = {
          question,
          ...(course === undefined ? {} : { courseTitle: course.title }),
          material: { title: material.title, text: material.body },
        };
      }
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      let answer = "";
      for await (const piece of context.tutor.ask(asked, abort.signal)) {
        if (call.cancelled) return;
        answer += piece;
        call.write({ event: { $case: "token", value: { text: piece } } });
      }
      const { exchangeId } = await propose(context, {
        kind: "recordTutorExchange",
        ...stamp(context, caller.actor, idempotencyKey),
        exchangeId: randomUUID(),
        ...(courseId === undefined ? {} : { courseId }),
        ...(materialId === undefined ? {} : { materialId }),
        model: context.tutor.model,
        prompt: question,
        answer: recordableAnswer(answer),
      });
      call.write({ event: { $case: "done", value: { exchangeId, model: context.tutor.model } } });
    }),

    listTutorExchanges: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = optionalId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      let exchanges: TutorExchangeRecord[];
      if (courseId === undefined) {
        exchanges = queried(await listTutorExchanges(context.store, caller.actor));
      } else {
        const user = await context.store.get("users", caller.userId);
        if (user === undefined) throw new LmsCallError(status.PERMISSION_DENIED, "your account does not exist");
        const course = await ownedCourse(context.store, user, courseId);
        if (isRejection(course)) throw rejectionError(course);
        exchanges = (await context.store.list("tutorExchanges", "", { limit: maxScannedExchanges }))
          .map((entry) => entry.value)
          .filter((exchange) => exchange.courseId === courseId);
      }
      const { page, nextPageToken } = paginate(exchanges, request.pageSize, request.pageToken);
      return { exchanges: page.map(toTutorExchange), nextPageToken };
    }),
  };
}
