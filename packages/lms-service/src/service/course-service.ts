import { randomInt, randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { usernamePattern } from "../domain/identifiers.js";
import { getCourse, getCoursePage, listMyCourses } from "../domain/queries.js";
import type { CourseServiceServer } from "../gen/lms.js";
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
import { checkedCoursePageSize, checkedDashboardSize, coursePageFor, dashboardFor } from "./page-reads.js";
import { loadUser, toCourse, toJoinCode } from "./proto-mapping.js";
import type { LmsServiceContext } from "./service-context.js";

/** Characters of a generated join code: upper-case letters and digits without look-alikes. */
const joinCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
export const joinCodeChars = 8;
/** Fresh codes tried when a generated one happens to be taken. */
const joinCodeAttempts = 3;

/** A random join code, drawn by the accepting node (the domain decides uniqueness in apply). */
export function newJoinCode(): string {
  let code = "";
  for (let i = 0; i < joinCodeChars; i++) code += joinCodeAlphabet[randomInt(joinCodeAlphabet.length)];
  return code;
}

function normalizedJoinCode(raw: string): string {
  const code = raw.trim().toUpperCase();
  if (!/^[A-Z0-9]{6,16}$/.test(code)) throw invalidArgument("code", "must be a join code of 6 to 16 letters or digits");
  return code;
}

async function storedCourse(context: LmsServiceContext, courseId: string) {
  const course = await context.store.get("courses", courseId);
  if (course === undefined) throw new LmsCallError(status.NOT_FOUND, `no course ${courseId}`);
  return toCourse(context.store, course);
}

async function storedJoinCode(context: LmsServiceContext, code: string) {
  const record = await context.store.get("joinCodes", code);
  if (record === undefined) throw new LmsCallError(status.NOT_FOUND, `no join code ${code}`);
  return toJoinCode(record);
}

/** CourseService: courses, join codes and enrolment. */
export function courseService(context: LmsServiceContext): CourseServiceServer {
  return {
    createCourse: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      // Who may name an owner, and whether it is an instructor, is decided in apply.
      const ownerId = optionalId("instructor_id", request.instructorId);
      const { courseId } = await propose(context, {
        kind: "createCourse",
        ...stamp(context, caller.actor, idempotencyKey),
        courseId: randomUUID(),
        title: request.title.trim(),
        description: request.description,
        ...(ownerId === undefined ? {} : { ownerId }),
      });
      return { course: await storedCourse(context, courseId) };
    }),

    listCourses: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      await readBarrier(context, request.consistency);
      const summaries = queried(await listMyCourses(context.store, caller.actor));
      const { page, nextPageToken } = paginate(summaries, request.pageSize, request.pageToken);
      const courses = [];
      for (const summary of page) courses.push(await toCourse(context.store, summary.course));
      return { courses, nextPageToken };
    }),

    getCourse: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      const { course } = queried(await getCourse(context.store, caller.actor, courseId));
      return {
        course: await toCourse(context.store, course),
        instructor: await loadUser(context.store, course.ownerId),
      };
    }),

    createJoinCode: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const courseId = requiredId("course_id", request.courseId);
      for (let attempt = 1; ; attempt++) {
        try {
          const { code } = await propose(context, {
            kind: "createJoinCode",
            ...stamp(context, caller.actor, idempotencyKey),
            courseId,
            code: newJoinCode(),
            ...(request.expiresAtMs === 0 ? {} : { expiresAt: request.expiresAtMs }),
          });
          return { joinCode: await storedJoinCode(context, code) };
        } catch (error) {
          // A refused command stores nothing under the key, so a fresh code may reuse it.
          const taken = error instanceof LmsCallError && error.message.includes("join code is taken");
          if (!taken || attempt >= joinCodeAttempts) throw error;
        }
      }
    }),

    revokeJoinCode: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const code = normalizedJoinCode(request.code);
      const result = await propose(context, {
        kind: "revokeJoinCode",
        ...stamp(context, caller.actor, idempotencyKey),
        code,
      });
      return { joinCode: await storedJoinCode(context, result.code) };
    }),

    listJoinCodes: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      const page = queried(await getCoursePage(context.store, caller.actor, courseId));
      if (page.joinCodes === undefined) {
        throw new LmsCallError(status.PERMISSION_DENIED, "only the course's instructor sees its join codes");
      }
      return { joinCodes: page.joinCodes.map(toJoinCode) };
    }),

    joinCourse: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const { courseId } = await propose(context, {
        kind: "joinByCode",
        ...stamp(context, caller.actor, idempotencyKey),
        code: normalizedJoinCode(request.code),
      });
      return { course: await storedCourse(context, courseId) };
    }),

    enrolStudent: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, undefined);
      const username = request.username.trim().toLowerCase();
      if (!usernamePattern.test(username)) throw invalidArgument("username", "is not a valid username");
      const ref = await context.store.get("usernames", username);
      if (ref === undefined) throw new LmsCallError(status.NOT_FOUND, `no user ${request.username}`);
      const { studentId } = await propose(context, {
        kind: "enrolStudent",
        ...stamp(context, caller.actor, idempotencyKey),
        courseId,
        studentId: ref.userId,
      });
      return { student: await loadUser(context.store, studentId) };
    }),

    unenrolStudent: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      await propose(context, {
        kind: "unenrolStudent",
        ...stamp(context, caller.actor, idempotencyKey),
        courseId: requiredId("course_id", request.courseId),
        studentId: requiredId("student_id", request.studentId),
      });
      return {};
    }),

    // One read barrier for the whole page: the reason these two RPCs exist (page-reads.ts). A page
    // too large for one message is refused here, before grpc-js would send it for the client to drop.
    getCoursePage: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      return checkedCoursePageSize(await coursePageFor(context, caller, courseId));
    }),

    getDashboard: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      await readBarrier(context, request.consistency);
      return checkedDashboardSize(await dashboardFor(context, caller, request.maxDescriptionChars));
    }),
  };
}
