import { accepted, type Handler, isRejection, signedIn } from "../apply-context.js";
import type { WriteLayer } from "../apply-transaction.js";
import { isEnrolledStudent, ownedAssignment, ownedCourse } from "../authorization.js";
import { key, prefix } from "../keys.js";
import type { AttachedFile, GradeRecord, SubmissionRecord } from "../records.js";
import { conflict, forbidden, invalid, notFound } from "../results.js";

/** The course owner adds an assignment. */
export const createAssignment: Handler<"createAssignment"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const course = await ownedCourse(context.tx, actor, command.courseId);
  if (isRejection(course)) return course;
  if ((await context.tx.get("assignments", command.assignmentId)) !== undefined) {
    return conflict(`assignment ${command.assignmentId} exists`);
  }
  context.tx.put("assignments", command.assignmentId, {
    assignmentId: command.assignmentId,
    courseId: course.courseId,
    title: command.title,
    description: command.description,
    dueAt: command.dueAt,
    maxPoints: command.maxPoints,
    createdBy: actor.userId,
    createdAt: command.at,
  });
  context.tx.put("courseAssignments", key(course.courseId, command.assignmentId), {
    assignmentId: command.assignmentId,
  });
  return accepted("createAssignment", { assignmentId: command.assignmentId });
};

/** Grades read per page while looking for an assignment's highest grade. */
const gradePageSize = 500;

/** The highest points given for `assignmentId` so far, or 0 when nobody has a grade yet. */
async function highestGrade(tx: WriteLayer, assignmentId: string): Promise<number> {
  let highest = 0;
  let startAfter: string | undefined;
  for (;;) {
    const page = await tx.list("grades", prefix(assignmentId), { startAfter, limit: gradePageSize });
    for (const { value } of page) highest = Math.max(highest, value.points);
    if (page.length < gradePageSize) return highest;
    startAfter = page[page.length - 1]?.key;
  }
}

/**
 * The course owner changes an assignment's title, description, due date or max points; absent
 * fields keep their value, and an update that names no field is refused (most likely a client bug).
 *
 * Two choices, both decided here so every replica agrees:
 * - A new due date does not recompute the `late` flag of earlier submissions: it records whether
 *   the work came in after the deadline in force at that moment, which is what the student was
 *   told when they submitted, and grades may already have been given on that basis. Later
 *   submissions are judged against the new date.
 * - `maxPoints` may not drop below the highest grade already given for the assignment (that grade
 *   would then be out of range on every read path); the owner lowers that grade first.
 */
export const updateAssignment: Handler<"updateAssignment"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const owned = await ownedAssignment(context.tx, actor, command.assignmentId);
  if (isRejection(owned)) return owned;
  const { title, description, dueAt, maxPoints } = command;
  if (title === undefined && description === undefined && dueAt === undefined && maxPoints === undefined) {
    return invalid("name at least one field to change: title, description, due date or max points");
  }
  const { assignment } = owned;
  if (maxPoints !== undefined && maxPoints < assignment.maxPoints) {
    const highest = await highestGrade(context.tx, assignment.assignmentId);
    if (maxPoints < highest) {
      return conflict(
        `max points cannot drop to ${maxPoints}: a student already has ${highest} points; lower that grade first`,
      );
    }
  }
  context.tx.put("assignments", assignment.assignmentId, {
    ...assignment,
    ...(title === undefined ? {} : { title }),
    ...(description === undefined ? {} : { description }),
    ...(dueAt === undefined ? {} : { dueAt }),
    ...(maxPoints === undefined ? {} : { maxPoints }),
  });
  return accepted("updateAssignment", { assignmentId: assignment.assignmentId });
};

/**
 * An enrolled student submits files they uploaded. Every submission is kept as a new version;
 * `late` compares the stamped time with the due date (decided here, identically on every node).
 */
export const submit: Handler<"submit"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  if (actor.role !== "student") return forbidden("only students submit");
  const { tx } = context;
  const assignment = await tx.get("assignments", command.assignmentId);
  // Not enrolled: the course and its assignments are hidden, so it answers like a missing one.
  if (assignment === undefined || !(await isEnrolledStudent(tx, assignment.courseId, actor.userId))) {
    return notFound(`no assignment ${command.assignmentId}`);
  }
  if ((await tx.get("submissions", command.submissionId)) !== undefined) {
    return conflict(`submission ${command.submissionId} exists`);
  }
  if (command.fileHashes.length === 0 && command.comment.trim() === "") {
    return invalid("a submission needs a file or some text");
  }
  const files: AttachedFile[] = [];
  for (const sha256 of command.fileHashes) {
    // Only your own uploads: knowing a hash must not let anyone attach (and so read) a file.
    const owned = await tx.get("fileOwners", key(sha256, actor.userId));
    if (owned === undefined) return forbidden(`you have not uploaded the file ${sha256}`);
    files.push({ sha256, name: owned.name, mime: owned.mime, size: owned.size });
  }
  const latestKey = key(assignment.assignmentId, actor.userId);
  const previous = await tx.get("latestSubmissions", latestKey);
  const version = (previous?.version ?? 0) + 1;
  const submission: SubmissionRecord = {
    submissionId: command.submissionId,
    assignmentId: assignment.assignmentId,
    courseId: assignment.courseId,
    studentId: actor.userId,
    version,
    files,
    comment: command.comment,
    submittedAt: command.at,
    late: command.at > assignment.dueAt,
  };
  tx.put("submissions", submission.submissionId, submission);
  tx.put("submissionVersions", key(assignment.assignmentId, actor.userId, version), {
    submissionId: submission.submissionId,
  });
  tx.put("latestSubmissions", latestKey, {
    submissionId: submission.submissionId,
    version,
    submittedAt: submission.submittedAt,
    late: submission.late,
  });
  for (const file of files) {
    tx.put("fileRefs", key(file.sha256, submission.courseId, "submission", submission.submissionId), {
      sha256: file.sha256,
      courseId: submission.courseId,
      kind: "submission",
      refId: submission.submissionId,
      studentId: actor.userId,
    });
  }
  return accepted("submit", { submissionId: submission.submissionId, version, late: submission.late });
};

/**
 * The course owner grades an enrolled student (0..maxPoints). The grade is replaced and a history
 * row keyed by this entry's log index records who, when, old -> new.
 */
export const grade: Handler<"grade"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const owned = await ownedAssignment(context.tx, actor, command.assignmentId);
  if (isRejection(owned)) return owned;
  const { assignment } = owned;
  const { tx } = context;
  if (!(await isEnrolledStudent(tx, assignment.courseId, command.studentId))) {
    return notFound(`student ${command.studentId} is not enrolled in this course`);
  }
  if (command.points > assignment.maxPoints) {
    return invalid(`points must be from 0 to ${assignment.maxPoints}, got ${command.points}`);
  }
  const gradeKey = key(assignment.assignmentId, command.studentId);
  const previous = await tx.get("grades", gradeKey);
  const latest = await tx.get("latestSubmissions", gradeKey);
  const record: GradeRecord = {
    assignmentId: assignment.assignmentId,
    courseId: assignment.courseId,
    studentId: command.studentId,
    points: command.points,
    feedback: command.feedback,
    gradedBy: actor.userId,
    gradedAt: command.at,
    logIndex: context.logIndex,
    ...(latest === undefined ? {} : { submissionId: latest.submissionId }),
  };
  tx.put("grades", gradeKey, record);
  tx.put("gradeHistory", key(assignment.assignmentId, command.studentId, context.logIndex), {
    logIndex: context.logIndex,
    assignmentId: assignment.assignmentId,
    studentId: command.studentId,
    changedBy: actor.userId,
    changedAt: command.at,
    old: previous === undefined ? null : { points: previous.points, feedback: previous.feedback },
    new: { points: command.points, feedback: command.feedback },
  });
  return accepted("grade", {
    assignmentId: assignment.assignmentId,
    studentId: command.studentId,
    historyIndex: context.logIndex,
  });
};

/**
 * The course owner makes an assignment's grades visible to students, or hides them again
 * (`released: false`); either twice in a row is fine. Hiding drops `gradesReleasedAt`, the one
 * thing every read path checks, so no path shows a student a hidden grade.
 */
export const releaseGrades: Handler<"releaseGrades"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const owned = await ownedAssignment(context.tx, actor, command.assignmentId);
  if (isRejection(owned)) return owned;
  const { gradesReleasedAt, ...assignment } = owned.assignment;
  if (command.released === false) {
    if (gradesReleasedAt !== undefined) context.tx.put("assignments", command.assignmentId, assignment);
  } else if (gradesReleasedAt === undefined) {
    context.tx.put("assignments", command.assignmentId, { ...assignment, gradesReleasedAt: command.at });
  }
  return accepted("releaseGrades", { assignmentId: command.assignmentId });
};
