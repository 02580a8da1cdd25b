import { accepted, type Handler, isRejection, signedIn } from "../apply-context.js";
import { isCourseMember, isEnrolledStudent, mayKnowCourse, noCourse, ownedCourse } from "../authorization.js";
import { key } from "../keys.js";
import type { AttachedFile } from "../records.js";
import { conflict, forbidden, invalid, notFound } from "../results.js";

/** The course owner writes a note to one enrolled student or to the whole course. */
export const postFeedbackNote: Handler<"postFeedbackNote"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const course = await ownedCourse(context.tx, actor, command.courseId);
  if (isRejection(course)) return course;
  if (command.studentId !== undefined && !(await isEnrolledStudent(context.tx, course.courseId, command.studentId))) {
    return notFound(`student ${command.studentId} is not enrolled in this course`);
  }
  const noteKey = key(course.courseId, command.noteId);
  if ((await context.tx.get("notes", noteKey)) !== undefined) return conflict(`note ${command.noteId} exists`);
  context.tx.put("notes", noteKey, {
    noteId: command.noteId,
    courseId: course.courseId,
    ...(command.studentId === undefined ? {} : { studentId: command.studentId }),
    authorId: actor.userId,
    text: command.text,
    postedAt: command.at,
  });
  return accepted("postFeedbackNote", { noteId: command.noteId });
};

/** The course owner posts a material: text, and optionally a file they uploaded. */
export const postMaterial: Handler<"postMaterial"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const course = await ownedCourse(context.tx, actor, command.courseId);
  if (isRejection(course)) return course;
  const { tx } = context;
  if ((await tx.get("materials", command.materialId)) !== undefined) {
    return conflict(`material ${command.materialId} exists`);
  }
  let file: AttachedFile | undefined;
  if (command.fileHash !== undefined) {
    const owned = await tx.get("fileOwners", key(command.fileHash, actor.userId));
    if (owned === undefined) return forbidden(`you have not uploaded the file ${command.fileHash}`);
    file = { sha256: owned.sha256, name: owned.name, mime: owned.mime, size: owned.size };
    tx.put("fileRefs", key(owned.sha256, course.courseId, "material", command.materialId), {
      sha256: owned.sha256,
      courseId: course.courseId,
      kind: "material",
      refId: command.materialId,
    });
  }
  tx.put("materials", command.materialId, {
    materialId: command.materialId,
    courseId: course.courseId,
    title: command.title,
    body: command.body,
    ...(file === undefined ? {} : { file }),
    postedBy: actor.userId,
    postedAt: command.at,
  });
  tx.put("courseMaterials", key(course.courseId, command.materialId), { materialId: command.materialId });
  return accepted("postMaterial", { materialId: command.materialId });
};

/** The course owner removes a material: its listing row and the course's reference to its file go. */
export const deleteMaterial: Handler<"deleteMaterial"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const { tx } = context;
  const material = await tx.get("materials", command.materialId);
  if (material === undefined) return notFound(`no material ${command.materialId}`);
  const course = await ownedCourse(tx, actor, material.courseId);
  // A hidden course hides its materials: the same words as for a missing one.
  if (isRejection(course))
    return course.status === "not-found" ? notFound(`no material ${command.materialId}`) : course;
  tx.delete("materials", material.materialId);
  tx.delete("courseMaterials", key(material.courseId, material.materialId));
  if (material.file !== undefined) {
    tx.delete("fileRefs", key(material.file.sha256, material.courseId, "material", material.materialId));
  }
  return accepted("deleteMaterial", { materialId: material.materialId });
};

/** An enrolled student asks the course's instructor a question (pending until answered). */
export const askQuestion: Handler<"askQuestion"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const { tx } = context;
  if ((await tx.get("courses", command.courseId)) === undefined) return noCourse(command.courseId);
  if (!(await isEnrolledStudent(tx, command.courseId, actor.userId))) {
    if (!(await mayKnowCourse(tx, actor, command.courseId))) return noCourse(command.courseId);
    return forbidden("only students enrolled in the course may ask its instructor");
  }
  if ((await tx.get("questions", command.questionId)) !== undefined) {
    return conflict(`question ${command.questionId} exists`);
  }
  tx.put("questions", command.questionId, {
    questionId: command.questionId,
    courseId: command.courseId,
    askedBy: actor.userId,
    text: command.text,
    askedAt: command.at,
    status: "pending",
  });
  tx.put("courseQuestions", key(command.courseId, command.questionId), { questionId: command.questionId });
  return accepted("askQuestion", { questionId: command.questionId });
};

/** The course owner answers a question, once (lms.proto: a second answer is FAILED_PRECONDITION). */
export const answerQuestion: Handler<"answerQuestion"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const question = await context.tx.get("questions", command.questionId);
  if (question === undefined) return notFound(`no question ${command.questionId}`);
  const course = await ownedCourse(context.tx, actor, question.courseId);
  if (isRejection(course))
    return course.status === "not-found" ? notFound(`no question ${command.questionId}`) : course;
  if (question.status === "answered") return conflict("the question is already answered");
  context.tx.put("questions", question.questionId, {
    ...question,
    status: "answered",
    answer: command.text,
    answeredBy: actor.userId,
    answeredAt: command.at,
  });
  return accepted("answerQuestion", { questionId: question.questionId });
};

/** Keeps a finished tutor exchange for its user; grounding needs membership of the course. */
export const recordTutorExchange: Handler<"recordTutorExchange"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const { tx } = context;
  if (command.materialId !== undefined && command.courseId === undefined) {
    return invalid("a tutor exchange grounded in a material names its course");
  }
  if (command.courseId !== undefined) {
    if ((await tx.get("courses", command.courseId)) === undefined) return noCourse(command.courseId);
    if (!(await isCourseMember(tx, actor, command.courseId))) {
      if (!(await mayKnowCourse(tx, actor, command.courseId))) return noCourse(command.courseId);
      return forbidden("you are not a member of this course");
    }
  }
  if (command.materialId !== undefined) {
    const material = await tx.get("materials", command.materialId);
    if (material === undefined || material.courseId !== command.courseId) {
      return notFound(`no material ${command.materialId} in this course`);
    }
  }
  const exchangeKey = key(actor.userId, command.exchangeId);
  if ((await tx.get("tutorExchanges", exchangeKey)) !== undefined) {
    return conflict(`tutor exchange ${command.exchangeId} exists`);
  }
  tx.put("tutorExchanges", exchangeKey, {
    exchangeId: command.exchangeId,
    userId: actor.userId,
    ...(command.courseId === undefined ? {} : { courseId: command.courseId }),
    ...(command.materialId === undefined ? {} : { materialId: command.materialId }),
    model: command.model,
    prompt: command.prompt,
    answer: command.answer,
    at: command.at,
  });
  return accepted("recordTutorExchange", { exchangeId: command.exchangeId });
};
