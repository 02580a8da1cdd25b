import { status } from "@grpc/grpc-js";
import { LmsClient, type RetryEvent } from "@lectern/lms-service";
import { clusterUnavailableMessage, mapErrors, toApiError } from "./grpc/api-errors.js";
import { mergeClusterStatus, type NodeAnswer, unaskedMemberAddresses } from "./grpc/cluster-view.js";
import { coursePageFromLists } from "./grpc/course-page-from-lists.js";
import { derivedIdempotencyKey } from "./grpc/idempotency.js";
import { type NodeAddress, parseNodeAddresses } from "./grpc/node-addresses.js";
import { collectPages } from "./grpc/paging.js";
import {
  assignmentFromProto,
  courseFromProto,
  coursePageFromProto,
  dashboardFromProto,
  feedbackNoteFromProto,
  fileFromProto,
  gradeChangeFromProto,
  gradeFromProto,
  joinCodeFromProto,
  materialFromProto,
  needsGradingFromProto,
  questionFromProto,
  questionStatusToProto,
  required,
  roleToProto,
  submissionFromProto,
  tutorExchangeFromProto,
  userFromProto,
} from "./grpc/proto-mapping.js";
import { readStream, streamRest } from "./grpc/streams.js";
import {
  ApiError,
  type Assignment,
  type ClusterStatus,
  type Course,
  type CourseDetail,
  type CoursePage,
  type CsvExport,
  type DashboardData,
  dashboardDescriptionChars,
  type FeedbackNote,
  type FileDownload,
  type Grade,
  type GradeChange,
  isApiError,
  type JoinCode,
  type LmsApi,
  type Material,
  type NeedsGradingItem,
  type Question,
  type QuestionStatus,
  type ServiceHealth,
  type Session,
  type SpooledFile,
  type Submission,
  type TutorExchange,
  type User,
} from "./lms-api.js";

/** Deadline of one attempt of an ordinary call (the client retries on other nodes after it). */
export const defaultWebCallTimeoutMs = 5_000;
/** Deadline of a call that moves a whole file or a whole tutor answer. */
export const defaultStreamTimeoutMs = 120_000;
/** How long the cluster page and the health check wait for one node. */
export const defaultStatusTimeoutMs = 1_000;
/** Deadline of a leadership transfer (the service waits up to 10 s for the target to take over). */
export const transferLeadershipTimeoutMs = 15_000;
/** Times a leadership transfer looks the leader up again after asking a node that no longer leads. */
export const maxTransferAttempts = 2;
/** Per-token clients kept for reuse (they share the channels; this only saves rebuilding them). */
export const maxCachedTokenClients = 1_000;

/** Where the gRPC client finds the LMS nodes, and how patient it is. */
export interface GrpcLmsApiOptions {
  /** `id=host:port` entries or plain `host:port` addresses of the LMS nodes' client API. */
  readonly nodes: readonly string[];
  /** Deadline of one attempt (default {@link defaultWebCallTimeoutMs}). */
  readonly callTimeoutMs?: number;
  /** Deadline of uploads, downloads, CSV exports and tutor answers (default {@link defaultStreamTimeoutMs}). */
  readonly streamTimeoutMs?: number;
  /** Deadline of one node's status or health answer (default {@link defaultStatusTimeoutMs}). */
  readonly statusTimeoutMs?: number;
  /** Attempts of one call across the nodes (default: the client's). */
  readonly maxAttempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Told about every failed attempt that is retried (logs, tests). */
  readonly onRetry?: (retry: RetryEvent) => void;
}

/** The {@link LmsApi} over gRPC, plus what a process needs to stop it. */
export interface GrpcLmsApi extends LmsApi {
  /** The nodes it talks to. */
  readonly nodes: readonly NodeAddress[];
  /** Closes every channel. */
  close(): void;
}

/**
 * The {@link LmsApi} over the cluster-aware {@link LmsClient}: each call goes to the node that
 * last answered, follows leader hints, fails over to the other nodes and retries writes with the
 * same idempotency key; failures become {@link ApiError}s. Files are uploaded from the spooled
 * path with a key derived from the write's key before the submission or material refers to them.
 *
 * @example
 * ```ts
 * const api = createGrpcLmsApi({ nodes: ["n1=127.0.0.1:7001", "n2=127.0.0.1:7002", "n3=127.0.0.1:7003"] });
 * const session = await api.login({ username: "ada", password: "correct horse battery" });
 * const courses = await api.listCourses(session.token);
 * ```
 */
export function createGrpcLmsApi(options: GrpcLmsApiOptions): GrpcLmsApi {
  return new GrpcLmsApiClient(options);
}

class GrpcLmsApiClient implements GrpcLmsApi {
  readonly nodes: readonly NodeAddress[];
  private readonly client: LmsClient;
  private readonly tokenClients = new Map<string, LmsClient>();
  /** One single-node client per address, for the calls that must ask every node. */
  private readonly nodeClients = new Map<string, LmsClient>();
  private readonly streamTimeoutMs: number;
  private readonly statusTimeoutMs: number;

  constructor(options: GrpcLmsApiOptions) {
    this.nodes = parseNodeAddresses(options.nodes);
    if (this.nodes.length === 0) {
      throw new Error("createGrpcLmsApi: no LMS nodes given (set LMS_NODES or PEERS, e.g. n1=127.0.0.1:7001)");
    }
    this.client = new LmsClient({
      addresses: this.nodes.map((node) => node.address),
      callTimeoutMs: options.callTimeoutMs ?? defaultWebCallTimeoutMs,
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      ...(options.initialBackoffMs === undefined ? {} : { initialBackoffMs: options.initialBackoffMs }),
      ...(options.maxBackoffMs === undefined ? {} : { maxBackoffMs: options.maxBackoffMs }),
      ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
    });
    this.streamTimeoutMs = options.streamTimeoutMs ?? defaultStreamTimeoutMs;
    this.statusTimeoutMs = options.statusTimeoutMs ?? defaultStatusTimeoutMs;
  }

  close(): void {
    this.client.close();
    for (const client of this.nodeClients.values()) client.close();
    this.nodeClients.clear();
    this.tokenClients.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // Accounts and sessions

  register(input: { idempotencyKey: string; username: string; password: string; displayName: string }): Promise<User> {
    return mapErrors(async () => userFromProto((await this.client.auth.register(input)).user));
  }

  login(input: { username: string; password: string }): Promise<Session> {
    return mapErrors(async () => {
      const response = await this.client.auth.login(input);
      return { token: response.token, expiresAtMs: response.expiresAtMs, user: userFromProto(response.user) };
    });
  }

  logout(token: string, input: { idempotencyKey: string }): Promise<void> {
    return mapErrors(async () => {
      await this.as(token).auth.logout(input);
      this.tokenClients.delete(token);
    });
  }

  whoAmI(token: string): Promise<User> {
    return mapErrors(async () => userFromProto((await this.as(token).auth.whoAmI({})).user));
  }

  createUser(
    token: string,
    input: {
      idempotencyKey: string;
      username: string;
      password: string;
      displayName: string;
      role: "instructor" | "admin";
    },
  ): Promise<User> {
    return mapErrors(async () => {
      const response = await this.as(token).auth.createUser({ ...input, role: roleToProto(input.role) });
      return userFromProto(response.user);
    });
  }

  listStudents(token: string, input: { courseId?: string }): Promise<User[]> {
    const auth = this.as(token).auth;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await auth.listStudents({ courseId: input.courseId ?? "", ...page });
          return { items: response.students, nextPageToken: response.nextPageToken };
        })
      ).map((user) => userFromProto(user)),
    );
  }

  listInstructors(token: string): Promise<User[]> {
    const auth = this.as(token).auth;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await auth.listInstructors(page);
          return { items: response.instructors, nextPageToken: response.nextPageToken };
        })
      ).map((user) => userFromProto(user)),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Courses, join codes and enrolment

  createCourse(token: string, input: { idempotencyKey: string; title: string; description: string }): Promise<Course> {
    return mapErrors(async () => courseFromProto((await this.as(token).courses.createCourse(input)).course));
  }

  listCourses(token: string): Promise<Course[]> {
    const courses = this.as(token).courses;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await courses.listCourses(page);
          return { items: response.courses, nextPageToken: response.nextPageToken };
        })
      ).map((course) => courseFromProto(course)),
    );
  }

  getCourse(token: string, input: { courseId: string }): Promise<CourseDetail> {
    return mapErrors(async () => {
      const response = await this.as(token).courses.getCourse({ courseId: input.courseId });
      return { course: courseFromProto(response.course), instructor: userFromProto(response.instructor) };
    });
  }

  /**
   * One GetCoursePage call; for a course whose page is too large for one message (the node answers
   * RESOURCE_EXHAUSTED) the same page is built from the paged list RPCs instead, each under its
   * own read barrier (course-page-from-lists.ts says why that is acceptable).
   */
  getCoursePage(token: string, input: { courseId: string }): Promise<CoursePage> {
    const client = this.as(token);
    return mapErrors(async () => {
      try {
        return coursePageFromProto(await client.courses.getCoursePage({ courseId: input.courseId }));
      } catch (error) {
        if ((error as { code?: unknown }).code !== status.RESOURCE_EXHAUSTED) throw error;
      }
      return coursePageFromProto(await coursePageFromLists(client, input.courseId));
    });
  }

  getDashboard(token: string): Promise<DashboardData> {
    return mapErrors(async () =>
      dashboardFromProto(await this.as(token).courses.getDashboard({ maxDescriptionChars: dashboardDescriptionChars })),
    );
  }

  createJoinCode(
    token: string,
    input: { idempotencyKey: string; courseId: string; expiresAtMs: number },
  ): Promise<JoinCode> {
    return mapErrors(async () => joinCodeFromProto((await this.as(token).courses.createJoinCode(input)).joinCode));
  }

  revokeJoinCode(token: string, input: { idempotencyKey: string; courseId: string; code: string }): Promise<JoinCode> {
    return mapErrors(async () => joinCodeFromProto((await this.as(token).courses.revokeJoinCode(input)).joinCode));
  }

  listJoinCodes(token: string, input: { courseId: string }): Promise<JoinCode[]> {
    return mapErrors(async () => {
      const response = await this.as(token).courses.listJoinCodes({ courseId: input.courseId });
      return response.joinCodes.map((code) => joinCodeFromProto(code));
    });
  }

  joinCourse(token: string, input: { idempotencyKey: string; code: string }): Promise<Course> {
    return mapErrors(async () => courseFromProto((await this.as(token).courses.joinCourse(input)).course));
  }

  enrolStudent(token: string, input: { idempotencyKey: string; courseId: string; username: string }): Promise<User> {
    return mapErrors(async () => userFromProto((await this.as(token).courses.enrolStudent(input)).student));
  }

  // ---------------------------------------------------------------------------------------------
  // Materials and questions

  postMaterial(
    token: string,
    input: { idempotencyKey: string; courseId: string; title: string; description: string; file?: SpooledFile },
  ): Promise<Material> {
    const client = this.as(token);
    return mapErrors(async () => {
      const fileId = input.file === undefined ? "" : await this.upload(client, input.file, input.idempotencyKey);
      const response = await client.content.postMaterial({
        idempotencyKey: input.idempotencyKey,
        courseId: input.courseId,
        title: input.title,
        description: input.description,
        fileId,
      });
      return materialFromProto(response.material);
    });
  }

  listMaterials(token: string, input: { courseId: string }): Promise<Material[]> {
    const content = this.as(token).content;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await content.listMaterials({ courseId: input.courseId, ...page });
          return { items: response.materials, nextPageToken: response.nextPageToken };
        })
      ).map((material) => materialFromProto(material)),
    );
  }

  deleteMaterial(token: string, input: { idempotencyKey: string; materialId: string }): Promise<void> {
    return mapErrors(async () => {
      await this.as(token).content.deleteMaterial(input);
    });
  }

  postFeedback(
    token: string,
    input: { idempotencyKey: string; courseId: string; studentId?: string; text: string },
  ): Promise<FeedbackNote> {
    return mapErrors(async () => {
      const response = await this.as(token).content.postFeedback({ ...input, studentId: input.studentId ?? "" });
      return feedbackNoteFromProto(response.note);
    });
  }

  listFeedback(token: string, input: { courseId: string; studentId?: string }): Promise<FeedbackNote[]> {
    const content = this.as(token).content;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await content.listFeedback({
            courseId: input.courseId,
            studentId: input.studentId ?? "",
            ...page,
          });
          return { items: response.notes, nextPageToken: response.nextPageToken };
        })
      ).map((note) => feedbackNoteFromProto(note)),
    );
  }

  askQuestion(token: string, input: { idempotencyKey: string; courseId: string; text: string }): Promise<Question> {
    return mapErrors(async () => questionFromProto((await this.as(token).content.askQuestion(input)).question));
  }

  answerQuestion(
    token: string,
    input: { idempotencyKey: string; questionId: string; answer: string },
  ): Promise<Question> {
    return mapErrors(async () => questionFromProto((await this.as(token).content.answerQuestion(input)).question));
  }

  listQuestions(token: string, input: { courseId: string; status?: QuestionStatus }): Promise<Question[]> {
    const content = this.as(token).content;
    const wanted = questionStatusToProto(input.status);
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await content.listQuestions({ courseId: input.courseId, status: wanted, ...page });
          return { items: response.questions, nextPageToken: response.nextPageToken };
        })
      ).map((question) => questionFromProto(question)),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Assignments, submissions and grades

  createAssignment(
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
    return mapErrors(async () =>
      assignmentFromProto((await this.as(token).assignments.createAssignment(input)).assignment),
    );
  }

  listAssignments(token: string, input: { courseId: string }): Promise<Assignment[]> {
    const assignments = this.as(token).assignments;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await assignments.listAssignments({ courseId: input.courseId, ...page });
          return { items: response.assignments, nextPageToken: response.nextPageToken };
        })
      ).map((assignment) => assignmentFromProto(assignment)),
    );
  }

  getAssignment(token: string, input: { assignmentId: string }): Promise<Assignment> {
    return mapErrors(async () =>
      assignmentFromProto(
        (await this.as(token).assignments.getAssignment({ assignmentId: input.assignmentId })).assignment,
      ),
    );
  }

  submit(
    token: string,
    input: { idempotencyKey: string; assignmentId: string; text: string; file?: SpooledFile },
  ): Promise<Submission> {
    const client = this.as(token);
    return mapErrors(async () => {
      const fileIds = input.file === undefined ? [] : [await this.upload(client, input.file, input.idempotencyKey)];
      const response = await client.assignments.submit({
        idempotencyKey: input.idempotencyKey,
        assignmentId: input.assignmentId,
        text: input.text,
        fileIds,
      });
      return submissionFromProto(response.submission);
    });
  }

  listSubmissions(
    token: string,
    input: { courseId?: string; assignmentId?: string; studentId?: string; includeAllAttempts?: boolean },
  ): Promise<Submission[]> {
    const assignments = this.as(token).assignments;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await assignments.listSubmissions({
            courseId: input.courseId ?? "",
            assignmentId: input.assignmentId ?? "",
            studentId: input.studentId ?? "",
            includeAllAttempts: input.includeAllAttempts ?? false,
            ...page,
          });
          return { items: response.submissions, nextPageToken: response.nextPageToken };
        })
      ).map((submission) => submissionFromProto(submission)),
    );
  }

  getSubmissionHistory(token: string, input: { assignmentId: string; studentId?: string }): Promise<Submission[]> {
    return mapErrors(async () => {
      const response = await this.as(token).assignments.getSubmissionHistory({
        assignmentId: input.assignmentId,
        studentId: input.studentId ?? "",
      });
      return response.attempts.map((submission) => submissionFromProto(submission));
    });
  }

  gradeSubmission(
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
    return mapErrors(async () => {
      const response = await this.as(token).assignments.gradeSubmission({
        ...input,
        submissionId: input.submissionId ?? "",
      });
      return gradeFromProto(response.grade);
    });
  }

  setGradesReleased(
    token: string,
    input: { idempotencyKey: string; assignmentId: string; released: boolean },
  ): Promise<Assignment> {
    return mapErrors(async () =>
      assignmentFromProto((await this.as(token).assignments.setGradesReleased(input)).assignment),
    );
  }

  listGrades(token: string, input: { courseId: string; assignmentId?: string; studentId?: string }): Promise<Grade[]> {
    const assignments = this.as(token).assignments;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await assignments.listGrades({
            courseId: input.courseId,
            assignmentId: input.assignmentId ?? "",
            studentId: input.studentId ?? "",
            ...page,
          });
          return { items: response.grades, nextPageToken: response.nextPageToken };
        })
      ).map((grade) => gradeFromProto(grade)),
    );
  }

  getGradeHistory(
    token: string,
    input: { courseId: string; assignmentId?: string; studentId?: string },
  ): Promise<GradeChange[]> {
    const assignments = this.as(token).assignments;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await assignments.getGradeHistory({
            courseId: input.courseId,
            assignmentId: input.assignmentId ?? "",
            studentId: input.studentId ?? "",
            ...page,
          });
          return { items: response.changes, nextPageToken: response.nextPageToken };
        })
      ).map((change) => gradeChangeFromProto(change)),
    );
  }

  /**
   * One ListNeedsGrading call: the service applies the needs-grading rule under one read barrier
   * and names each entry's course. With `courses`, the queue is that of those courses only, as the
   * fake's.
   */
  listNeedsGrading(
    token: string,
    input: { courseId?: string; courses?: readonly Course[] },
  ): Promise<NeedsGradingItem[]> {
    return mapErrors(async () => {
      // The queue shows titles only: descriptions come cut, as on the dashboard.
      const { items } = await this.as(token).assignments.listNeedsGrading({
        courseId: input.courseId ?? "",
        maxDescriptionChars: dashboardDescriptionChars,
      });
      const queue = needsGradingFromProto(items);
      if (input.courses === undefined) return queue;
      const given = new Set(input.courses.map((course) => course.id));
      return queue.filter((item) => given.has(item.courseId));
    });
  }

  exportGradesCsv(token: string, input: { courseId: string }): Promise<CsvExport> {
    const client = this.as(token);
    return mapErrors(async () => {
      const opened = await readStream((signal) =>
        client.assignments.exportGradesCsv({ courseId: input.courseId }, { signal, timeoutMs: this.streamTimeoutMs }),
      );
      const fileName = opened.first?.fileName || `grades-${input.courseId.replace(/[^A-Za-z0-9_-]/g, "_")}.csv`;
      return {
        fileName,
        chunks: streamRest(opened, (chunk) => (chunk.data.byteLength === 0 ? [] : [chunk.data])),
      };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Files

  downloadFile(token: string, input: { fileId: string }): Promise<FileDownload> {
    const client = this.as(token);
    return mapErrors(async () => {
      const opened = await readStream((signal) =>
        client.files.download({ fileId: input.fileId }, { signal, timeoutMs: this.streamTimeoutMs }),
      ).catch((error: unknown) => {
        // A malformed id (from a hand-edited link) names no file: a 404, not a form error.
        const mapped = toApiError(error);
        throw isApiError(mapped) && mapped.code === "INVALID_ARGUMENT"
          ? new ApiError("NOT_FOUND", "No such file.")
          : mapped;
      });
      const header = opened.first?.part;
      if (header?.$case !== "header") {
        opened.cancel();
        throw new Error("the LMS service's download did not start with a header");
      }
      return {
        file: fileFromProto(header.value.file),
        chunks: streamRest(opened, (message) => (message.part?.$case === "chunk" ? [message.part.value] : []), {
          skipFirst: true,
        }),
      };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // AI tutor

  askTutor(
    token: string,
    input: { idempotencyKey: string; question: string; materialId?: string },
  ): AsyncIterable<string> {
    const client = this.as(token);
    const timeoutMs = this.streamTimeoutMs;
    return {
      async *[Symbol.asyncIterator]() {
        // Stopping early (the reader went away) cancels the answer on the node.
        const controller = new AbortController();
        try {
          const events = client.tutor.askTutor(
            { idempotencyKey: input.idempotencyKey, question: input.question, materialId: input.materialId ?? "" },
            { signal: controller.signal, timeoutMs },
          );
          for await (const event of events) {
            if (event.event?.$case === "token") yield event.event.value.text;
            else if (event.event?.$case === "done") return;
          }
        } catch (error) {
          throw toApiError(error);
        } finally {
          controller.abort();
        }
      },
    };
  }

  listTutorExchanges(token: string): Promise<TutorExchange[]> {
    const tutor = this.as(token).tutor;
    return mapErrors(async () =>
      (
        await collectPages(async (page) => {
          const response = await tutor.listTutorExchanges({ courseId: "", ...page });
          return { items: response.exchanges, nextPageToken: response.nextPageToken };
        })
      ).map((exchange) => tutorExchangeFromProto(exchange)),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Cluster

  /**
   * Asks every node for its own view (the configured ones, then any member address they list that
   * was not configured), each with a short deadline, and merges the answers. A refused token or
   * role fails the whole call; a node that does not answer is only marked unreachable.
   */
  async getClusterStatus(token: string): Promise<ClusterStatus> {
    const ask = (address: string, nodeId: string | undefined): Promise<NodeAnswer> =>
      this.nodeClient(address)
        .withToken(token)
        .cluster.getClusterStatus({}, { timeoutMs: this.statusTimeoutMs })
        .then(
          (status): NodeAnswer => ({ address, ...(nodeId === undefined ? {} : { nodeId }), ok: true, status }),
          (error: unknown): NodeAnswer => {
            const mapped = toApiError(error);
            if (isApiError(mapped) && mapped.code !== "UNAVAILABLE") throw mapped;
            return { address, ...(nodeId === undefined ? {} : { nodeId }), ok: false, error: describeFailure(error) };
          },
        );
    const answers = await Promise.all(this.nodes.map((node) => ask(node.address, node.nodeId)));
    const asked = new Set(this.nodes.map((node) => node.address));
    const more = unaskedMemberAddresses(answers, asked);
    if (more.length > 0) answers.push(...(await Promise.all(more.map((address) => ask(address, undefined)))));
    return mergeClusterStatus(answers, Date.now());
  }

  addMember(
    token: string,
    input: { idempotencyKey: string; nodeId: string; address: string; asLearner: boolean },
  ): Promise<void> {
    return mapErrors(async () => {
      await this.as(token).cluster.addMember(input);
    });
  }

  promoteMember(token: string, input: { idempotencyKey: string; nodeId: string }): Promise<void> {
    return mapErrors(async () => {
      await this.as(token).cluster.promoteMember(input);
    });
  }

  removeMember(token: string, input: { idempotencyKey: string; nodeId: string }): Promise<void> {
    return mapErrors(async () => {
      await this.as(token).cluster.removeMember(input);
    });
  }

  /**
   * Only the leader can hand over leadership, so this finds it from every node's status and asks
   * it directly (the failover client would send the call to whichever node answered last). A
   * leader that changed in between is looked up once more. Asking for the current leader changes
   * nothing. A refused or timed-out transfer (ABORTED from the service) is FAILED_PRECONDITION
   * with the service's reason, not an outage.
   */
  async transferLeadership(
    token: string,
    input: { idempotencyKey: string; targetNodeId: string },
  ): Promise<{ leaderId: string }> {
    for (let attempt = 1; ; attempt++) {
      const cluster = await this.getClusterStatus(token);
      if (cluster.leaderId === input.targetNodeId) return { leaderId: cluster.leaderId };
      const leader = cluster.nodes.find((node) => node.nodeId === cluster.leaderId && node.reachable);
      if (leader === undefined) throw new ApiError("UNAVAILABLE", clusterUnavailableMessage);
      try {
        const response = await this.nodeClient(leader.address)
          .withToken(token)
          .cluster.transferLeadership(input, { timeoutMs: transferLeadershipTimeoutMs });
        return { leaderId: response.leaderId };
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code !== status.ABORTED) throw toApiError(error);
        const details = String((error as { details?: unknown }).details ?? "");
        if (/not-leader/.test(details) && attempt < maxTransferAttempts) continue;
        throw new ApiError("FAILED_PRECONDITION", transferFailure(details), "TRANSFER_FAILED");
      }
    }
  }

  /** GetHealth on every configured node at once: ok when the node runs. */
  health(): Promise<ServiceHealth[]> {
    return Promise.all(
      this.nodes.map(async (node): Promise<ServiceHealth> => {
        const label = node.nodeId ?? node.address;
        try {
          const health = await this.nodeClient(node.address).cluster.getHealth({}, { timeoutMs: this.statusTimeoutMs });
          const name = `node ${health.nodeId || label}`;
          return health.lifecycle === "running" ? { name, ok: true } : { name, ok: false, detail: health.lifecycle };
        } catch (error) {
          return { name: `node ${label}`, ok: false, detail: `unreachable (${describeFailure(error)})` };
        }
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------

  /** A client acting as the token's user, over the shared channels. */
  private as(token: string): LmsClient {
    let client = this.tokenClients.get(token);
    if (client === undefined) {
      client = this.client.withToken(token);
      if (this.tokenClients.size >= maxCachedTokenClients) {
        const oldest = this.tokenClients.keys().next().value;
        if (oldest !== undefined) this.tokenClients.delete(oldest);
      }
      this.tokenClients.set(token, client);
    }
    return client;
  }

  /** A client bound to one node that never fails over (status and health must ask that node). */
  private nodeClient(address: string): LmsClient {
    let client = this.nodeClients.get(address);
    if (client === undefined) {
      client = new LmsClient({ addresses: [address], maxAttempts: 1, callTimeoutMs: this.statusTimeoutMs });
      this.nodeClients.set(address, client);
    }
    return client;
  }

  /**
   * Uploads a spooled file with a key derived from the write's key, so retrying the write re-uses
   * the first upload, and checks that the service stored exactly the bytes the web front hashed.
   */
  private async upload(client: LmsClient, file: SpooledFile, writeKey: string): Promise<string> {
    const response = await client.files.upload(
      {
        path: file.path,
        name: file.name,
        contentType: file.contentType,
        idempotencyKey: derivedIdempotencyKey(writeKey, "upload"),
      },
      { timeoutMs: this.streamTimeoutMs },
    );
    const stored = fileFromProto(required(response, "an upload answer").file);
    if (stored.sha256 !== file.sha256 || stored.sizeBytes !== file.sizeBytes) {
      throw new ApiError("INVALID_ARGUMENT", "The file changed while it was being uploaded. Send it again.");
    }
    return stored.fileId;
  }
}

/** The service's reason a transfer failed, as a sentence for the cluster page. */
function transferFailure(details: string): string {
  const reason = details.trim().replace(/\.$/, "");
  if (reason === "") return "The leadership transfer did not happen.";
  return `${reason[0].toUpperCase()}${reason.slice(1)}.`;
}

/** A short reason a node did not answer, for the cluster page and the health check. */
function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const details = String((error as { details?: unknown }).details ?? (error instanceof Error ? error.message : ""));
  // grpc-js explains a refused connection in a paragraph; the page needs two words.
  if (/ECONNREFUSED|connection refused/i.test(details)) return "connection refused";
  if (/No connection established/i.test(details)) return "not connected";
  if (/ENOTFOUND|EAI_AGAIN/.test(details)) return "host not found";
  if (code === status.DEADLINE_EXCEEDED) return "no answer in time";
  const firstSentence = details.split(/(?<=\.)\s/)[0]?.trim() ?? "";
  return firstSentence === "" ? "no answer" : firstSentence.slice(0, 200);
}
