import { type ApplyContext, accepted, type Handler, isRejection, signedIn } from "../apply-context.js";
import type { WriteLayer } from "../apply-transaction.js";
import { isEnrolledStudent, ownedCourse } from "../authorization.js";
import { key } from "../keys.js";
import type { CourseRecord, MembershipRecord, MembershipSource, UserRecord } from "../records.js";
import { conflict, forbidden, invalid, notFound, type Rejection } from "../results.js";

function addMember(tx: WriteLayer, membership: MembershipRecord): void {
  tx.put("courseMembers", key(membership.courseId, membership.userId), membership);
  tx.put("userCourses", key(membership.userId, membership.courseId), membership);
}

function enrol(tx: WriteLayer, courseId: string, userId: string, at: number, source: MembershipSource): void {
  addMember(tx, { courseId, userId, role: "student", since: at, source });
}

/**
 * The user who will own a new course: the actor (an instructor or an admin) when the command names
 * no owner, else the named instructor, which only an admin may name (lms.proto CreateCourse: "the
 * caller (or `instructor_id`, admins only) owns it").
 */
async function courseOwner(
  context: ApplyContext,
  actor: UserRecord,
  ownerId: string | undefined,
): Promise<UserRecord | Rejection> {
  if (ownerId === undefined) {
    return actor.role === "student" ? forbidden("only instructors and admins create courses") : actor;
  }
  if (actor.role !== "admin") return forbidden("only an admin may create a course on behalf of an instructor");
  const owner = await context.tx.get("users", ownerId);
  if (owner === undefined) return notFound(`instructor_id names no user (${ownerId})`);
  if (owner.role !== "instructor") return invalid(`instructor_id names ${owner.username}, who is not an instructor`);
  return owner;
}

/** An instructor or admin creates a course and owns it, or an admin creates one owned by an instructor. */
export const createCourse: Handler<"createCourse"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const owner = await courseOwner(context, actor, command.ownerId);
  if (isRejection(owner)) return owner;
  const { tx } = context;
  if ((await tx.get("courses", command.courseId)) !== undefined) return conflict(`course ${command.courseId} exists`);
  const course: CourseRecord = {
    courseId: command.courseId,
    title: command.title,
    description: command.description,
    ownerId: owner.userId,
    createdAt: command.at,
  };
  tx.put("courses", course.courseId, course);
  addMember(tx, {
    courseId: course.courseId,
    userId: owner.userId,
    role: "instructor",
    since: command.at,
    source: "owner",
  });
  return accepted("createCourse", { courseId: course.courseId });
};

/** The owner creates a join code; a taken code is a conflict (the node draws another). */
export const createJoinCode: Handler<"createJoinCode"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const course = await ownedCourse(context.tx, actor, command.courseId);
  if (isRejection(course)) return course;
  if (command.expiresAt !== undefined && command.expiresAt <= command.at) {
    return invalid("a join code must expire in the future");
  }
  if ((await context.tx.get("joinCodes", command.code)) !== undefined) return conflict("that join code is taken");
  context.tx.put("joinCodes", command.code, {
    code: command.code,
    courseId: course.courseId,
    createdBy: actor.userId,
    createdAt: command.at,
    ...(command.expiresAt === undefined ? {} : { expiresAt: command.expiresAt }),
  });
  context.tx.put("courseJoinCodes", key(course.courseId, command.code), { code: command.code });
  return accepted("createJoinCode", { code: command.code, courseId: course.courseId });
};

/** The owner revokes a join code; revoking twice is fine. */
export const revokeJoinCode: Handler<"revokeJoinCode"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const joinCode = await context.tx.get("joinCodes", command.code);
  if (joinCode === undefined) return notFound("no such join code");
  const course = await ownedCourse(context.tx, actor, joinCode.courseId);
  if (isRejection(course)) return course.status === "not-found" ? notFound("no such join code") : course;
  if (joinCode.revokedAt === undefined)
    context.tx.put("joinCodes", command.code, { ...joinCode, revokedAt: command.at });
  return accepted("revokeJoinCode", { code: command.code });
};

/** A student joins with a live (not revoked, not expired) code. */
export const joinByCode: Handler<"joinByCode"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  if (actor.role !== "student") return forbidden("only students join courses by code");
  const joinCode = await context.tx.get("joinCodes", command.code);
  if (joinCode === undefined) return notFound("that join code is not valid");
  // lms.proto: a revoked (or expired) code is FAILED_PRECONDITION, not NOT_FOUND; it names no course.
  if (joinCode.revokedAt !== undefined) return conflict("that join code was revoked; ask the instructor for a new one");
  if (joinCode.expiresAt !== undefined && command.at >= joinCode.expiresAt) {
    return conflict("that join code has expired; ask the instructor for a new one");
  }
  if (await isEnrolledStudent(context.tx, joinCode.courseId, actor.userId)) {
    return accepted("joinByCode", { courseId: joinCode.courseId, alreadyEnrolled: true });
  }
  enrol(context.tx, joinCode.courseId, actor.userId, command.at, "joinCode");
  context.tx.put("joinCodes", command.code, { ...joinCode, timesUsed: (joinCode.timesUsed ?? 0) + 1 });
  return accepted("joinByCode", { courseId: joinCode.courseId, alreadyEnrolled: false });
};

/** The owner enrols a student directly. */
export const enrolStudent: Handler<"enrolStudent"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const course = await ownedCourse(context.tx, actor, command.courseId);
  if (isRejection(course)) return course;
  const student = await context.tx.get("users", command.studentId);
  if (student === undefined) return notFound(`no user ${command.studentId}`);
  if (student.role !== "student") return invalid(`${student.username} is not a student`);
  const already = await isEnrolledStudent(context.tx, course.courseId, student.userId);
  if (!already) enrol(context.tx, course.courseId, student.userId, command.at, "instructor");
  return accepted("enrolStudent", { courseId: course.courseId, studentId: student.userId, alreadyEnrolled: already });
};

/**
 * The owner removes a student from the course; removing one who is not enrolled is fine. Their
 * submissions, grades and history stay (lms.proto keeps them), only the membership goes.
 */
export const unenrolStudent: Handler<"unenrolStudent"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const course = await ownedCourse(context.tx, actor, command.courseId);
  if (isRejection(course)) return course;
  const wasEnrolled = await isEnrolledStudent(context.tx, course.courseId, command.studentId);
  if (wasEnrolled) {
    context.tx.delete("courseMembers", key(course.courseId, command.studentId));
    context.tx.delete("userCourses", key(command.studentId, course.courseId));
  }
  return accepted("unenrolStudent", { courseId: course.courseId, studentId: command.studentId, wasEnrolled });
};
