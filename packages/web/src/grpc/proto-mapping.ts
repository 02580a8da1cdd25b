import { lmsProto } from "@lectern/lms-service";
import type {
  Assignment,
  Course,
  CoursePage,
  DashboardData,
  FeedbackNote,
  FileRef,
  Grade,
  GradeChange,
  JoinCode,
  Material,
  MembershipKind,
  NeedsGradingItem,
  NodeRole,
  Question,
  QuestionStatus,
  Role,
  Submission,
  TutorExchange,
  User,
} from "../lms-api.js";

/**
 * Translations between lms.proto's messages and the web front's plain types. The proto leaves
 * every message field optional on the wire, so a missing required one is an error here (a service
 * bug), never a silently empty page.
 */

/** A message field the RPC always sets, or an error naming it. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the LMS service answered without ${what}`);
  return value;
}

const roles: ReadonlyMap<lmsProto.Role, Role> = new Map([
  [lmsProto.Role.ROLE_STUDENT, "student"],
  [lmsProto.Role.ROLE_INSTRUCTOR, "instructor"],
  [lmsProto.Role.ROLE_ADMIN, "admin"],
]);

export function roleFromProto(role: lmsProto.Role): Role {
  const mapped = roles.get(role);
  if (mapped === undefined) throw new Error(`the LMS service sent an unknown role (${role})`);
  return mapped;
}

export function roleToProto(role: Role): lmsProto.Role {
  for (const [proto, name] of roles) if (name === role) return proto;
  throw new Error(`no proto role for ${role}`);
}

export function userFromProto(user: lmsProto.User | undefined): User {
  const given = required(user, "a user");
  return {
    id: given.id,
    username: given.username,
    displayName: given.displayName,
    role: roleFromProto(given.role),
    createdAtMs: given.createdAtMs,
  };
}

export function fileFromProto(file: lmsProto.FileRef | undefined): FileRef {
  const given = required(file, "a file");
  return {
    fileId: given.fileId,
    name: given.name,
    contentType: given.contentType,
    sizeBytes: given.sizeBytes,
    sha256: given.sha256,
  };
}

export function courseFromProto(course: lmsProto.Course | undefined): Course {
  const given = required(course, "a course");
  return {
    id: given.id,
    title: given.title,
    description: given.description,
    instructorId: given.instructorId,
    createdAtMs: given.createdAtMs,
    studentCount: given.studentCount,
  };
}

export function joinCodeFromProto(code: lmsProto.JoinCode | undefined): JoinCode {
  const given = required(code, "a join code");
  return {
    code: given.code,
    courseId: given.courseId,
    createdAtMs: given.createdAtMs,
    expiresAtMs: given.expiresAtMs,
    revokedAtMs: given.revokedAtMs,
    timesUsed: given.timesUsed,
  };
}

export function assignmentFromProto(assignment: lmsProto.Assignment | undefined): Assignment {
  const given = required(assignment, "an assignment");
  return {
    id: given.id,
    courseId: given.courseId,
    title: given.title,
    description: given.description,
    dueAtMs: given.dueAtMs,
    maxPoints: given.maxPoints,
    createdAtMs: given.createdAtMs,
    gradesReleasedAtMs: given.gradesReleasedAtMs,
  };
}

export function submissionFromProto(submission: lmsProto.Submission | undefined): Submission {
  const given = required(submission, "a submission");
  return {
    id: given.id,
    assignmentId: given.assignmentId,
    courseId: given.courseId,
    studentId: given.studentId,
    attempt: given.attempt,
    text: given.text,
    files: given.files.map((file) => fileFromProto(file)),
    submittedAtMs: given.submittedAtMs,
    late: given.late,
  };
}

export function gradeFromProto(grade: lmsProto.Grade | undefined): Grade {
  const given = required(grade, "a grade");
  return {
    assignmentId: given.assignmentId,
    courseId: given.courseId,
    studentId: given.studentId,
    submissionId: given.submissionId,
    points: given.points,
    feedback: given.feedback,
    gradedBy: given.gradedBy,
    gradedAtMs: given.gradedAtMs,
    released: given.released,
  };
}

export function gradeChangeFromProto(change: lmsProto.GradeChange): GradeChange {
  return {
    logIndex: change.logIndex,
    assignmentId: change.assignmentId,
    studentId: change.studentId,
    changedBy: change.changedBy,
    changedAtMs: change.changedAtMs,
    ...(change.oldPoints === undefined ? {} : { oldPoints: change.oldPoints }),
    newPoints: change.newPoints,
    oldFeedback: change.oldFeedback,
    newFeedback: change.newFeedback,
  };
}

export function materialFromProto(material: lmsProto.Material | undefined): Material {
  const given = required(material, "a material");
  return {
    id: given.id,
    courseId: given.courseId,
    title: given.title,
    description: given.description,
    ...(given.file === undefined ? {} : { file: fileFromProto(given.file) }),
    postedBy: given.postedBy,
    postedAtMs: given.postedAtMs,
  };
}

export function feedbackNoteFromProto(note: lmsProto.FeedbackNote | undefined): FeedbackNote {
  const given = required(note, "a feedback note");
  return {
    id: given.id,
    courseId: given.courseId,
    studentId: given.studentId,
    authorId: given.authorId,
    text: given.text,
    createdAtMs: given.createdAtMs,
  };
}

export function tutorExchangeFromProto(exchange: lmsProto.TutorExchange): TutorExchange {
  return {
    id: exchange.id,
    userId: exchange.userId,
    courseId: exchange.courseId,
    materialId: exchange.materialId,
    question: exchange.question,
    answer: exchange.answer,
    model: exchange.model,
    askedAtMs: exchange.askedAtMs,
    finishedAtMs: exchange.finishedAtMs,
  };
}

export function questionStatusToProto(questionStatus: QuestionStatus | undefined): lmsProto.QuestionStatus {
  switch (questionStatus) {
    case "pending":
      return lmsProto.QuestionStatus.QUESTION_STATUS_PENDING;
    case "answered":
      return lmsProto.QuestionStatus.QUESTION_STATUS_ANSWERED;
    case undefined:
      return lmsProto.QuestionStatus.QUESTION_STATUS_UNSPECIFIED;
  }
}

export function questionFromProto(question: lmsProto.Question | undefined): Question {
  const given = required(question, "a question");
  return {
    id: given.id,
    courseId: given.courseId,
    askedBy: given.askedBy,
    text: given.text,
    status: given.status === lmsProto.QuestionStatus.QUESTION_STATUS_ANSWERED ? "answered" : "pending",
    askedAtMs: given.askedAtMs,
    answer: given.answer,
    answeredBy: given.answeredBy,
    answeredAtMs: given.answeredAtMs,
  };
}

const nodeRoles: ReadonlyMap<lmsProto.NodeRole, NodeRole> = new Map([
  [lmsProto.NodeRole.NODE_ROLE_FOLLOWER, "follower"],
  [lmsProto.NodeRole.NODE_ROLE_PRE_CANDIDATE, "pre-candidate"],
  [lmsProto.NodeRole.NODE_ROLE_CANDIDATE, "candidate"],
  [lmsProto.NodeRole.NODE_ROLE_LEADER, "leader"],
]);

export function nodeRoleFromProto(role: lmsProto.NodeRole): NodeRole {
  return nodeRoles.get(role) ?? "unknown";
}

const membershipKinds: ReadonlyMap<lmsProto.MembershipKind, MembershipKind> = new Map([
  [lmsProto.MembershipKind.MEMBERSHIP_KIND_VOTER, "voter"],
  [lmsProto.MembershipKind.MEMBERSHIP_KIND_OUTGOING_VOTER, "outgoing-voter"],
  [lmsProto.MembershipKind.MEMBERSHIP_KIND_LEARNER, "learner"],
]);

export function membershipKindFromProto(kind: lmsProto.MembershipKind): MembershipKind {
  return membershipKinds.get(kind) ?? "unknown";
}

/** GetCoursePage's answer: every part through the mapping its list RPC's items use. */
export function coursePageFromProto(page: lmsProto.GetCoursePageResponse): CoursePage {
  const viewerRole = roleFromProto(page.viewerRole);
  if (viewerRole === "admin") throw new Error("the LMS service sent a course page for an admin who is no member");
  return {
    detail: { course: courseFromProto(page.course), instructor: userFromProto(page.instructor) },
    viewerRole,
    assignments: page.assignments.map((assignment) => assignmentFromProto(assignment)),
    materials: page.materials.map((material) => materialFromProto(material)),
    questions: page.questions.map((question) => questionFromProto(question)),
    feedback: page.feedback.map((note) => feedbackNoteFromProto(note)),
    mySubmissions: page.mySubmissions.map((submission) => submissionFromProto(submission)),
    myGrades: page.myGrades.map((grade) => gradeFromProto(grade)),
    joinCodes: page.joinCodes.map((code) => joinCodeFromProto(code)),
    students: page.students.map((student) => userFromProto(student)),
  };
}

/** Needs-grading counts (GetDashboard's `needs_grading`, ListNeedsGrading's items). */
export function needsGradingFromProto(entries: readonly lmsProto.AssignmentGradingCount[]): NeedsGradingItem[] {
  return entries.map((entry): NeedsGradingItem => {
    const assignment = assignmentFromProto(entry.assignment);
    return {
      courseId: assignment.courseId,
      courseTitle: entry.courseTitle,
      assignmentId: assignment.id,
      assignmentTitle: assignment.title,
      dueAtMs: assignment.dueAtMs,
      ungradedCount: entry.ungradedCount,
      lateCount: entry.lateCount,
    };
  });
}

/** GetDashboard's answer. */
export function dashboardFromProto(dashboard: lmsProto.GetDashboardResponse): DashboardData {
  return {
    courses: dashboard.courses.map((course) => courseFromProto(course)),
    unsubmitted: dashboard.unsubmittedAssignments.map((assignment) => assignmentFromProto(assignment)),
    needsGrading: needsGradingFromProto(dashboard.needsGrading),
    pendingQuestions: dashboard.pendingQuestions.map((entry) => ({
      courseId: entry.courseId,
      count: entry.pendingCount,
    })),
  };
}
