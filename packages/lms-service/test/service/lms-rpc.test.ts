import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmsClient } from "../../src/client/lms-client.js";
import { Role } from "../../src/gen/lms.js";
import { failure, TestCluster } from "../node/cluster-harness.js";

/**
 * The RPCs that once answered UNIMPLEMENTED, and the status codes lms.proto documents, over real
 * gRPC against a one-node cluster (the replication itself is covered by test/node).
 */

const password = "a long enough password";
let keys = 0;
/** A fresh idempotency key in lms.proto's alphabet. */
const freshKey = () => `rpc-test-key-${++keys}-${Date.now()}`;

describe("LMS RPCs over real gRPC", () => {
  let cluster: TestCluster;
  let anonymous: LmsClient;
  let admin: LmsClient;
  let ines: LmsClient;
  let otto: LmsClient;
  let sam: LmsClient;
  let tara: LmsClient;
  let inesId = "";
  let samId = "";
  let courseId = "";
  let assignmentId = "";

  async function signIn(username: string): Promise<LmsClient> {
    return anonymous.withToken((await anonymous.auth.login({ username, password })).token);
  }

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    await cluster.leader();
    anonymous = cluster.client();
    await anonymous.auth.bootstrapAdmin({ username: "root", password, bootstrapProof: cluster.proof("root") });
    admin = await signIn("root");
    for (const username of ["ines", "otto"]) {
      await admin.auth.createUser({ username, password, displayName: username, role: Role.ROLE_INSTRUCTOR });
    }
    samId = (await anonymous.auth.register({ username: "sam", password, displayName: "Sam" })).user?.id ?? "";
    await anonymous.auth.register({ username: "tara", password, displayName: "Tara" });
    ines = await signIn("ines");
    otto = await signIn("otto");
    sam = await signIn("sam");
    tara = await signIn("tara");
    inesId = (await ines.auth.whoAmI({})).user?.id ?? "";
    courseId = (await ines.courses.createCourse({ title: "Raft", description: "" })).course?.id ?? "";
    await ines.courses.enrolStudent({ courseId, username: "sam" });
    await ines.courses.enrolStudent({ courseId, username: "tara" });
    const { assignment } = await ines.assignments.createAssignment({
      courseId,
      title: "Leader election",
      description: "§5.2",
      dueAtMs: Date.now() + 3_600_000,
      maxPoints: 10,
    });
    assignmentId = assignment?.id ?? "";
  }, 30_000);

  afterAll(async () => {
    anonymous?.close();
    await cluster?.stop();
  });

  describe("UpdateAssignment", () => {
    it("changes only the fields that are set and answers the stored assignment", async () => {
      const { assignment } = await ines.assignments.updateAssignment({
        idempotencyKey: freshKey(),
        assignmentId,
        title: "  Leader election, revised  ",
      });
      expect(assignment).toMatchObject({ id: assignmentId, title: "Leader election, revised", maxPoints: 10 });
      expect(assignment?.description).toBe("§5.2");
      const cleared = await ines.assignments.updateAssignment({
        idempotencyKey: freshKey(),
        assignmentId,
        dueAtMs: 0,
        maxPoints: 20,
        description: "",
      });
      expect(cleared.assignment).toMatchObject({ dueAtMs: 0, maxPoints: 20, description: "" });
      const read = await sam.assignments.getAssignment({ assignmentId });
      expect(read.assignment).toEqual(cleared.assignment);
    });

    it("refuses bad fields, other callers and a max below a given grade with lms.proto's codes", async () => {
      const bad = await failure(
        ines.assignments.updateAssignment({ idempotencyKey: freshKey(), assignmentId, maxPoints: 2.5 }),
      );
      expect(bad.code).toBe(status.INVALID_ARGUMENT);
      expect(bad.details).toContain("maxPoints");
      const blank = await failure(ines.assignments.updateAssignment({ idempotencyKey: freshKey(), assignmentId }));
      expect(blank.code).toBe(status.INVALID_ARGUMENT);
      const student = await failure(
        sam.assignments.updateAssignment({ idempotencyKey: freshKey(), assignmentId, title: "mine" }),
      );
      expect(student.code).toBe(status.PERMISSION_DENIED);
      const other = await failure(
        otto.assignments.updateAssignment({ idempotencyKey: freshKey(), assignmentId, title: "mine" }),
      );
      expect(other.code).toBe(status.NOT_FOUND);
      await ines.assignments.gradeSubmission({ assignmentId, studentId: samId, points: 15, feedback: "" });
      const tooLow = await failure(
        ines.assignments.updateAssignment({ idempotencyKey: freshKey(), assignmentId, maxPoints: 12 }),
      );
      expect(tooLow.code).toBe(status.FAILED_PRECONDITION);
      expect((await ines.assignments.getAssignment({ assignmentId })).assignment?.maxPoints).toBe(20);
    });

    it("replays a retry with the same key and refuses the key with another request", async () => {
      const idempotencyKey = freshKey();
      const first = await ines.assignments.updateAssignment({ idempotencyKey, assignmentId, title: "Once" });
      const again = await ines.assignments.updateAssignment({ idempotencyKey, assignmentId, title: "Once" });
      expect(again.assignment?.title).toBe(first.assignment?.title);
      const reused = await failure(ines.assignments.updateAssignment({ idempotencyKey, assignmentId, title: "Twice" }));
      expect(reused.code).toBe(status.INVALID_ARGUMENT);
      expect(reused.details).toContain("idempotency key");
    });
  });

  describe("CreateUser with ROLE_ADMIN", () => {
    it("lets an admin create another admin, who then acts as one", async () => {
      const { user } = await admin.auth.createUser({
        idempotencyKey: freshKey(),
        username: "ada2",
        password,
        displayName: "Ada Two",
        role: Role.ROLE_ADMIN,
      });
      expect(user).toMatchObject({ username: "ada2", role: Role.ROLE_ADMIN });
      const ada2 = await signIn("ada2");
      const made = await ada2.auth.createUser({ username: "ivy", password, role: Role.ROLE_INSTRUCTOR });
      expect(made.user?.role).toBe(Role.ROLE_INSTRUCTOR);
      const taken = await failure(admin.auth.createUser({ username: "ada2", password, role: Role.ROLE_ADMIN }));
      expect(taken.code).toBe(status.ALREADY_EXISTS);
    });

    it("refuses everyone but an admin, and a student role", async () => {
      for (const caller of [ines, sam]) {
        const denied = await failure(caller.auth.createUser({ username: "evil", password, role: Role.ROLE_ADMIN }));
        expect(denied.code).toBe(status.PERMISSION_DENIED);
      }
      const student = await failure(admin.auth.createUser({ username: "stu", password, role: Role.ROLE_STUDENT }));
      expect(student.code).toBe(status.INVALID_ARGUMENT);
      const login = await failure(anonymous.auth.login({ username: "evil", password }));
      expect(login.code).toBe(status.UNAUTHENTICATED);
    });
  });

  describe("CreateCourse with instructor_id", () => {
    it("lets an admin create a course that the named instructor owns", async () => {
      const { course } = await admin.courses.createCourse({
        idempotencyKey: freshKey(),
        title: "Consensus",
        description: "for Ines",
        instructorId: inesId,
      });
      expect(course).toMatchObject({ title: "Consensus", instructorId: inesId, studentCount: 0 });
      const owned = await ines.courses.listCourses({});
      expect(owned.courses.map((listed) => listed.id)).toContain(course?.id);
      await ines.courses.createJoinCode({ courseId: course?.id });
    });

    it("refuses a non-admin naming an owner, and an unknown or non-instructor owner, clearly", async () => {
      const byInstructor = await failure(ines.courses.createCourse({ title: "Mine", instructorId: inesId }));
      expect(byInstructor.code).toBe(status.PERMISSION_DENIED);
      const byStudent = await failure(sam.courses.createCourse({ title: "Mine", instructorId: inesId }));
      expect(byStudent.code).toBe(status.PERMISSION_DENIED);
      const unknown = await failure(admin.courses.createCourse({ title: "Ghost", instructorId: "no-such-user" }));
      expect(unknown.code).toBe(status.NOT_FOUND);
      expect(unknown.details).toContain("instructor_id");
      const student = await failure(admin.courses.createCourse({ title: "Sam's", instructorId: samId }));
      expect(student.code).toBe(status.INVALID_ARGUMENT);
      expect(student.details).toContain("not an instructor");
      const malformed = await failure(admin.courses.createCourse({ title: "Bad", instructorId: "../x" }));
      expect(malformed.code).toBe(status.INVALID_ARGUMENT);
      expect(malformed.details).toContain("instructor_id");
    });
  });

  describe("admins and courses, as lms.proto documents them", () => {
    it("an admin without instructor_id owns the course it creates, and reads every course", async () => {
      const adminId = (await admin.auth.whoAmI({})).user?.id ?? "";
      const { course } = await admin.courses.createCourse({ idempotencyKey: freshKey(), title: "Ops" });
      expect(course).toMatchObject({ title: "Ops", instructorId: adminId });
      // GetCourse on a course the admin is no member of: allowed ("Enrolled student, owning instructor or admin").
      const read = await admin.courses.getCourse({ courseId });
      expect(read.course).toMatchObject({ id: courseId, instructorId: inesId, studentCount: 2 });
      expect(read.instructor?.id).toBe(inesId);
      // ListCourses: "Admin: every course".
      const listed = (await admin.courses.listCourses({})).courses.map((listed) => listed.id);
      expect(listed).toEqual(expect.arrayContaining([courseId, course?.id]));
      // Nobody else gained anything: a student still cannot create a course, and another
      // instructor still does not see Ines's course.
      expect((await failure(sam.courses.createCourse({ title: "Mine" }))).code).toBe(status.PERMISSION_DENIED);
      expect((await failure(otto.courses.getCourse({ courseId }))).code).toBe(status.NOT_FOUND);
      expect((await otto.courses.listCourses({})).courses.map((listed) => listed.id)).not.toContain(course?.id);
    });
  });

  describe("status codes as lms.proto documents them", () => {
    it("a revoked join code fails a precondition; an unknown one is not found", async () => {
      const { joinCode } = await ines.courses.createJoinCode({ courseId });
      await ines.courses.revokeJoinCode({ courseId, code: joinCode?.code });
      await anonymous.auth.register({ username: "carol", password, displayName: "Carol" });
      const carol = await signIn("carol");
      const revoked = await failure(carol.courses.joinCourse({ code: joinCode?.code }));
      expect(revoked.code).toBe(status.FAILED_PRECONDITION);
      expect(revoked.details).toContain("revoked");
      expect(revoked.details).not.toContain(courseId);
      const unknown = await failure(carol.courses.joinCourse({ code: "NOSUCHCODE" }));
      expect(unknown.code).toBe(status.NOT_FOUND);
      // Neither attempt enrolled her.
      expect((await failure(carol.courses.getCourse({ courseId }))).code).toBe(status.NOT_FOUND);
    });

    it("hides another instructor's course, and everything in it, behind NOT_FOUND", async () => {
      const missing = await failure(otto.courses.getCourse({ courseId: "no-such-course" }));
      expect(missing.code).toBe(status.NOT_FOUND);
      const hidden = await failure(otto.courses.getCourse({ courseId }));
      expect(hidden.code).toBe(status.NOT_FOUND);
      expect(hidden.details).toBe(`no course ${courseId}`);
      const assignment = await failure(otto.assignments.getAssignment({ assignmentId }));
      expect(assignment.code).toBe(status.NOT_FOUND);
      expect(assignment.details).toBe(`no assignment ${assignmentId}`);
      expect((await failure(otto.assignments.exportGradesCsv({ courseId }))).code).toBe(status.NOT_FOUND);
      expect((await failure(otto.assignments.listGrades({ courseId }))).code).toBe(status.NOT_FOUND);
      expect((await failure(otto.assignments.listSubmissions({ assignmentId }))).code).toBe(status.NOT_FOUND);
      expect((await failure(otto.courses.createJoinCode({ courseId }))).code).toBe(status.NOT_FOUND);
      const grade = await failure(
        otto.assignments.gradeSubmission({ assignmentId, studentId: samId, points: 1, feedback: "" }),
      );
      expect(grade.code).toBe(status.NOT_FOUND);
    });

    it("keeps PERMISSION_DENIED for what a caller may see but not do", async () => {
      expect((await failure(sam.assignments.exportGradesCsv({ courseId }))).code).toBe(status.PERMISSION_DENIED);
      expect((await failure(sam.courses.listJoinCodes({ courseId }))).code).toBe(status.PERMISSION_DENIED);
      const release = await failure(sam.assignments.setGradesReleased({ assignmentId, released: true }));
      expect(release.code).toBe(status.PERMISSION_DENIED);
      const others = await failure(tara.assignments.listSubmissions({ assignmentId, studentId: samId }));
      expect(others.code).toBe(status.PERMISSION_DENIED);
    });

    it("hides another student's file and an unreleased grade's history behind NOT_FOUND", async () => {
      const { file } = await sam.files.upload({ name: "answer.txt", data: Buffer.from("sam's answer") });
      await sam.assignments.submit({ assignmentId, text: "mine", fileIds: [file?.fileId ?? ""] });
      expect((await ines.files.downloadAll(file?.fileId ?? "")).data.toString()).toBe("sam's answer");
      const stolen = await failure(tara.files.download({ fileId: file?.fileId }));
      expect(stolen.code).toBe(status.NOT_FOUND);
      const none = await failure(tara.files.download({ fileId: "0".repeat(64) }));
      expect(stolen.details).toBe(none.details);
      await ines.assignments.setGradesReleased({ assignmentId, released: false });
      const early = await failure(sam.assignments.getGradeHistory({ courseId, assignmentId, studentId: samId }));
      expect(early.code).toBe(status.NOT_FOUND);
      await ines.assignments.setGradesReleased({ assignmentId, released: true });
      const { changes } = await sam.assignments.getGradeHistory({ courseId, assignmentId, studentId: samId });
      expect(changes.length).toBeGreaterThan(0);
    });
  });
});
