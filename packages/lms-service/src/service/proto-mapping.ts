import type { Role as DomainRole } from "../domain/commands.js";
import { prefix } from "../domain/keys.js";
import { maxTimestampMs } from "../domain/limits.js";
import type { AssignmentGradingCount as DomainGradingCount, PublicUser } from "../domain/queries.js";
import type {
  AssignmentRecord,
  AttachedFile,
  CourseRecord,
  FeedbackNoteRecord,
  GradeHistoryRecord,
  GradeRecord,
  JoinCodeRecord,
  MaterialRecord,
  QuestionRecord,
  SubmissionRecord,
  TutorExchangeRecord,
  UserRecord,
} from "../domain/records.js";
import {
  type Assignment,
  type AssignmentGradingCount,
  type Course,
  type FeedbackNote,
  type FileRef,
  type Grade,
  type GradeChange,
  type JoinCode,
  type Material,
  type Question,
  QuestionStatus,
  Role,
  type Submission,
  type TutorExchange,
  type User,
} from "../gen/lms.js";
import type { LmsReader } from "../store/lms-store.js";
import { withDescriptionExcerpt } from "./description-excerpt.js";

/** Stored records as the client API's messages. Pure functions except the few that read the store. */

const protoRoles: Readonly<Record<DomainRole, Role>> = {
  student: Role.ROLE_STUDENT,
  instructor: Role.ROLE_INSTRUCTOR,
  admin: Role.ROLE_ADMIN,
};

export function toProtoRole(role: DomainRole): Role {
  return protoRoles[role];
}

export function toUser(user: UserRecord | PublicUser): User {
  return {
    id: user.userId,
    username: user.username,
    displayName: user.displayName,
    role: toProtoRole(user.role),
    createdAtMs: "createdAt" in user ? user.createdAt : 0,
  };
}

/** A user by id with the creation time (the public view lacks it). */
export async function loadUser(reader: LmsReader, userId: string): Promise<User | undefined> {
  const user = await reader.get("users", userId);
  return user === undefined ? undefined : toUser(user);
}

/** Most members counted for a course's `student_count`. */
const maxCountedMembers = 5000;

export async function toCourse(reader: LmsReader, course: CourseRecord): Promise<Course> {
  const members = await reader.list("courseMembers", prefix(course.courseId), { limit: maxCountedMembers });
  return {
    id: course.courseId,
    title: course.title,
    description: course.description,
    instructorId: course.ownerId,
    createdAtMs: course.createdAt,
    studentCount: members.filter((member) => member.value.role === "student").length,
  };
}

export function toJoinCode(code: JoinCodeRecord): JoinCode {
  return {
    code: code.code,
    courseId: code.courseId,
    createdAtMs: code.createdAt,
    expiresAtMs: code.expiresAt ?? 0,
    revokedAtMs: code.revokedAt ?? 0,
    timesUsed: code.timesUsed ?? 0,
  };
}

/**
 * The domain needs a due date; lms.proto's 0 ("no due date") is stored as the latest timestamp,
 * which no submission can be after.
 */
export function dueAtToDomain(dueAtMs: number): number {
  return dueAtMs === 0 ? maxTimestampMs : dueAtMs;
}

export function toAssignment(assignment: AssignmentRecord): Assignment {
  return {
    id: assignment.assignmentId,
    courseId: assignment.courseId,
    title: assignment.title,
    description: assignment.description,
    dueAtMs: assignment.dueAt === maxTimestampMs ? 0 : assignment.dueAt,
    maxPoints: assignment.maxPoints,
    createdAtMs: assignment.createdAt,
    gradesReleasedAtMs: assignment.gradesReleasedAt ?? 0,
  };
}

/**
 * One assignment's needs-grading counts (GetDashboard's `needs_grading`, ListNeedsGrading's items),
 * the assignment's description cut to `maxDescriptionChars` (0: whole; description-excerpt.ts).
 */
export function toGradingCount(count: DomainGradingCount, maxDescriptionChars: number): AssignmentGradingCount {
  return {
    assignment: withDescriptionExcerpt(toAssignment(count.assignment), maxDescriptionChars),
    ungradedCount: count.ungraded,
    lateCount: count.late,
    courseTitle: count.courseTitle,
  };
}

export function toFileRef(file: AttachedFile): FileRef {
  return { fileId: file.sha256, name: file.name, contentType: file.mime, sizeBytes: file.size, sha256: file.sha256 };
}

export function toSubmission(submission: SubmissionRecord): Submission {
  return {
    id: submission.submissionId,
    assignmentId: submission.assignmentId,
    courseId: submission.courseId,
    studentId: submission.studentId,
    attempt: submission.version,
    text: submission.comment,
    files: submission.files.map(toFileRef),
    submittedAtMs: submission.submittedAt,
    late: submission.late,
  };
}

export function toGrade(grade: GradeRecord, released: boolean): Grade {
  return {
    assignmentId: grade.assignmentId,
    courseId: grade.courseId,
    studentId: grade.studentId,
    submissionId: grade.submissionId ?? "",
    points: grade.points,
    feedback: grade.feedback,
    gradedBy: grade.gradedBy,
    gradedAtMs: grade.gradedAt,
    released,
  };
}

export function toGradeChange(change: GradeHistoryRecord): GradeChange {
  return {
    logIndex: change.logIndex,
    assignmentId: change.assignmentId,
    studentId: change.studentId,
    changedBy: change.changedBy,
    changedAtMs: change.changedAt,
    ...(change.old === null ? {} : { oldPoints: change.old.points }),
    newPoints: change.new.points,
    oldFeedback: change.old?.feedback ?? "",
    newFeedback: change.new.feedback,
  };
}

export function toFeedbackNote(note: FeedbackNoteRecord): FeedbackNote {
  return {
    id: note.noteId,
    courseId: note.courseId,
    studentId: note.studentId ?? "",
    authorId: note.authorId,
    text: note.text,
    createdAtMs: note.postedAt,
  };
}

export function toMaterial(material: MaterialRecord): Material {
  return {
    id: material.materialId,
    courseId: material.courseId,
    title: material.title,
    description: material.body,
    file: material.file === undefined ? undefined : toFileRef(material.file),
    postedBy: material.postedBy,
    postedAtMs: material.postedAt,
  };
}

export function toQuestion(question: QuestionRecord): Question {
  return {
    id: question.questionId,
    courseId: question.courseId,
    askedBy: question.askedBy,
    text: question.text,
    status:
      question.status === "answered" ? QuestionStatus.QUESTION_STATUS_ANSWERED : QuestionStatus.QUESTION_STATUS_PENDING,
    askedAtMs: question.askedAt,
    answer: question.answer ?? "",
    answeredBy: question.answeredBy ?? "",
    answeredAtMs: question.answeredAt ?? 0,
  };
}

export function toTutorExchange(exchange: TutorExchangeRecord): TutorExchange {
  return {
    id: exchange.exchangeId,
    userId: exchange.userId,
    courseId: exchange.courseId ?? "",
    materialId: exchange.materialId ?? "",
    question: exchange.prompt,
    answer: exchange.answer,
    model: exchange.model,
    askedAtMs: exchange.at,
    finishedAtMs: exchange.at,
  };
}

/** Whether an assignment's grades are visible to students. */
export async function gradesReleased(reader: LmsReader, assignmentId: string): Promise<boolean> {
  return (await reader.get("assignments", assignmentId))?.gradesReleasedAt !== undefined;
}
