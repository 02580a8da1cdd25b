import { createHash } from "node:crypto";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../src/auth/tokens.js";
import type { LmsClient } from "../../src/client/lms-client.js";
import { lecternErrorCode } from "../../src/client/retry-policy.js";
import {
  FileServiceClient,
  ReadConsistency,
  Role,
  type UploadFileHeader,
  type UploadFileRequest,
} from "../../src/gen/lms.js";
import { FakeOllama } from "../tutor/fake-ollama.js";
import { failure, type RetryEvent, TestCluster } from "./cluster-harness.js";

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

const maxFileBytes = 2 * 1024 * 1024;
const password = "a long enough password";

describe("a 3-node LMS cluster over real gRPC on 127.0.0.1", () => {
  const fakeOllama = new FakeOllama();
  let cluster: TestCluster;
  let anonymous: LmsClient;
  let admin: LmsClient;
  let instructor: LmsClient;
  let sam: LmsClient;
  let tara: LmsClient;
  let samId = "";
  let taraId = "";
  let courseId = "";
  let assignmentId = "";
  let samFileId = "";
  const samFile = Buffer.from("print('hello from sam')\n".repeat(40_000)); // ~1 MiB: several chunk entries

  beforeAll(async () => {
    const ollamaUrl = await fakeOllama.start();
    cluster = await TestCluster.start({ ollamaUrl, maxFileBytes });
    await cluster.leader();
    anonymous = cluster.client();
  }, 30_000);

  afterAll(async () => {
    anonymous?.close();
    await cluster?.stop();
    await fakeOllama.stop();
  });

  it("bootstraps the first admin once, with the cluster-secret proof only", async () => {
    const wrong = await failure(
      anonymous.auth.bootstrapAdmin({ username: "root", password, bootstrapProof: "ab".repeat(32) }),
    );
    expect(wrong.code).toBe(status.PERMISSION_DENIED);
    const { user } = await anonymous.auth.bootstrapAdmin({
      username: "root",
      password,
      bootstrapProof: cluster.proof("root"),
    });
    expect(user?.role).toBe(Role.ROLE_ADMIN);
    const again = await failure(
      anonymous.auth.bootstrapAdmin({ username: "root2", password, bootstrapProof: cluster.proof("root2") }),
    );
    expect(again.code).toBe(status.FAILED_PRECONDITION);
    admin = anonymous.withToken((await anonymous.auth.login({ username: "root", password })).token);
  });

  it("lets the admin create an instructor, and students register themselves", async () => {
    const created = await admin.auth.createUser({
      username: "ines",
      password,
      displayName: "Ines",
      role: Role.ROLE_INSTRUCTOR,
    });
    expect(created.user?.role).toBe(Role.ROLE_INSTRUCTOR);
    samId = (await anonymous.auth.register({ username: "Sam", password, displayName: "Sam" })).user?.id ?? "";
    taraId = (await anonymous.auth.register({ username: "tara", password, displayName: "Tara" })).user?.id ?? "";
    expect(samId).not.toBe("");
    const taken = await failure(anonymous.auth.register({ username: "sam", password }));
    expect(taken.code).toBe(status.ALREADY_EXISTS);
    const weak = await failure(anonymous.auth.register({ username: "weak", password: "short" }));
    expect(weak.code).toBe(status.INVALID_ARGUMENT);
  });

  it("logs in on a follower and forwards a follower's writes to the leader", async () => {
    const follower = await cluster.follower();
    const onFollower = cluster.client([follower.address]);
    try {
      const login = await onFollower.auth.login({ username: "ines", password });
      instructor = anonymous.withToken(login.token);
      const ines = onFollower.withToken(login.token);
      const { course } = await ines.courses.createCourse({
        title: "Distributed Systems",
        description: "Raft and friends",
      });
      courseId = course?.id ?? "";
      expect(course?.instructorId).toBe(login.user?.id);
      // Every node holds the course once a linearizable read returns on it.
      for (const node of cluster.nodes.values()) {
        const direct = cluster.client([node.address]).withToken(login.token);
        expect((await direct.courses.getCourse({ courseId })).course?.title).toBe("Distributed Systems");
        direct.close();
      }
      const wrongPassword = await failure(onFollower.auth.login({ username: "ines", password: "not the password" }));
      expect(wrongPassword.code).toBe(status.UNAUTHENTICATED);
    } finally {
      onFollower.close();
    }
  });

  it("enrols students through a join code and posts an assignment", async () => {
    const { joinCode } = await instructor.courses.createJoinCode({ courseId });
    expect(joinCode?.code).toMatch(/^[A-Z0-9]{8}$/);
    sam = anonymous.withToken((await anonymous.auth.login({ username: "sam", password })).token);
    tara = anonymous.withToken((await anonymous.auth.login({ username: "tara", password })).token);
    expect((await sam.courses.joinCourse({ code: joinCode?.code })).course?.id).toBe(courseId);
    expect((await tara.courses.joinCourse({ code: joinCode?.code?.toLowerCase() })).course?.studentCount).toBe(2);
    const notOwner = await failure(sam.assignments.createAssignment({ courseId, title: "x", maxPoints: 10 }));
    expect(notOwner.code).toBe(status.PERMISSION_DENIED);
    const { assignment } = await instructor.assignments.createAssignment({
      courseId,
      title: "Implement ReadIndex",
      description: "Thesis §6.4",
      dueAtMs: Date.now() + 3_600_000,
      maxPoints: 10,
    });
    assignmentId = assignment?.id ?? "";
    expect(assignment?.gradesReleasedAtMs).toBe(0);
  });

  it("uploads a file in chunks, keeps path tricks out of the file system, and submits it", async () => {
    const { file } = await sam.files.upload({
      name: "../../../etc/passwd",
      contentType: "Text/X-Python; charset=utf-8",
      data: samFile,
    });
    samFileId = file?.fileId ?? "";
    expect(samFileId).toBe(createHash("sha256").update(samFile).digest("hex"));
    expect(file?.name).toBe("passwd");
    expect(file?.contentType).toBe("text/x-python");
    expect(file?.sizeBytes).toBe(samFile.byteLength);
    // The name never became a path: the bytes live under their hash on every node.
    await expect(access(join(cluster.root, "etc", "passwd"))).rejects.toThrow();
    for (const node of cluster.nodes.values()) {
      await node.raft.read();
      expect(await node.context.files.has(samFileId)).toBe(true);
    }
    const { submission } = await sam.assignments.submit({ assignmentId, text: "see attached", fileIds: [samFileId] });
    expect(submission?.attempt).toBe(1);
    expect(submission?.late).toBe(false);
    expect(submission?.files[0]?.name).toBe("passwd");

    // The same bytes from a spooled file; a retry with the same key replays, other content under it is refused.
    const spooled = join(cluster.root, "spooled-upload.bin");
    await writeFile(spooled, samFile);
    const first = await sam.files.upload({ name: "copy.py", path: spooled, idempotencyKey: "spooled-upload-key-01" });
    expect(first.file?.fileId).toBe(samFileId);
    const leaderStore = (await cluster.leader()).context.store;
    const uploadsBefore = (await leaderStore.list("uploads", "")).length;
    const replay = await sam.files.upload({ name: "copy.py", path: spooled, idempotencyKey: "spooled-upload-key-01" });
    expect(replay.file).toEqual(first.file);
    const renamed = await failure(
      sam.files.upload({ name: "other.py", path: spooled, idempotencyKey: "spooled-upload-key-01" }),
    );
    expect(renamed.code).toBe(status.INVALID_ARGUMENT);
    expect((await leaderStore.list("uploads", "")).length).toBe(uploadsBefore);

    const mine = await sam.files.downloadAll(samFileId);
    expect(mine.data.equals(samFile)).toBe(true);
    expect((await instructor.files.downloadAll(samFileId)).data.byteLength).toBe(samFile.byteLength);
  });

  it("keeps students out of each other's work", async () => {
    const history = await failure(tara.assignments.getSubmissionHistory({ assignmentId, studentId: samId }));
    expect(history.code).toBe(status.PERMISSION_DENIED);
    // Another student's file is hidden: NOT_FOUND, as for a file that does not exist (lms.proto).
    const download = await failure(tara.files.download({ fileId: samFileId }));
    expect(download.code).toBe(status.NOT_FOUND);
    const listed = await tara.assignments.listSubmissions({ assignmentId });
    expect(listed.submissions).toEqual([]);
    const others = await failure(tara.assignments.listSubmissions({ assignmentId, studentId: samId }));
    expect(others.code).toBe(status.PERMISSION_DENIED);
  });

  it("hides a grade from the student until it is released", async () => {
    await instructor.assignments.gradeSubmission({
      assignmentId,
      studentId: samId,
      points: 8.5,
      feedback: '=HYPERLINK("x")',
    });
    const { grade } = await instructor.assignments.gradeSubmission({
      assignmentId,
      studentId: samId,
      points: 9,
      feedback: "=good work",
    });
    expect(grade?.points).toBe(9);
    expect(grade?.released).toBe(false);
    expect((await sam.assignments.listGrades({ courseId })).grades).toEqual([]);
    // Unreleased, the grade does not exist for the student yet: NOT_FOUND (lms.proto).
    const early = await failure(sam.assignments.getGradeHistory({ courseId, assignmentId, studentId: samId }));
    expect(early.code).toBe(status.NOT_FOUND);
    expect((await instructor.assignments.listGrades({ courseId })).grades).toHaveLength(1);
  });

  it("retries a write after the leader is killed mid-journey and applies it exactly once", async () => {
    const leader = await cluster.leader();
    // Start at the leader so the kill hits the node holding the call.
    const order = [leader.address, ...cluster.addresses.filter((address) => address !== leader.address)];
    const retries: RetryEvent[] = [];
    const viaLeader = cluster.client(order, (retry) => retries.push(retry)).withToken(instructor.token as string);
    await viaLeader.cluster.getHealth({}); // Connected before the write starts.
    const before = leader.raft.status().lastIndex;
    const idempotencyKey = "failover-note-0000000001";
    const write = viaLeader.content.postFeedback({ idempotencyKey, courseId, text: "posted across a failover" });
    // Kill the leader once the write is in its log, before the client hears back.
    while (leader.raft.status().lastIndex === before) await new Promise((resolve) => setImmediate(resolve));
    await cluster.kill(leader.nodeId);
    const { note } = await write;
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0].failedAddress).toBe(leader.address);
    const newLeader = await cluster.leader();
    expect(newLeader.nodeId).not.toBe(leader.nodeId);
    // The same key again (as a client retrying after a lost answer would): the first result, no new note.
    const again = await viaLeader.content.postFeedback({ idempotencyKey, courseId, text: "posted across a failover" });
    expect(again.note?.id).toBe(note?.id);
    const notes = (await instructor.content.listFeedback({ courseId })).notes.filter(
      (n) => n.text === "posted across a failover",
    );
    expect(notes).toHaveLength(1);
    const reused = await failure(viaLeader.content.postFeedback({ idempotencyKey, courseId, text: "other content" }));
    expect(reused.code).toBe(status.INVALID_ARGUMENT);
    viaLeader.close();
  }, 30_000);

  it("releases grades, exports CSV with formulas neutralised, and keeps the grade history", async () => {
    const { assignment } = await instructor.assignments.setGradesReleased({ assignmentId, released: true });
    expect(assignment?.gradesReleasedAtMs).toBeGreaterThan(0);
    const { grades } = await sam.assignments.listGrades({ courseId });
    expect(grades.map((g) => [g.points, g.released])).toEqual([[9, true]]);

    const chunks = await collect(instructor.assignments.exportGradesCsv({ courseId }));
    expect(chunks[0].fileName).toBe(`grades-${courseId}.csv`);
    const csv = Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.data))).toString("utf8");
    expect(csv).toContain('"sam"');
    expect(csv).toContain(`"'=good work"`);
    expect(csv).not.toMatch(/(^|,)"=/m);
    const studentExport = await failure(sam.assignments.exportGradesCsv({ courseId }));
    expect(studentExport.code).toBe(status.PERMISSION_DENIED);

    const { changes } = await instructor.assignments.getGradeHistory({ courseId });
    expect(changes.map((c) => [c.oldPoints, c.newPoints])).toEqual([
      [undefined, 8.5],
      [8.5, 9],
    ]);
    expect(changes[0].logIndex).toBeLessThan(changes[1].logIndex);
    expect((await sam.assignments.getGradeHistory({ courseId, assignmentId, studentId: samId })).changes).toHaveLength(
      2,
    );
  });

  it("refuses missing, forged, expired and revoked tokens with UNAUTHENTICATED", async () => {
    expect((await failure(anonymous.auth.whoAmI({}))).code).toBe(status.UNAUTHENTICATED);
    expect((await failure(anonymous.withToken("not.a.jwt").auth.whoAmI({}))).code).toBe(status.UNAUTHENTICATED);
    const forger = new TokenService("x".repeat(48));
    const forged = forger.issue({ userId: samId, username: "sam", role: "admin" }).token;
    expect((await failure(anonymous.withToken(forged).cluster.getClusterStatus({}))).code).toBe(status.UNAUTHENTICATED);
    const past = new TokenService(
      cluster.secrets.jwtSecret,
      () => false,
      () => Date.now() - 13 * 3_600_000,
    );
    const expired = past.issue({ userId: samId, username: "sam", role: "student" }).token;
    const expiredError = await failure(anonymous.withToken(expired).auth.whoAmI({}));
    expect(expiredError.code).toBe(status.UNAUTHENTICATED);
    expect(expiredError.details).toContain("expired");

    const session = anonymous.withToken((await anonymous.auth.login({ username: "tara", password })).token);
    expect((await session.auth.whoAmI({})).user?.id).toBe(taraId);
    await session.auth.logout({});
    for (const node of cluster.nodes.values()) {
      const direct = cluster.client([node.address]).withToken(session.token as string);
      await node.raft.read();
      expect((await failure(direct.auth.whoAmI({}))).code).toBe(status.UNAUTHENTICATED);
      direct.close();
    }
    // Other sessions of the same user are unaffected.
    expect((await tara.auth.whoAmI({})).user?.username).toBe("tara");
  });

  it("refuses an oversized upload with a clear error and replicates nothing", async () => {
    const leader = await cluster.leader();
    const before = leader.raft.status().lastIndex;
    const big = Buffer.alloc(maxFileBytes + 1, 7);
    const error = await failure(sam.files.upload({ name: "big.bin", data: big }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(lecternErrorCode(error)).toBe("FILE_TOO_LARGE");
    expect(error.details).toContain(`${maxFileBytes}-byte`);
    expect(leader.raft.status().lastIndex).toBe(before);
    expect(await leader.context.files.has(createHash("sha256").update(big).digest("hex"))).toBe(false);
  });

  it("stops a stream that passes the limit without a declared size, and refuses a wrong hash, changing nothing", async () => {
    const leader = await cluster.leader();
    const raw = new FileServiceClient(leader.address, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${sam.token}`);
    const send = (parts: UploadFileRequest[]) =>
      new Promise<ServiceError | undefined>((resolve) => {
        const call = raw.upload(metadata, (error) => resolve(error ?? undefined));
        call.on("error", () => {});
        for (const part of parts) call.write(part);
        call.end();
      });
    const before = leader.raft.status().lastIndex;
    const header = (extra: Partial<UploadFileHeader>): UploadFileRequest => ({
      part: {
        $case: "header",
        value: {
          idempotencyKey: "raw-upload-key-0000001",
          name: "x.bin",
          contentType: "",
          sizeBytes: 0,
          sha256: "",
          ...extra,
        },
      },
    });
    const megabyte = new Uint8Array(1024 * 1024);
    const chunk: UploadFileRequest = { part: { $case: "chunk", value: megabyte } };
    const tooBig = await send([header({}), chunk, chunk, chunk]);
    expect(tooBig?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(lecternErrorCode(tooBig)).toBe("FILE_TOO_LARGE");
    const wrongHash = await send([header({ sha256: "0".repeat(64) }), chunk]);
    expect(wrongHash?.code).toBe(status.INVALID_ARGUMENT);
    expect(wrongHash?.details).toContain("sha256");
    const chunkFirst = await send([chunk]);
    expect(chunkFirst?.code).toBe(status.INVALID_ARGUMENT);
    expect(leader.raft.status().lastIndex).toBe(before);
    raw.close();
  });

  it("streams the tutor's answer token by token and records the exchange", async () => {
    fakeOllama.behaviour = { kind: "stream", pieces: ["A quorum ", "is a ", "majority."], delayMs: 2 };
    const events = await collect(sam.tutor.askTutor({ question: "What is a quorum?" }));
    const tokens = events.flatMap((e) => (e.event?.$case === "token" ? [e.event.value.text] : []));
    expect(tokens).toEqual(["A quorum ", "is a ", "majority."]);
    const done = events.at(-1)?.event;
    expect(done?.$case).toBe("done");
    const { exchanges } = await sam.tutor.listTutorExchanges({});
    expect(exchanges.map((e) => [e.question, e.answer])).toEqual([["What is a quorum?", "A quorum is a majority."]]);
  });

  it("answers UNAVAILABLE when no model server runs, and everything else keeps working", async () => {
    await fakeOllama.stop();
    const error = await failure(sam.tutor.askTutor({ question: "Anyone there?" }));
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(lecternErrorCode(error)).toBe("TUTOR_UNAVAILABLE");
    expect(error.details).not.toBe("");
    expect((await sam.auth.whoAmI({})).user?.username).toBe("sam");
    expect((await sam.content.askQuestion({ courseId, text: "Is the tutor down?" })).question?.status).toBe(1);
  });

  it("reports every member's state in the cluster status (admins only)", async () => {
    const leader = await cluster.leader();
    const viaLeader = cluster.client([leader.address]).withToken(admin.token as string);
    const statusReply = await viaLeader.cluster.getClusterStatus({});
    expect(statusReply.members.map((m) => m.id)).toEqual(["n1", "n2", "n3"]);
    expect(statusReply.members.filter((m) => m.isLeader).map((m) => m.id)).toEqual([leader.nodeId]);
    expect(statusReply.commitIndex).toBeGreaterThan(0);
    const alive = statusReply.members.filter((m) => cluster.nodes.has(m.id));
    expect(alive.every((m) => m.connected)).toBe(true);
    expect((await failure(sam.cluster.getClusterStatus({}))).code).toBe(status.PERMISSION_DENIED);
    expect((await anonymous.cluster.getHealth({})).leaderId).toBe(leader.nodeId);
    viaLeader.close();
  });

  it("restarts the killed node from its disk; it catches up and serves a local read", async () => {
    const down = ["n1", "n2", "n3"].find((id) => !cluster.nodes.has(id)) as string;
    const restarted = await cluster.startNode(down);
    const leader = await cluster.leader();
    const deadline = Date.now() + 10_000;
    while (restarted.raft.status().stateMachineApplied < leader.raft.status().commit) {
      if (Date.now() > deadline) throw new Error(`${down} did not catch up`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const direct = cluster.client([restarted.address]).withToken(instructor.token as string);
    const { notes } = await direct.content.listFeedback({
      courseId,
      consistency: ReadConsistency.READ_CONSISTENCY_LOCAL,
    });
    expect(notes.filter((n) => n.text === "posted across a failover")).toHaveLength(1);
    expect(await restarted.context.files.has(samFileId)).toBe(true);
    direct.close();
  }, 20_000);

  it("finishes an upload whose leader dies part-way, storing it once", async () => {
    const leader = await cluster.leader();
    const order = [leader.address, ...cluster.addresses.filter((address) => address !== leader.address)];
    const retries: RetryEvent[] = [];
    const viaLeader = cluster.client(order, (retry) => retries.push(retry)).withToken(sam.token as string);
    await viaLeader.cluster.getHealth({});
    const data = Buffer.alloc(1536 * 1024, 3); // Three chunk entries.
    const countUploads = async (store: typeof leader.context.store) =>
      (await store.list("uploads", "")).filter((u) => u.value.ownerId === samId && u.value.state === "committed")
        .length;
    const committedBefore = await countUploads(leader.context.store);
    const before = leader.raft.status().lastIndex;
    const upload = viaLeader.files.upload({ name: "big.bin", data, idempotencyKey: "upload-across-failover-1" });
    while (leader.raft.status().lastIndex === before) await new Promise((resolve) => setImmediate(resolve));
    await cluster.kill(leader.nodeId);
    const { file } = await upload;
    expect(retries.length).toBeGreaterThan(0);
    expect(file?.sha256).toBe(createHash("sha256").update(data).digest("hex"));
    const newLeader = await cluster.leader();
    expect(await countUploads(newLeader.context.store)).toBe(committedBefore + 1);
    expect((await sam.files.downloadAll(file?.fileId as string)).data.equals(data)).toBe(true);
    viaLeader.close();
  }, 30_000);
});
