import { type LmsClient, lmsProto } from "@lectern/lms-service";
import { collectPages } from "./paging.js";
import { required } from "./proto-mapping.js";

/**
 * GetCoursePage's answer rebuilt from the paged list RPCs its fields name (lms.proto), for a course
 * whose page is larger than one client API message: the node refuses GetCoursePage for it with
 * RESOURCE_EXHAUSTED, and the page must still render. Every list is read to its last page.
 *
 * Unlike GetCoursePage, each of these reads waits for its own read barrier, so the parts may come
 * from slightly different moments (a write that lands between two reads shows in one part only).
 * That is acceptable for the rare huge course, whose page would otherwise not load at all; every
 * other course keeps the one-barrier GetCoursePage.
 *
 * The caller's role is decided as GetCoursePage decides it: the course's owning instructor sees
 * the owner's view, any other member (whom the reads admit) the student's.
 */
export async function coursePageFromLists(
  client: LmsClient,
  courseId: string,
): Promise<lmsProto.GetCoursePageResponse> {
  const [me, detail, assignments, materials, questions, feedback] = await Promise.all([
    client.auth.whoAmI({}),
    client.courses.getCourse({ courseId }),
    collectPages(async (page) => {
      const response = await client.assignments.listAssignments({ courseId, ...page });
      return { items: response.assignments, nextPageToken: response.nextPageToken };
    }),
    collectPages(async (page) => {
      const response = await client.content.listMaterials({ courseId, ...page });
      return { items: response.materials, nextPageToken: response.nextPageToken };
    }),
    // Every status, as the page's `questions`.
    collectPages(async (page) => {
      const response = await client.content.listQuestions({ courseId, ...page });
      return { items: response.questions, nextPageToken: response.nextPageToken };
    }),
    // Without `student_id`, as the page's `feedback`.
    collectPages(async (page) => {
      const response = await client.content.listFeedback({ courseId, ...page });
      return { items: response.notes, nextPageToken: response.nextPageToken };
    }),
  ]);
  const course = required(detail.course, "a course");
  const isOwner = required(me.user, "a user").id === course.instructorId;
  const page: lmsProto.GetCoursePageResponse = {
    course,
    instructor: required(detail.instructor, "the course's instructor"),
    viewerRole: isOwner ? lmsProto.Role.ROLE_INSTRUCTOR : lmsProto.Role.ROLE_STUDENT,
    assignments,
    materials,
    questions,
    feedback,
    mySubmissions: [],
    myGrades: [],
    joinCodes: [],
    students: [],
  };
  return isOwner
    ? { ...page, ...(await ownerParts(client, courseId)) }
    : { ...page, ...(await studentParts(client, courseId)) };
}

/** The owner's own parts: the join codes (one unpaged list) and the enrolled students. */
async function ownerParts(client: LmsClient, courseId: string) {
  const [codes, students] = await Promise.all([
    client.courses.listJoinCodes({ courseId }),
    collectPages(async (page) => {
      const response = await client.auth.listStudents({ courseId, ...page });
      return { items: response.students, nextPageToken: response.nextPageToken };
    }),
  ]);
  return { joinCodes: codes.joinCodes, students };
}

/** A student's own parts: their latest attempt at each assignment and their released grades. */
async function studentParts(client: LmsClient, courseId: string) {
  const [mySubmissions, myGrades] = await Promise.all([
    collectPages(async (page) => {
      const response = await client.assignments.listSubmissions({ courseId, ...page });
      return { items: response.submissions, nextPageToken: response.nextPageToken };
    }),
    collectPages(async (page) => {
      const response = await client.assignments.listGrades({ courseId, ...page });
      return { items: response.grades, nextPageToken: response.nextPageToken };
    }),
  ]);
  return { mySubmissions, myGrades };
}
