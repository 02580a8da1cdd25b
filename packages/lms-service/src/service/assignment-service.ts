import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { isRejection } from "../domain/apply-context.js";
import { ownedCourse } from "../domain/authorization.js";
import { sha256Pattern } from "../domain/identifiers.js";
import { key, prefix } from "../domain/keys.js";
import {
  exportGradesCsv,
  getCoursePage,
  getCourseSummary,
  getGradeHistory,
  listGrades,
  listNeedsGrading,
  listSubmissions,
  type SubmissionView,
} from "../domain/queries.js";
import type { AssignmentRecord, GradeHistoryRecord } from "../domain/records.js";
import { type AssignmentServiceServer, type ExportGradesCsvChunk, ListNeedsGradingResponse } from "../gen/lms.js";
import { checkedAnswerSize } from "./answer-size.js";
import { invalidArgument, LmsCallError } from "./call-error.js";
import {
  authenticate,
  type Caller,
  checkIdempotencyKey,
  optionalId,
  paginate,
  propose,
  queried,
  readBarrier,
  requiredId,
  serverStream,
  stamp,
  unary,
} from "./call-helpers.js";
import { rejectionError } from "./error-mapping.js";
import { dueAtToDomain, toAssignment, toGrade, toGradeChange, toGradingCount, toSubmission } from "./proto-mapping.js";
import type { LmsServiceContext } from "./service-context.js";

/** Bytes of CSV per streamed chunk. */
export const csvChunkBytes = 64 * 1024;
/** Most history rows read for one course. */
const maxHistoryRows = 5000;

async function storedAssignment(context: LmsServiceContext, assignmentId: string): Promise<AssignmentRecord> {
  const assignment = await context.store.get("assignments", assignmentId);
  if (assignment === undefined) throw new LmsCallError(status.NOT_FOUND, `no assignment ${assignmentId}`);
  return assignment;
}

/** The course's assignments as the caller may see them (member check included). */
async function courseAssignments(context: LmsServiceContext, caller: Caller, courseId: string) {
  const page = queried(await getCoursePage(context.store, caller.actor, courseId));
  return page.assignments;
}

/** Only each student's latest attempt per assignment, in the original order. */
export function latestAttempts(views: readonly SubmissionView[]): SubmissionView[] {
  const latest = new Map<string, SubmissionView>();
  for (const view of views) {
    const slot = key(view.submission.assignmentId, view.submission.studentId);
    const seen = latest.get(slot);
    if (seen === undefined || seen.submission.version < view.submission.version) latest.set(slot, view);
  }
  const kept = new Set(latest.values());
  return views.filter((view) => kept.has(view));
}

function checkStudentFilter(caller: Caller, studentId: string | undefined): void {
  if (studentId !== undefined && caller.role === "student" && studentId !== caller.userId) {
    throw new LmsCallError(status.PERMISSION_DENIED, "a student sees only their own work");
  }
}

/** AssignmentService: assignments, submissions, grades, grade history and CSV export. */
export function assignmentService(context: LmsServiceContext): AssignmentServiceServer {
  return {
    createAssignment: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const { assignmentId } = await propose(context, {
        kind: "createAssignment",
        ...stamp(context, caller.actor, idempotencyKey),
        assignmentId: randomUUID(),
        courseId: requiredId("course_id", request.courseId),
        title: request.title.trim(),
        description: request.description,
        dueAt: dueAtToDomain(request.dueAtMs),
        maxPoints: request.maxPoints,
      });
      return { assignment: toAssignment(await storedAssignment(context, assignmentId)) };
    }),

    updateAssignment: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const assignmentId = requiredId("assignment_id", request.assignmentId);
      // Unset fields stay absent from the command, so apply keeps their stored values.
      await propose(context, {
        kind: "updateAssignment",
        ...stamp(context, caller.actor, idempotencyKey),
        assignmentId,
        ...(request.title === undefined ? {} : { title: request.title.trim() }),
        ...(request.description === undefined ? {} : { description: request.description }),
        ...(request.dueAtMs === undefined ? {} : { dueAt: dueAtToDomain(request.dueAtMs) }),
        ...(request.maxPoints === undefined ? {} : { maxPoints: request.maxPoints }),
      });
      return { assignment: toAssignment(await storedAssignment(context, assignmentId)) };
    }),

    listAssignments: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      const assignments = await courseAssignments(context, caller, courseId);
      const { page, nextPageToken } = paginate(assignments, request.pageSize, request.pageToken);
      return { assignments: page.map(toAssignment), nextPageToken };
    }),

    getAssignment: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const assignmentId = requiredId("assignment_id", request.assignmentId);
      await readBarrier(context, request.consistency);
      const assignment = await storedAssignment(context, assignmentId);
      const summary = await getCourseSummary(context.store, caller.actor, assignment.courseId);
      // A hidden course hides its assignments: answer as for a missing one, without the course id.
      if (summary.status === "not-found") throw new LmsCallError(status.NOT_FOUND, `no assignment ${assignmentId}`);
      queried(summary);
      return { assignment: toAssignment(assignment) };
    }),

    submit: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      for (const fileId of request.fileIds) {
        if (!sha256Pattern.test(fileId))
          throw invalidArgument("file_ids", "must hold file ids from FileService.Upload");
      }
      const { submissionId } = await propose(context, {
        kind: "submit",
        ...stamp(context, caller.actor, idempotencyKey),
        submissionId: randomUUID(),
        assignmentId: requiredId("assignment_id", request.assignmentId),
        fileHashes: request.fileIds,
        comment: request.text,
      });
      const submission = await context.store.get("submissions", submissionId);
      if (submission === undefined) throw new Error(`submission ${submissionId} was accepted but is not in the store`);
      return { submission: toSubmission(submission) };
    }),

    listSubmissions: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const assignmentId = optionalId("assignment_id", request.assignmentId);
      const courseId = optionalId("course_id", request.courseId);
      const studentId = optionalId("student_id", request.studentId);
      checkStudentFilter(caller, studentId);
      await readBarrier(context, request.consistency);
      let assignmentIds: string[];
      if (assignmentId !== undefined) assignmentIds = [assignmentId];
      else if (courseId !== undefined) {
        assignmentIds = (await courseAssignments(context, caller, courseId)).map((a) => a.assignmentId);
      } else throw invalidArgument("course_id", "or assignment_id must be set");
      let views: SubmissionView[] = [];
      for (const id of assignmentIds) views.push(...queried(await listSubmissions(context.store, caller.actor, id)));
      if (studentId !== undefined) views = views.filter((view) => view.submission.studentId === studentId);
      if (!request.includeAllAttempts) views = latestAttempts(views);
      const { page, nextPageToken } = paginate(views, request.pageSize, request.pageToken);
      return { submissions: page.map((view) => toSubmission(view.submission)), nextPageToken };
    }),

    getSubmissionHistory: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const assignmentId = requiredId("assignment_id", request.assignmentId);
      const studentId = optionalId("student_id", request.studentId) ?? caller.userId;
      checkStudentFilter(caller, studentId);
      await readBarrier(context, request.consistency);
      const views = queried(await listSubmissions(context.store, caller.actor, assignmentId));
      const attempts = views
        .filter((view) => view.submission.studentId === studentId)
        .sort((a, b) => a.submission.version - b.submission.version);
      return { attempts: attempts.map((view) => toSubmission(view.submission)) };
    }),

    gradeSubmission: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const assignmentId = requiredId("assignment_id", request.assignmentId);
      const studentId = requiredId("student_id", request.studentId);
      const submissionId = optionalId("submission_id", request.submissionId);
      if (submissionId !== undefined) {
        // The domain grades the latest attempt; refuse a grade meant for an older one.
        const latest = await context.store.get("latestSubmissions", key(assignmentId, studentId));
        if (latest !== undefined && latest.submissionId !== submissionId) {
          throw new LmsCallError(status.FAILED_PRECONDITION, "only the student's latest attempt can be graded");
        }
      }
      await propose(context, {
        kind: "grade",
        ...stamp(context, caller.actor, idempotencyKey),
        assignmentId,
        studentId,
        points: request.points,
        feedback: request.feedback,
      });
      const grade = await context.store.get("grades", key(assignmentId, studentId));
      if (grade === undefined) throw new Error("a grade was accepted but is not in the store");
      const assignment = await storedAssignment(context, assignmentId);
      return { grade: toGrade(grade, assignment.gradesReleasedAt !== undefined) };
    }),

    setGradesReleased: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const idempotencyKey = checkIdempotencyKey(request.idempotencyKey);
      const assignmentId = requiredId("assignment_id", request.assignmentId);
      await propose(context, {
        kind: "releaseGrades",
        ...stamp(context, caller.actor, idempotencyKey),
        assignmentId,
        released: request.released,
      });
      return { assignment: toAssignment(await storedAssignment(context, assignmentId)) };
    }),

    listGrades: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      const assignmentId = optionalId("assignment_id", request.assignmentId);
      const studentId = optionalId("student_id", request.studentId);
      checkStudentFilter(caller, studentId);
      await readBarrier(context, request.consistency);
      const grades = queried(await listGrades(context.store, caller.actor, courseId)).filter(
        (grade) =>
          (assignmentId === undefined || grade.assignmentId === assignmentId) &&
          (studentId === undefined || grade.studentId === studentId),
      );
      const { page, nextPageToken } = paginate(grades, request.pageSize, request.pageToken);
      const released = new Map<string, boolean>();
      const out = [];
      for (const grade of page) {
        if (!released.has(grade.assignmentId)) {
          const assignment = await context.store.get("assignments", grade.assignmentId);
          released.set(grade.assignmentId, assignment?.gradesReleasedAt !== undefined);
        }
        out.push(toGrade(grade, released.get(grade.assignmentId) === true));
      }
      return { grades: out, nextPageToken };
    }),

    getGradeHistory: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      const assignmentId = optionalId("assignment_id", request.assignmentId);
      const studentId = optionalId("student_id", request.studentId);
      await readBarrier(context, request.consistency);
      const rows = await gradeHistoryRows(context, caller, courseId, assignmentId, studentId);
      const { page, nextPageToken } = paginate(rows, request.pageSize, request.pageToken);
      return { changes: page.map(toGradeChange), nextPageToken };
    }),

    exportGradesCsv: serverStream(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = requiredId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      const csv = Buffer.from(queried(await exportGradesCsv(context.store, caller.actor, courseId)), "utf8");
      for (let offset = 0; offset === 0 || offset < csv.byteLength; offset += csvChunkBytes) {
        const chunk: ExportGradesCsvChunk = {
          data: csv.subarray(offset, offset + csvChunkBytes),
          fileName: offset === 0 ? `grades-${courseId}.csv` : "",
        };
        call.write(chunk);
      }
    }),

    // One read barrier for every course's queue; the counts are GetDashboard's (one domain rule).
    listNeedsGrading: unary(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      const courseId = optionalId("course_id", request.courseId);
      await readBarrier(context, request.consistency);
      const counts = queried(await listNeedsGrading(context.store, caller.actor, courseId));
      const items = counts.map((count) => toGradingCount(count, request.maxDescriptionChars));
      return checkedAnswerSize(
        { items },
        ListNeedsGradingResponse.encode,
        "this grading queue",
        "ask with max_description_chars, or for one course at a time",
      );
    }),
  };
}

/**
 * Grade changes of a course, oldest first: the owner may see every row (narrowed by assignment
 * and/or student); anyone else goes through the domain query (a student, their own released rows).
 */
async function gradeHistoryRows(
  context: LmsServiceContext,
  caller: Caller,
  courseId: string,
  assignmentId: string | undefined,
  studentId: string | undefined,
): Promise<GradeHistoryRecord[]> {
  const user = await context.store.get("users", caller.userId);
  if (user === undefined) throw new LmsCallError(status.PERMISSION_DENIED, "your account does not exist");
  const course = await ownedCourse(context.store, user, courseId);
  if (isRejection(course)) {
    if (course.status === "not-found" || assignmentId === undefined) throw rejectionError(course);
    const assignment = await storedAssignment(context, assignmentId);
    if (assignment.courseId !== courseId)
      throw new LmsCallError(status.NOT_FOUND, `no assignment ${assignmentId} in this course`);
    return queried(await getGradeHistory(context.store, caller.actor, assignmentId, studentId ?? caller.userId));
  }
  const assignmentIds =
    assignmentId !== undefined
      ? [assignmentId]
      : (await context.store.list("courseAssignments", prefix(courseId), { limit: maxHistoryRows })).map(
          (ref) => ref.value.assignmentId,
        );
  const rows: GradeHistoryRecord[] = [];
  for (const id of assignmentIds) {
    const assignment = await context.store.get("assignments", id);
    if (assignment === undefined || assignment.courseId !== courseId) continue;
    const scan = studentId === undefined ? prefix(id) : prefix(id, studentId);
    for (const row of await context.store.list("gradeHistory", scan, { limit: maxHistoryRows })) rows.push(row.value);
  }
  return rows.sort((a, b) => a.logIndex - b.logIndex);
}
