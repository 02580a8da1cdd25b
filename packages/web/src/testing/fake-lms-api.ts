import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  ApiError,
  type Assignment,
  type ClusterNodeStatus,
  type ClusterStatus,
  type Course,
  type CourseDetail,
  type CoursePage,
  type CsvExport,
  type DashboardData,
  dashboardExcerpt,
  type FeedbackNote,
  type FileDownload,
  type FileRef,
  type Grade,
  type GradeChange,
  type JoinCode,
  type LmsApi,
  type Material,
  maxDashboardCourses,
  type NeedsGradingItem,
  type Question,
  type QuestionStatus,
  type Role,
  type ServiceHealth,
  type Session,
  type SpooledFile,
  type Submission,
  type TutorExchange,
  type User,
} from "../lms-api.js";

/** How long a fake session lasts. */
export const fakeSessionLifetimeMs = 12 * 60 * 60 * 1000;
/** The fake's file size limit, like the service's default. */
export const fakeMaxFileBytes = 25 * 1024 * 1024;

const usernamePattern = /^[a-z0-9_.-]{3,32}$/;
const idempotencyKeyPattern = /^[A-Za-z0-9_-]{16,128}$/;
const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const minPasswordChars = 12;
const maxPasswordChars = 256;
const maxTitleChars = 200;
const maxTextChars = 10_000;
const maxAssignmentPoints = 100_000;

export interface FakeTutorSettings {
  /** False: every question fails with UNAVAILABLE / TUTOR_UNAVAILABLE before the first piece. */
  available: boolean;
  /** Fail after this many pieces (the model server died mid-answer). */
  failAfterPieces?: number;
  /** Delay before each piece, to watch streaming in a browser. */
  pieceDelayMs: number;
}

export interface FakeLmsApiOptions {
  /** Milliseconds since the epoch; defaults to `Date.now`. */
  now?: () => number;
  tutor?: Partial<FakeTutorSettings>;
}

interface StoredUser {
  user: User;
  passwordHash: string;
}

interface StoredFile {
  ref: FileRef;
  bytes: Uint8Array;
  ownerId: string;
}

interface IdempotentResult {
  fingerprint: string;
  result: unknown;
}

interface FakeNode {
  nodeId: string;
  address: string;
  kind: "voter" | "learner";
  up: boolean;
}

/**
 * An in-memory {@link LmsApi} with the service's authorisation rules (a student sees only their own
 * work, an instructor only their courses, grades stay hidden from students until released) and its
 * idempotency rule (same key and content: the first result; same key, other content:
 * INVALID_ARGUMENT). For route tests and for running the web front without a cluster.
 *
 * @example
 * ```ts
 * const api = new FakeLmsApi();
 * api.seedUser({ username: "admin", password: "correct horse battery", role: "admin" });
 * const session = await api.login({ username: "admin", password: "correct horse battery" });
 * ```
 */
export class FakeLmsApi implements LmsApi {
  /** Settings of the fake tutor; tests change them freely. */
  readonly tutor: FakeTutorSettings;
  /** When set, every call fails with this code (e.g. UNAVAILABLE while "no leader"). */
  outage: ApiError | undefined;

  private readonly now: () => number;
  private readonly users = new Map<string, StoredUser>();
  private readonly sessions = new Map<string, { userId: string; expiresAtMs: number }>();
  private readonly courses = new Map<string, Course>();
  private readonly joinCodes = new Map<string, JoinCode>();
  private readonly enrolments = new Set<string>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly submissions: Submission[] = [];
  private readonly grades = new Map<string, Grade>();
  private readonly gradeChanges: GradeChange[] = [];
  private readonly materials = new Map<string, Material>();
  private readonly questions = new Map<string, Question>();
  private readonly feedbackNotes: FeedbackNote[] = [];
  private readonly tutorExchanges: TutorExchange[] = [];
  private readonly files = new Map<string, StoredFile>();
  private readonly idempotent = new Map<string, IdempotentResult>();
  private readonly nodes: FakeNode[] = [
    { nodeId: "n1", address: "127.0.0.1:50051", kind: "voter", up: true },
    { nodeId: "n2", address: "127.0.0.1:50052", kind: "voter", up: true },
    { nodeId: "n3", address: "127.0.0.1:50053", kind: "voter", up: true },
  ];
  private term = 1;
  private leaderId = "n1";
  private logIndex = 0;
  private nextId = 1;

  constructor(options: FakeLmsApiOptions = {}) {
    this.now = options.now ?? Date.now;
    this.tutor = { available: true, pieceDelayMs: 0, ...options.tutor };
  }

  /** Test setup: creates a user of any role without a token. */
  seedUser(input: { username: string; password: string; role: Role; displayName?: string }): User {
    const user = this.insertUser(input.username, input.password, input.displayName ?? input.username, input.role);
    return user;
  }

  /** Test setup: marks a node up or down; a downed leader hands leadership to the next live voter. */
  setNodeUp(nodeId: string, up: boolean): void {
    const node = this.nodes.find((candidate) => candidate.nodeId === nodeId);
    if (node === undefined) throw new Error(`no fake node ${nodeId}`);
    node.up = up;
    if (!up && this.leaderId === nodeId) {
      const next = this.nodes.find((candidate) => candidate.up && candidate.kind === "voter");
      this.leaderId = next?.nodeId ?? "";
      this.term += 1;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Accounts and sessions

  async register(input: {
    idempotencyKey: string;
    username: string;
    password: string;
    displayName: string;
  }): Promise<User> {
    this.checkOutage();
    return this.once("anonymous", input, () =>
      this.insertUser(input.username, input.password, input.displayName, "student"),
    );
  }

  async login(input: { username: string; password: string }): Promise<Session> {
    this.checkOutage();
    const stored = [...this.users.values()].find(
      (candidate) => candidate.user.username === input.username.toLowerCase(),
    );
    const given = Buffer.from(hashPassword(input.password));
    if (stored === undefined || !timingSafeEqual(given, Buffer.from(stored.passwordHash))) {
      throw new ApiError("UNAUTHENTICATED", "Wrong username or password.");
    }
    const token = randomBytes(24).toString("base64url");
    const expiresAtMs = this.now() + fakeSessionLifetimeMs;
    this.sessions.set(token, { userId: stored.user.id, expiresAtMs });
    return { token, expiresAtMs, user: stored.user };
  }

  async logout(token: string, input: { idempotencyKey: string }): Promise<void> {
    this.authenticate(token);
    checkKey(input.idempotencyKey);
    this.sessions.delete(token);
  }

  async whoAmI(token: string): Promise<User> {
    return this.authenticate(token);
  }

  async createUser(
    token: string,
    input: {
      idempotencyKey: string;
      username: string;
      password: string;
      displayName: string;
      role: "instructor" | "admin";
    },
  ): Promise<User> {
    const actor = this.authenticate(token, "admin");
    if (input.role !== "instructor" && input.role !== "admin") {
      throw new ApiError("INVALID_ARGUMENT", "role must be instructor or admin.");
    }
    return this.once(actor.id, input, () =>
      this.insertUser(input.username, input.password, input.displayName, input.role),
    );
  }

  async listStudents(token: string, input: { courseId?: string }): Promise<User[]> {
    const actor = this.authenticate(token, "instructor", "admin");
    let courseIds: string[];
    if (input.courseId !== undefined && input.courseId !== "") {
      courseIds = [this.ownedCourse(actor, input.courseId).id];
    } else if (actor.role === "admin") {
      return this.allUsers().filter((user) => user.role === "student");
    } else {
      courseIds = this.coursesOwnedBy(actor).map((course) => course.id);
    }
    return this.allUsers().filter(
      (user) => user.role === "student" && courseIds.some((courseId) => this.enrolments.has(`${courseId}:${user.id}`)),
    );
  }

  async listInstructors(token: string): Promise<User[]> {
    const actor = this.authenticate(token);
    return this.allUsers()
      .filter((user) => user.role === "instructor")
      .map((user) => (actor.role === "admin" ? user : { ...user, username: "" }));
  }

  // ---------------------------------------------------------------------------------------------
  // Courses

  async createCourse(
    token: string,
    input: { idempotencyKey: string; title: string; description: string },
  ): Promise<Course> {
    const actor = this.authenticate(token, "instructor", "admin");
    return this.once(actor.id, input, () => {
      const course: Course = {
        id: this.newId("c"),
        title: checkText("title", input.title, 1, maxTitleChars),
        description: checkText("description", input.description, 0, maxTextChars),
        instructorId: actor.id,
        createdAtMs: this.now(),
        studentCount: 0,
      };
      this.courses.set(course.id, course);
      return course;
    });
  }

  async listCourses(token: string): Promise<Course[]> {
    const actor = this.authenticate(token);
    // An admin lists every course (lms.proto ListCourses); its contents stay with its members.
    return [...this.courses.values()]
      .filter((course) => actor.role === "admin" || this.canSeeCourse(actor, course))
      .map((course) => this.withStudentCount(course));
  }

  async getCourse(token: string, input: { courseId: string }): Promise<CourseDetail> {
    const actor = this.authenticate(token);
    // An admin may read any course's summary (lms.proto GetCourse).
    const course =
      actor.role === "admin" ? this.courses.get(input.courseId) : this.visibleCourse(actor, input.courseId);
    if (course === undefined) throw new ApiError("NOT_FOUND", "No such course.");
    const instructor = this.users.get(course.instructorId)?.user;
    if (instructor === undefined) throw new ApiError("NOT_FOUND", "The course's instructor no longer exists.");
    return { course: this.withStudentCount(course), instructor };
  }

  /**
   * Derived from the single reads, so the fake keeps one copy of each rule: the course first (so a
   * course the caller may not see fails as GetCourse or ListAssignments would), then the lists,
   * then the owner's or the student's own.
   */
  async getCoursePage(token: string, input: { courseId: string }): Promise<CoursePage> {
    const actor = this.authenticate(token);
    const detail = await this.getCourse(token, input);
    const page = {
      detail,
      assignments: await this.listAssignments(token, input),
      materials: await this.listMaterials(token, input),
      questions: await this.listQuestions(token, input),
      feedback: await this.listFeedback(token, input),
    };
    if (this.ownsCourse(actor, detail.course)) {
      return {
        ...page,
        viewerRole: "instructor",
        mySubmissions: [],
        myGrades: [],
        joinCodes: await this.listJoinCodes(token, input),
        students: await this.listStudents(token, input),
      };
    }
    return {
      ...page,
      viewerRole: "student",
      mySubmissions: await this.listSubmissions(token, input),
      myGrades: await this.listGrades(token, input),
      joinCodes: [],
      students: [],
    };
  }

  /** Derived from the single reads, like {@link getCoursePage}, with the service's course bound. */
  async getDashboard(token: string): Promise<DashboardData> {
    const actor = this.authenticate(token);
    const listed = await this.listCourses(token);
    const courses = listed.map((course) => ({ ...course, description: dashboardExcerpt(course.description) }));
    const inspected = listed.slice(0, maxDashboardCourses);
    const dashboard: DashboardData = { courses, unsubmitted: [], needsGrading: [], pendingQuestions: [] };
    if (actor.role === "student") {
      const unsubmitted: Assignment[] = [];
      for (const course of inspected) {
        const submissions = await this.listSubmissions(token, { courseId: course.id });
        const submitted = new Set(submissions.map((submission) => submission.assignmentId));
        const assignments = await this.listAssignments(token, { courseId: course.id });
        for (const assignment of assignments) {
          if (!submitted.has(assignment.id)) {
            unsubmitted.push({ ...assignment, description: dashboardExcerpt(assignment.description) });
          }
        }
      }
      return { ...dashboard, unsubmitted };
    }
    if (actor.role !== "instructor") return dashboard;
    const pendingQuestions: { courseId: string; count: number }[] = [];
    for (const course of inspected) {
      const pending = await this.listQuestions(token, { courseId: course.id, status: "pending" });
      pendingQuestions.push({ courseId: course.id, count: pending.length });
    }
    return { ...dashboard, needsGrading: await this.listNeedsGrading(token, { courses: listed }), pendingQuestions };
  }

  async createJoinCode(
    token: string,
    input: { idempotencyKey: string; courseId: string; expiresAtMs: number },
  ): Promise<JoinCode> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    return this.once(actor.id, input, () => {
      if (!Number.isSafeInteger(input.expiresAtMs) || input.expiresAtMs < 0) {
        throw new ApiError("INVALID_ARGUMENT", "expires_at_ms must be a time or 0.");
      }
      const code: JoinCode = {
        code: randomBytes(6).toString("base64url").replace(/[-_]/g, "x").toUpperCase(),
        courseId: course.id,
        createdAtMs: this.now(),
        expiresAtMs: input.expiresAtMs,
        revokedAtMs: 0,
        timesUsed: 0,
      };
      this.joinCodes.set(code.code, code);
      return code;
    });
  }

  async revokeJoinCode(
    token: string,
    input: { idempotencyKey: string; courseId: string; code: string },
  ): Promise<JoinCode> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    return this.once(actor.id, input, () => {
      const code = this.joinCodes.get(input.code);
      if (code === undefined || code.courseId !== course.id) throw new ApiError("NOT_FOUND", "No such join code.");
      const revoked = code.revokedAtMs === 0 ? { ...code, revokedAtMs: this.now() } : code;
      this.joinCodes.set(code.code, revoked);
      return revoked;
    });
  }

  async listJoinCodes(token: string, input: { courseId: string }): Promise<JoinCode[]> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    return [...this.joinCodes.values()].filter((code) => code.courseId === course.id);
  }

  async joinCourse(token: string, input: { idempotencyKey: string; code: string }): Promise<Course> {
    const actor = this.authenticate(token, "student");
    return this.once(actor.id, input, () => {
      const code = this.joinCodes.get(input.code.trim().toUpperCase());
      if (code === undefined) throw new ApiError("NOT_FOUND", "No course has this join code.");
      if (code.revokedAtMs !== 0) throw new ApiError("FAILED_PRECONDITION", "This join code has been revoked.");
      if (code.expiresAtMs !== 0 && code.expiresAtMs <= this.now()) {
        throw new ApiError("FAILED_PRECONDITION", "This join code has expired.");
      }
      const course = this.courseById(code.courseId);
      if (!this.enrolments.has(`${course.id}:${actor.id}`)) {
        this.enrolments.add(`${course.id}:${actor.id}`);
        this.joinCodes.set(code.code, { ...code, timesUsed: code.timesUsed + 1 });
      }
      return this.withStudentCount(course);
    });
  }

  async enrolStudent(
    token: string,
    input: { idempotencyKey: string; courseId: string; username: string },
  ): Promise<User> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    return this.once(actor.id, input, () => {
      const student = this.allUsers().find((user) => user.username === input.username.trim().toLowerCase());
      if (student === undefined || student.role !== "student") {
        throw new ApiError("NOT_FOUND", `No student has the username "${input.username}".`);
      }
      this.enrolments.add(`${course.id}:${student.id}`);
      return student;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Materials and questions

  async postMaterial(
    token: string,
    input: { idempotencyKey: string; courseId: string; title: string; description: string; file?: SpooledFile },
  ): Promise<Material> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    const file = input.file === undefined ? undefined : await this.storeFile(actor, input.file);
    return this.once(actor.id, { ...input, file: file?.sha256 }, () => {
      const material: Material = {
        id: this.newId("m"),
        courseId: course.id,
        title: checkText("title", input.title, 1, maxTitleChars),
        description: checkText("description", input.description, 0, maxTextChars),
        ...(file === undefined ? {} : { file }),
        postedBy: actor.id,
        postedAtMs: this.now(),
      };
      this.materials.set(material.id, material);
      return material;
    });
  }

  async listMaterials(token: string, input: { courseId: string }): Promise<Material[]> {
    const actor = this.authenticate(token);
    const course = this.visibleCourse(actor, input.courseId);
    return [...this.materials.values()].filter((material) => material.courseId === course.id);
  }

  async deleteMaterial(token: string, input: { idempotencyKey: string; materialId: string }): Promise<void> {
    const actor = this.authenticate(token, "instructor", "admin");
    // The checks run inside the write, so a retry of a delete that went through succeeds again.
    this.once(actor.id, input, () => {
      const material = this.materials.get(input.materialId);
      if (material === undefined) throw new ApiError("NOT_FOUND", "No such material.");
      this.ownedCourse(actor, material.courseId);
      this.materials.delete(material.id);
      return undefined;
    });
  }

  async postFeedback(
    token: string,
    input: { idempotencyKey: string; courseId: string; studentId?: string; text: string },
  ): Promise<FeedbackNote> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    const studentId = input.studentId ?? "";
    return this.once(actor.id, { ...input, studentId }, () => {
      const text = checkText("text", input.text, 1, maxTextChars);
      if (studentId !== "" && !this.enrolments.has(`${course.id}:${studentId}`)) {
        throw new ApiError("NOT_FOUND", `Student ${studentId} is not enrolled in this course.`);
      }
      const note: FeedbackNote = {
        id: this.newId("n"),
        courseId: course.id,
        studentId,
        authorId: actor.id,
        text,
        createdAtMs: this.now(),
      };
      this.feedbackNotes.push(note);
      return note;
    });
  }

  async listFeedback(token: string, input: { courseId: string; studentId?: string }): Promise<FeedbackNote[]> {
    const actor = this.authenticate(token);
    const course = this.visibleCourse(actor, input.courseId);
    const isOwner = this.ownsCourse(actor, course);
    const forStudent = input.studentId ?? "";
    if (forStudent !== "" && !isOwner) {
      throw new ApiError("PERMISSION_DENIED", "Only the course's instructor may filter by student.");
    }
    return this.feedbackNotes.filter(
      (note) =>
        note.courseId === course.id &&
        (note.studentId === "" ||
          (isOwner ? forStudent === "" || note.studentId === forStudent : note.studentId === actor.id)),
    );
  }

  async askQuestion(
    token: string,
    input: { idempotencyKey: string; courseId: string; text: string },
  ): Promise<Question> {
    const actor = this.authenticate(token, "student");
    const course = this.visibleCourse(actor, input.courseId);
    return this.once(actor.id, input, () => {
      const question: Question = {
        id: this.newId("q"),
        courseId: course.id,
        askedBy: actor.id,
        text: checkText("question", input.text, 1, maxTextChars),
        status: "pending",
        askedAtMs: this.now(),
        answer: "",
        answeredBy: "",
        answeredAtMs: 0,
      };
      this.questions.set(question.id, question);
      return question;
    });
  }

  async answerQuestion(
    token: string,
    input: { idempotencyKey: string; questionId: string; answer: string },
  ): Promise<Question> {
    const actor = this.authenticate(token, "instructor", "admin");
    const question = this.questions.get(input.questionId);
    if (question === undefined) throw new ApiError("NOT_FOUND", "No such question.");
    this.ownedCourse(actor, question.courseId);
    return this.once(actor.id, input, () => {
      const current = this.questions.get(question.id) ?? question;
      if (current.status === "answered")
        throw new ApiError("FAILED_PRECONDITION", "This question is already answered.");
      const answered: Question = {
        ...current,
        status: "answered",
        answer: checkText("answer", input.answer, 1, maxTextChars),
        answeredBy: actor.id,
        answeredAtMs: this.now(),
      };
      this.questions.set(answered.id, answered);
      return answered;
    });
  }

  async listQuestions(token: string, input: { courseId: string; status?: QuestionStatus }): Promise<Question[]> {
    const actor = this.authenticate(token);
    const course = this.visibleCourse(actor, input.courseId);
    const isOwner = this.ownsCourse(actor, course);
    return [...this.questions.values()].filter(
      (question) =>
        question.courseId === course.id &&
        (isOwner || question.askedBy === actor.id) &&
        (input.status === undefined || question.status === input.status),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Assignments, submissions and grades

  async createAssignment(
    token: string,
    input: {
      idempotencyKey: string;
      courseId: string;
      title: string;
      description: string;
      dueAtMs: number;
      maxPoints: number;
    },
  ): Promise<Assignment> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    return this.once(actor.id, input, () => {
      if (!Number.isSafeInteger(input.dueAtMs) || input.dueAtMs < 0) {
        throw new ApiError("INVALID_ARGUMENT", "due_at_ms must be a time or 0.");
      }
      checkPoints("max_points", input.maxPoints, maxAssignmentPoints);
      if (input.maxPoints <= 0) throw new ApiError("INVALID_ARGUMENT", "max_points must be positive.");
      const assignment: Assignment = {
        id: this.newId("a"),
        courseId: course.id,
        title: checkText("title", input.title, 1, maxTitleChars),
        description: checkText("description", input.description, 0, maxTextChars),
        dueAtMs: input.dueAtMs,
        maxPoints: input.maxPoints,
        createdAtMs: this.now(),
        gradesReleasedAtMs: 0,
      };
      this.assignments.set(assignment.id, assignment);
      return assignment;
    });
  }

  async listAssignments(token: string, input: { courseId: string }): Promise<Assignment[]> {
    const actor = this.authenticate(token);
    const course = this.visibleCourse(actor, input.courseId);
    return [...this.assignments.values()].filter((assignment) => assignment.courseId === course.id);
  }

  async getAssignment(token: string, input: { assignmentId: string }): Promise<Assignment> {
    const actor = this.authenticate(token);
    return this.visibleAssignment(actor, input.assignmentId);
  }

  async submit(
    token: string,
    input: { idempotencyKey: string; assignmentId: string; text: string; file?: SpooledFile },
  ): Promise<Submission> {
    const actor = this.authenticate(token, "student");
    const assignment = this.visibleAssignment(actor, input.assignmentId);
    const file = input.file === undefined ? undefined : await this.storeFile(actor, input.file);
    return this.once(actor.id, { ...input, file: file?.sha256 }, () => {
      const text = checkText("text", input.text, 0, maxTextChars);
      if (text.trim() === "" && file === undefined) {
        throw new ApiError("INVALID_ARGUMENT", "A submission needs a file or some text.");
      }
      const previous = this.submissions.filter(
        (submission) => submission.assignmentId === assignment.id && submission.studentId === actor.id,
      );
      const now = this.now();
      const submission: Submission = {
        id: this.newId("s"),
        assignmentId: assignment.id,
        courseId: assignment.courseId,
        studentId: actor.id,
        attempt: previous.length + 1,
        text,
        files: file === undefined ? [] : [file],
        submittedAtMs: now,
        late: assignment.dueAtMs !== 0 && now > assignment.dueAtMs,
      };
      this.submissions.push(submission);
      return submission;
    });
  }

  async listSubmissions(
    token: string,
    input: { courseId?: string; assignmentId?: string; studentId?: string; includeAllAttempts?: boolean },
  ): Promise<Submission[]> {
    const actor = this.authenticate(token);
    const courseId = this.scopeCourse(actor, input);
    const course = this.courseById(courseId);
    const isOwner = this.ownsCourse(actor, course);
    if (!isOwner && input.studentId !== undefined && input.studentId !== "" && input.studentId !== actor.id) {
      throw new ApiError("PERMISSION_DENIED", "Students may only see their own submissions.");
    }
    const matching = this.submissions.filter(
      (submission) =>
        submission.courseId === courseId &&
        (input.assignmentId === undefined ||
          input.assignmentId === "" ||
          submission.assignmentId === input.assignmentId) &&
        (isOwner
          ? input.studentId === undefined || input.studentId === "" || submission.studentId === input.studentId
          : submission.studentId === actor.id),
    );
    return input.includeAllAttempts === true ? matching : latestAttempts(matching);
  }

  async getSubmissionHistory(
    token: string,
    input: { assignmentId: string; studentId?: string },
  ): Promise<Submission[]> {
    const actor = this.authenticate(token);
    const assignment = this.visibleAssignment(actor, input.assignmentId);
    const isOwner = this.ownsCourse(actor, this.courseById(assignment.courseId));
    const studentId = input.studentId === undefined || input.studentId === "" ? actor.id : input.studentId;
    if (!isOwner && studentId !== actor.id) {
      throw new ApiError("PERMISSION_DENIED", "Students may only see their own submissions.");
    }
    return this.submissions.filter(
      (submission) => submission.assignmentId === assignment.id && submission.studentId === studentId,
    );
  }

  async gradeSubmission(
    token: string,
    input: {
      idempotencyKey: string;
      assignmentId: string;
      studentId: string;
      submissionId?: string;
      points: number;
      feedback: string;
    },
  ): Promise<Grade> {
    const actor = this.authenticate(token, "instructor", "admin");
    const assignment = this.ownedAssignment(actor, input.assignmentId);
    return this.once(actor.id, input, () => {
      if (!this.enrolments.has(`${assignment.courseId}:${input.studentId}`)) {
        throw new ApiError("NOT_FOUND", "That student is not enrolled in this course.");
      }
      checkPoints("points", input.points, assignment.maxPoints);
      const feedback = checkText("feedback", input.feedback, 0, maxTextChars);
      const attempts = this.submissions.filter(
        (submission) => submission.assignmentId === assignment.id && submission.studentId === input.studentId,
      );
      const submissionId = input.submissionId || attempts.at(-1)?.id || "";
      if (submissionId !== "" && !attempts.some((submission) => submission.id === submissionId)) {
        throw new ApiError("NOT_FOUND", "No such submission of this student.");
      }
      const key = `${assignment.id}:${input.studentId}`;
      const old = this.grades.get(key);
      const now = this.now();
      const grade: Grade = {
        assignmentId: assignment.id,
        courseId: assignment.courseId,
        studentId: input.studentId,
        submissionId,
        points: input.points,
        feedback,
        gradedBy: actor.id,
        gradedAtMs: now,
        released: assignment.gradesReleasedAtMs !== 0,
      };
      this.grades.set(key, grade);
      this.logIndex += 1;
      this.gradeChanges.push({
        logIndex: this.logIndex,
        assignmentId: assignment.id,
        studentId: input.studentId,
        changedBy: actor.id,
        changedAtMs: now,
        ...(old === undefined ? {} : { oldPoints: old.points }),
        newPoints: input.points,
        oldFeedback: old?.feedback ?? "",
        newFeedback: feedback,
      });
      return grade;
    });
  }

  async setGradesReleased(
    token: string,
    input: { idempotencyKey: string; assignmentId: string; released: boolean },
  ): Promise<Assignment> {
    const actor = this.authenticate(token, "instructor", "admin");
    const assignment = this.ownedAssignment(actor, input.assignmentId);
    return this.once(actor.id, input, () => {
      const updated: Assignment = { ...assignment, gradesReleasedAtMs: input.released ? this.now() : 0 };
      this.assignments.set(updated.id, updated);
      for (const [key, grade] of this.grades) {
        if (grade.assignmentId === updated.id) this.grades.set(key, { ...grade, released: input.released });
      }
      return updated;
    });
  }

  async listGrades(
    token: string,
    input: { courseId: string; assignmentId?: string; studentId?: string },
  ): Promise<Grade[]> {
    const actor = this.authenticate(token);
    const course = this.visibleCourse(actor, input.courseId);
    const isOwner = this.ownsCourse(actor, course);
    return [...this.grades.values()].filter(
      (grade) =>
        grade.courseId === course.id &&
        (input.assignmentId === undefined || input.assignmentId === "" || grade.assignmentId === input.assignmentId) &&
        (isOwner
          ? input.studentId === undefined || input.studentId === "" || grade.studentId === input.studentId
          : grade.studentId === actor.id && grade.released),
    );
  }

  async getGradeHistory(
    token: string,
    input: { courseId: string; assignmentId?: string; studentId?: string },
  ): Promise<GradeChange[]> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    const assignmentIds = new Set(
      [...this.assignments.values()].filter((assignment) => assignment.courseId === course.id).map((a) => a.id),
    );
    return this.gradeChanges.filter(
      (change) =>
        assignmentIds.has(change.assignmentId) &&
        (input.assignmentId === undefined || input.assignmentId === "" || change.assignmentId === input.assignmentId) &&
        (input.studentId === undefined || input.studentId === "" || change.studentId === input.studentId),
    );
  }

  /**
   * The queue computed here, by the service's rule (lms.proto ListNeedsGrading): a latest attempt
   * without a grade of that very attempt needs grading, so a resubmission after grading counts again.
   */
  async listNeedsGrading(
    token: string,
    input: { courseId?: string; courses?: readonly Course[] },
  ): Promise<NeedsGradingItem[]> {
    const actor = this.authenticate(token, "instructor", "admin");
    const given = input.courses === undefined ? undefined : new Set(input.courses.map((course) => course.id));
    const courses =
      input.courseId === undefined || input.courseId === ""
        ? this.coursesOwnedBy(actor).filter((course) => given === undefined || given.has(course.id))
        : [this.ownedCourse(actor, input.courseId)];
    const items: NeedsGradingItem[] = [];
    for (const course of courses) {
      for (const assignment of this.assignments.values()) {
        if (assignment.courseId !== course.id) continue;
        const latest = latestAttempts(
          this.submissions.filter((submission) => submission.assignmentId === assignment.id),
        );
        const ungraded = latest.filter((submission) => {
          const grade = this.grades.get(`${assignment.id}:${submission.studentId}`);
          return grade === undefined || grade.submissionId !== submission.id;
        });
        if (ungraded.length === 0) continue;
        items.push({
          courseId: course.id,
          courseTitle: course.title,
          assignmentId: assignment.id,
          assignmentTitle: assignment.title,
          dueAtMs: assignment.dueAtMs,
          ungradedCount: ungraded.length,
          lateCount: ungraded.filter((submission) => submission.late).length,
        });
      }
    }
    return items;
  }

  async exportGradesCsv(token: string, input: { courseId: string }): Promise<CsvExport> {
    const actor = this.authenticate(token, "instructor", "admin");
    const course = this.ownedCourse(actor, input.courseId);
    const assignments = [...this.assignments.values()].filter((assignment) => assignment.courseId === course.id);
    const students = this.allUsers().filter((user) => this.enrolments.has(`${course.id}:${user.id}`));
    const rows = [["username", "name", ...assignments.map((assignment) => assignment.title)]];
    for (const student of students) {
      rows.push([
        student.username,
        student.displayName,
        ...assignments.map((assignment) => {
          const grade = this.grades.get(`${assignment.id}:${student.id}`);
          return grade === undefined ? "" : String(grade.points);
        }),
      ]);
    }
    const text = `${rows.map((row) => row.map(csvCell).join(",")).join("\r\n")}\r\n`;
    return { fileName: `grades-${course.id}.csv`, chunks: chunksOf(new TextEncoder().encode(text)) };
  }

  // ---------------------------------------------------------------------------------------------
  // Files

  async downloadFile(token: string, input: { fileId: string }): Promise<FileDownload> {
    const actor = this.authenticate(token);
    const stored = this.files.get(input.fileId);
    if (stored === undefined || !this.canSeeFile(actor, stored)) throw new ApiError("NOT_FOUND", "No such file.");
    return { file: stored.ref, chunks: chunksOf(stored.bytes) };
  }

  // ---------------------------------------------------------------------------------------------
  // Tutor

  askTutor(
    token: string,
    input: { idempotencyKey: string; question: string; materialId?: string },
  ): AsyncIterable<string> {
    // Authentication and validation happen when iteration starts, like a server-streaming call.
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const actor = self.authenticate(token);
        checkKey(input.idempotencyKey);
        checkText("question", input.question, 1, 4000);
        let grounding = "";
        if (input.materialId !== undefined && input.materialId !== "") {
          const material = self.materials.get(input.materialId);
          if (material === undefined) throw new ApiError("NOT_FOUND", "No such material.");
          self.visibleCourse(actor, material.courseId);
          grounding = ` Drawing on "${material.title}":`;
        }
        if (!self.tutor.available) {
          throw new ApiError(
            "UNAVAILABLE",
            "The AI tutor is unavailable right now; try again later.",
            "TUTOR_UNAVAILABLE",
          );
        }
        const answer = `Good question.${grounding} Think about what "${input.question}" asks, then try a small example first.`;
        const pieces = answer.match(/\S+\s*/g) ?? [];
        let sent = 0;
        const askedAtMs = self.now();
        for (const piece of pieces) {
          if (self.tutor.failAfterPieces !== undefined && sent >= self.tutor.failAfterPieces) {
            throw new ApiError("UNAVAILABLE", "The AI tutor stopped answering; try again later.", "TUTOR_UNAVAILABLE");
          }
          if (self.tutor.pieceDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, self.tutor.pieceDelayMs));
          sent += 1;
          yield piece;
        }
        // Like the service, only a finished answer is recorded, once per idempotency key.
        self.once(actor.id, { idempotencyKey: input.idempotencyKey, question: input.question }, () => {
          const material = input.materialId === undefined ? undefined : self.materials.get(input.materialId);
          const exchange: TutorExchange = {
            id: self.newId("t"),
            userId: actor.id,
            courseId: material?.courseId ?? "",
            materialId: material?.id ?? "",
            question: input.question,
            answer,
            model: "fake-tutor",
            askedAtMs,
            finishedAtMs: self.now(),
          };
          self.tutorExchanges.push(exchange);
          return exchange;
        });
      },
    };
  }

  async listTutorExchanges(token: string): Promise<TutorExchange[]> {
    const actor = this.authenticate(token);
    return this.tutorExchanges.filter((exchange) => exchange.userId === actor.id);
  }

  // ---------------------------------------------------------------------------------------------
  // Cluster

  async getClusterStatus(token: string): Promise<ClusterStatus> {
    this.authenticate(token, "admin");
    this.logIndex += 1; // Heartbeats and no-ops move the log in a real cluster too.
    const nodes: ClusterNodeStatus[] = this.nodes.map((node) => ({
      nodeId: node.nodeId,
      address: node.address,
      kind: node.kind,
      reachable: node.up,
      ...(node.up ? {} : { error: "connection refused" }),
      role: !node.up ? "unknown" : node.nodeId === this.leaderId ? "leader" : "follower",
      term: node.up ? this.term : 0,
      leaderId: node.up ? this.leaderId : "",
      commitIndex: node.up ? this.logIndex : 0,
      appliedIndex: node.up ? this.logIndex : 0,
      lastLogIndex: node.up ? this.logIndex : 0,
      lastContactMsAgo: node.nodeId === this.leaderId ? 0 : node.up ? 12 : 4000,
      matchIndex: node.up ? this.logIndex : 0,
    }));
    return { clusterId: "fake-cluster", leaderId: this.leaderId, nodes, observedAtMs: this.now() };
  }

  async addMember(
    token: string,
    input: { idempotencyKey: string; nodeId: string; address: string; asLearner: boolean },
  ): Promise<void> {
    const actor = this.authenticate(token, "admin");
    this.once(actor.id, input, () => {
      if (!nodeIdPattern.test(input.nodeId))
        throw new ApiError("INVALID_ARGUMENT", "node_id must be letters, digits, _ . - .");
      if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(input.address)) {
        throw new ApiError("INVALID_ARGUMENT", "address must be host:port.");
      }
      if (this.nodes.some((node) => node.nodeId === input.nodeId)) {
        throw new ApiError("ALREADY_EXISTS", `Node ${input.nodeId} is already a member.`);
      }
      this.nodes.push({
        nodeId: input.nodeId,
        address: input.address,
        kind: input.asLearner ? "learner" : "voter",
        up: true,
      });
      return undefined;
    });
  }

  async promoteMember(token: string, input: { idempotencyKey: string; nodeId: string }): Promise<void> {
    const actor = this.authenticate(token, "admin");
    this.once(actor.id, input, () => {
      const node = this.nodeById(input.nodeId);
      if (node.kind !== "learner") throw new ApiError("FAILED_PRECONDITION", `Node ${node.nodeId} is not a learner.`);
      node.kind = "voter";
      return undefined;
    });
  }

  async removeMember(token: string, input: { idempotencyKey: string; nodeId: string }): Promise<void> {
    const actor = this.authenticate(token, "admin");
    this.once(actor.id, input, () => {
      const node = this.nodeById(input.nodeId);
      this.nodes.splice(this.nodes.indexOf(node), 1);
      if (this.leaderId === node.nodeId) this.setNodeUp(node.nodeId, false);
      return undefined;
    });
  }

  async transferLeadership(
    token: string,
    input: { idempotencyKey: string; targetNodeId: string },
  ): Promise<{ leaderId: string }> {
    this.authenticate(token, "admin");
    checkKey(input.idempotencyKey);
    const target = this.nodeById(input.targetNodeId);
    if (target.nodeId === this.leaderId) return { leaderId: this.leaderId };
    if (target.kind !== "voter") {
      throw new ApiError("FAILED_PRECONDITION", `Leadership transfer failed: ${target.nodeId} is not a voter.`);
    }
    if (!target.up) {
      throw new ApiError(
        "FAILED_PRECONDITION",
        `Leadership transfer failed: ${target.nodeId} did not take over in time.`,
        "TRANSFER_FAILED",
      );
    }
    this.leaderId = target.nodeId;
    this.term += 1;
    return { leaderId: this.leaderId };
  }

  async health(): Promise<ServiceHealth[]> {
    return this.nodes.map((node) =>
      node.up
        ? { name: `node ${node.nodeId}`, ok: true }
        : { name: `node ${node.nodeId}`, ok: false, detail: "unreachable" },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Rules

  private checkOutage(): void {
    if (this.outage !== undefined) throw this.outage;
  }

  private authenticate(token: string, ...roles: Role[]): User {
    this.checkOutage();
    const session = this.sessions.get(token);
    if (session === undefined || session.expiresAtMs <= this.now()) {
      throw new ApiError("UNAUTHENTICATED", "Your session has ended; sign in again.");
    }
    const user = this.users.get(session.userId)?.user;
    if (user === undefined) throw new ApiError("UNAUTHENTICATED", "Your account no longer exists.");
    if (roles.length > 0 && !roles.includes(user.role)) {
      throw new ApiError("PERMISSION_DENIED", `Only ${roles.join(" or ")} accounts may do this.`);
    }
    return user;
  }

  /** Runs a write once per (caller, key); a retry with the same content returns the first result. */
  private once<T>(
    actorId: string,
    input: { readonly idempotencyKey: string; readonly [field: string]: unknown },
    write: () => T,
  ): T {
    checkKey(input.idempotencyKey);
    const slot = `${actorId}:${input.idempotencyKey}`;
    const fingerprint = JSON.stringify(input, (key, value) =>
      key === "password" ? hashPassword(String(value)) : value,
    );
    const previous = this.idempotent.get(slot);
    if (previous !== undefined) {
      if (previous.fingerprint !== fingerprint) {
        throw new ApiError("INVALID_ARGUMENT", "This idempotency key was already used for a different request.");
      }
      return previous.result as T;
    }
    const result = write();
    this.idempotent.set(slot, { fingerprint, result });
    return result;
  }

  private insertUser(username: string, password: string, displayName: string, role: Role): User {
    const normalised = username.trim().toLowerCase();
    if (!usernamePattern.test(normalised)) {
      throw new ApiError("INVALID_ARGUMENT", "username must be 3 to 32 characters from a-z, 0-9, _ . -");
    }
    if (password.length < minPasswordChars || password.length > maxPasswordChars) {
      throw new ApiError(
        "INVALID_ARGUMENT",
        `password must have ${minPasswordChars} to ${maxPasswordChars} characters.`,
      );
    }
    const name = checkText("display_name", displayName, 1, 100);
    if (this.allUsers().some((user) => user.username === normalised)) {
      throw new ApiError("ALREADY_EXISTS", `The username "${normalised}" is taken.`);
    }
    const user: User = { id: this.newId("u"), username: normalised, displayName: name, role, createdAtMs: this.now() };
    this.users.set(user.id, { user, passwordHash: hashPassword(password) });
    return user;
  }

  private async storeFile(actor: User, spooled: SpooledFile): Promise<FileRef> {
    const bytes = await readFile(spooled.path);
    if (bytes.length > fakeMaxFileBytes) {
      throw new ApiError("RESOURCE_EXHAUSTED", "The file is larger than 25 MiB.", "FILE_TOO_LARGE");
    }
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    if (sha256 !== spooled.sha256 || bytes.length !== spooled.sizeBytes) {
      throw new ApiError("INVALID_ARGUMENT", "The file's size or SHA-256 does not match its header.");
    }
    const fileId = `f-${sha256.slice(0, 16)}-${actor.id}`;
    const ref: FileRef = {
      fileId,
      name: spooled.name.replace(/[\p{Cc}/\\]/gu, "_").slice(0, 255) || "file",
      contentType: spooled.contentType || "application/octet-stream",
      sizeBytes: bytes.length,
      sha256,
    };
    this.files.set(fileId, { ref, bytes: new Uint8Array(bytes), ownerId: actor.id });
    return ref;
  }

  private canSeeFile(actor: User, stored: StoredFile): boolean {
    if (stored.ownerId === actor.id || actor.role === "admin") return true;
    const fileId = stored.ref.fileId;
    for (const submission of this.submissions) {
      if (!submission.files.some((file) => file.fileId === fileId)) continue;
      if (submission.studentId === actor.id || this.ownsCourse(actor, this.courseById(submission.courseId)))
        return true;
    }
    for (const material of this.materials.values()) {
      if (material.file?.fileId === fileId && this.canSeeCourse(actor, this.courseById(material.courseId))) return true;
    }
    return false;
  }

  private allUsers(): User[] {
    return [...this.users.values()].map((stored) => stored.user);
  }

  private newId(prefix: string): string {
    const id = `${prefix}${this.nextId}`;
    this.nextId += 1;
    return id;
  }

  private courseById(courseId: string): Course {
    const course = this.courses.get(courseId);
    if (course === undefined) throw new ApiError("NOT_FOUND", "No such course.");
    return course;
  }

  private withStudentCount(course: Course): Course {
    const studentCount = this.allUsers().filter((user) => this.enrolments.has(`${course.id}:${user.id}`)).length;
    return { ...course, studentCount };
  }

  /** As the service (lms.proto): the course's owner, an instructor or the admin who created it. */
  private ownsCourse(actor: User, course: Course): boolean {
    return actor.role !== "student" && course.instructorId === actor.id;
  }

  private canSeeCourse(actor: User, course: Course): boolean {
    return this.ownsCourse(actor, course) || this.enrolments.has(`${course.id}:${actor.id}`);
  }

  private coursesOwnedBy(actor: User): Course[] {
    return [...this.courses.values()].filter((course) => this.ownsCourse(actor, course));
  }

  /**
   * A course the caller may see. Others are NOT_FOUND so their existence does not leak, except to
   * an admin, who may know every course but reads only the contents of their own (as the service:
   * PERMISSION_DENIED).
   */
  private visibleCourse(actor: User, courseId: string): Course {
    const course = this.courses.get(courseId);
    if (course !== undefined && !this.canSeeCourse(actor, course) && actor.role === "admin") {
      throw new ApiError("PERMISSION_DENIED", "You are not a member of this course.");
    }
    if (course === undefined || !this.canSeeCourse(actor, course)) throw new ApiError("NOT_FOUND", "No such course.");
    return course;
  }

  private ownedCourse(actor: User, courseId: string): Course {
    const course = this.visibleCourse(actor, courseId);
    if (!this.ownsCourse(actor, course))
      throw new ApiError("PERMISSION_DENIED", "Only the course's instructor may do this.");
    return course;
  }

  private visibleAssignment(actor: User, assignmentId: string): Assignment {
    const assignment = this.assignments.get(assignmentId);
    if (assignment === undefined) throw new ApiError("NOT_FOUND", "No such assignment.");
    this.visibleCourse(actor, assignment.courseId);
    return assignment;
  }

  private ownedAssignment(actor: User, assignmentId: string): Assignment {
    const assignment = this.visibleAssignment(actor, assignmentId);
    this.ownedCourse(actor, assignment.courseId);
    return assignment;
  }

  private scopeCourse(actor: User, input: { courseId?: string; assignmentId?: string }): string {
    if (input.assignmentId !== undefined && input.assignmentId !== "") {
      return this.visibleAssignment(actor, input.assignmentId).courseId;
    }
    if (input.courseId !== undefined && input.courseId !== "") return this.visibleCourse(actor, input.courseId).id;
    throw new ApiError("INVALID_ARGUMENT", "course_id or assignment_id is required.");
  }

  private nodeById(nodeId: string): FakeNode {
    const node = this.nodes.find((candidate) => candidate.nodeId === nodeId);
    if (node === undefined) throw new ApiError("NOT_FOUND", `No member ${nodeId}.`);
    return node;
  }
}

function hashPassword(password: string): string {
  return createHash("sha256").update(`lectern-fake:${password}`).digest("hex");
}

function checkKey(key: string): void {
  if (!idempotencyKeyPattern.test(key)) {
    throw new ApiError("INVALID_ARGUMENT", "idempotency_key must be 16 to 128 characters from A-Z a-z 0-9 _ -.");
  }
}

function checkText(field: string, value: string, minChars: number, maxChars: number): string {
  if (typeof value !== "string") throw new ApiError("INVALID_ARGUMENT", `${field} must be text.`);
  if (value.trim().length < minChars) throw new ApiError("INVALID_ARGUMENT", `${field} must not be empty.`);
  if (value.length > maxChars)
    throw new ApiError("INVALID_ARGUMENT", `${field} must have at most ${maxChars} characters.`);
  return value;
}

function checkPoints(field: string, points: number, max: number): void {
  if (!Number.isFinite(points) || points < 0 || points > max || Math.round(points * 100) !== points * 100) {
    throw new ApiError("INVALID_ARGUMENT", `${field} must be between 0 and ${max} with at most two decimals.`);
  }
}

function latestAttempts(submissions: readonly Submission[]): Submission[] {
  const latest = new Map<string, Submission>();
  for (const submission of submissions) {
    const key = `${submission.assignmentId}:${submission.studentId}`;
    const current = latest.get(key);
    if (current === undefined || submission.attempt > current.attempt) latest.set(key, submission);
  }
  return [...latest.values()];
}

/** Quotes a CSV cell and neutralises cells a spreadsheet would run as a formula. */
function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

async function* chunksOf(bytes: Uint8Array, chunkBytes = 64 * 1024): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    yield bytes.subarray(offset, offset + chunkBytes);
  }
}

/** A fresh idempotency key, for callers of the fake in tests. */
export function newFakeKey(): string {
  return randomUUID().replace(/-/g, "");
}
