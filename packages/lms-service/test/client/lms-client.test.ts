import { Metadata, Server, ServerCredentials, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LmsClient, type RetryEvent } from "../../src/client/lms-client.js";
import { backoffMs, isConnectionFailure, isRetryable } from "../../src/client/retry-policy.js";
import {
  AssignmentServiceService,
  AuthServiceService,
  ClusterServiceService,
  CourseContentServiceService,
  CourseServiceService,
  CreateCourseResponse,
  ExportGradesCsvChunk,
  FileServiceService,
  GetHealthResponse,
  TutorServiceService,
} from "../../src/gen/lms.js";
import { freePorts } from "../node/cluster-harness.js";

function unavailable(details: string, trailers: Record<string, string> = {}): Partial<ServiceError> {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(trailers)) metadata.set(name, value);
  return { code: status.UNAVAILABLE, details, metadata };
}

/** A stand-in node: a real gRPC server whose few handlers the test scripts. */
class FakeNode {
  readonly server = new Server();
  address = "";
  readonly seenKeys: string[] = [];
  healthCalls = 0;
  failHealthWith: Partial<ServiceError> | undefined;
  failCreateCourseWith: Partial<ServiceError> | undefined;
  failExportWith: Partial<ServiceError> | undefined;

  async start(): Promise<void> {
    this.server.addService(ClusterServiceService, {
      getHealth: (_call: unknown, callback: (error: Partial<ServiceError> | null, value?: object) => void) => {
        this.healthCalls++;
        if (this.failHealthWith !== undefined) callback(this.failHealthWith);
        else callback(null, GetHealthResponse.fromPartial({ nodeId: this.address, lifecycle: "running" }));
      },
    });
    this.server.addService(CourseServiceService, {
      createCourse: (
        call: { request: { idempotencyKey: string; title: string } },
        callback: (error: Partial<ServiceError> | null, value?: object) => void,
      ) => {
        this.seenKeys.push(call.request.idempotencyKey);
        if (this.failCreateCourseWith !== undefined) callback(this.failCreateCourseWith);
        else callback(null, CreateCourseResponse.fromPartial({ course: { id: "c1", title: call.request.title } }));
      },
    });
    this.server.addService(AssignmentServiceService, {
      exportGradesCsv: (call: { write(m: object): void; end(): void; emit(e: string, v: object): void }) => {
        if (this.failExportWith !== undefined) {
          call.emit("error", this.failExportWith);
          return;
        }
        call.write(ExportGradesCsvChunk.fromPartial({ data: Buffer.from("a,b\r\n"), fileName: "grades.csv" }));
        call.write(ExportGradesCsvChunk.fromPartial({ data: Buffer.from("1,2\r\n") }));
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      ),
    );
    this.address = `127.0.0.1:${port}`;
  }
}

describe("LmsClient failover", () => {
  const a = new FakeNode();
  const b = new FakeNode();
  let dead = "";

  beforeAll(async () => {
    await a.start();
    await b.start();
    dead = `127.0.0.1:${(await freePorts(1))[0]}`;
  });
  afterAll(() => {
    a.server.forceShutdown();
    b.server.forceShutdown();
  });

  function client(addresses: string[], retries: RetryEvent[] = [], maxAttempts = 6): LmsClient {
    return new LmsClient({
      addresses,
      maxAttempts,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      onRetry: (retry) => retries.push(retry),
    });
  }

  it("has a method for every RPC of lms.proto", () => {
    const lms = client([a.address]);
    const apis: [Record<string, unknown>, Record<string, unknown>][] = [
      [lms.auth, AuthServiceService],
      [lms.courses, CourseServiceService],
      [lms.assignments, AssignmentServiceService],
      [lms.content, CourseContentServiceService],
      [lms.files as unknown as Record<string, unknown>, FileServiceService],
      [lms.tutor, TutorServiceService],
      [lms.cluster, ClusterServiceService],
    ];
    let rpcs = 0;
    for (const [api, service] of apis) {
      for (const name of Object.keys(service)) {
        rpcs++;
        expect(typeof api[name], name).toBe("function");
      }
    }
    expect(rpcs).toBe(50);
    lms.close();
  });

  it("skips a node whose connection just failed when a live node refuses (no backoff spent on the dead one)", async () => {
    const retries: RetryEvent[] = [];
    // Mid-election: a and b refuse ("no leader yet") until b has refused once; then a answers.
    const noLeader = unavailable("this node is not the leader; no leader is known yet", {
      "lectern-error": "NOT_LEADER",
    });
    a.failHealthWith = noLeader;
    b.failHealthWith = noLeader;
    const lms = new LmsClient({
      addresses: [dead, a.address, b.address],
      maxAttempts: 10,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      onRetry: (retry) => {
        retries.push(retry);
        if (retry.failedAddress === b.address) a.failHealthWith = undefined;
      },
    });
    try {
      expect((await lms.cluster.getHealth({})).nodeId).toBe(a.address);
      // The dead node failed at the connection, so after b it is a's turn again, not the dead one's.
      expect(retries.map((r) => [r.failedAddress, r.nextAddress])).toEqual([
        [dead, a.address],
        [a.address, b.address],
        [b.address, a.address],
      ]);
    } finally {
      a.failHealthWith = undefined;
      b.failHealthWith = undefined;
      lms.close();
    }
  });

  it("moves on from a dead node and stays with the node that answered", async () => {
    const retries: RetryEvent[] = [];
    const lms = client([dead, a.address], retries);
    const before = a.healthCalls;
    expect((await lms.cluster.getHealth({})).nodeId).toBe(a.address);
    expect(retries.map((r) => [r.failedAddress, r.nextAddress])).toEqual([[dead, a.address]]);
    await lms.cluster.getHealth({});
    expect(retries).toHaveLength(1); // The second call went straight to the working node.
    expect(a.healthCalls - before).toBe(2);
    lms.close();
  });

  it("follows the leader hint instead of trying nodes in order", async () => {
    const retries: RetryEvent[] = [];
    a.failHealthWith = unavailable("not the leader", {
      "lectern-error": "NOT_LEADER",
      "lectern-leader-address": b.address,
    });
    const lms = client([a.address, dead, b.address], retries);
    try {
      expect((await lms.cluster.getHealth({})).nodeId).toBe(b.address);
      expect(retries.map((r) => [r.nextAddress, r.followedLeaderHint])).toEqual([[b.address, true]]);
    } finally {
      a.failHealthWith = undefined;
      lms.close();
    }
  });

  it("re-sends a write with the same, generated idempotency key", async () => {
    a.seenKeys.length = 0;
    b.seenKeys.length = 0;
    a.failCreateCourseWith = unavailable("outcome unknown", { "lectern-error": "OUTCOME_UNKNOWN" });
    const lms = client([a.address, b.address]);
    try {
      expect((await lms.courses.createCourse({ title: "Algebra" })).course?.title).toBe("Algebra");
      expect(a.seenKeys).toHaveLength(1);
      expect(a.seenKeys[0]).toMatch(/^[A-Za-z0-9_-]{16,128}$/);
      expect(b.seenKeys).toEqual(a.seenKeys);
      await lms.courses.createCourse({ title: "Algebra" });
      expect(b.seenKeys[1]).not.toBe(b.seenKeys[0]); // A new call gets a new key.
    } finally {
      a.failCreateCourseWith = undefined;
      lms.close();
    }
  });

  it("does not retry errors another node would repeat", async () => {
    const retries: RetryEvent[] = [];
    a.failCreateCourseWith = { code: status.PERMISSION_DENIED, details: "no", metadata: new Metadata() };
    const lms = client([a.address, b.address], retries);
    try {
      const error = (await lms.courses.createCourse({ title: "x" }).catch((e: unknown) => e)) as ServiceError;
      expect(error.code).toBe(status.PERMISSION_DENIED);
      a.failHealthWith = unavailable("model server down", { "lectern-error": "TUTOR_UNAVAILABLE" });
      const tutorDown = (await lms.cluster.getHealth({}).catch((e: unknown) => e)) as ServiceError;
      expect(tutorDown.code).toBe(status.UNAVAILABLE);
      expect(retries).toEqual([]);
    } finally {
      a.failCreateCourseWith = undefined;
      a.failHealthWith = undefined;
      lms.close();
    }
  });

  it("gives up after the bounded number of attempts", async () => {
    const retries: RetryEvent[] = [];
    const lms = client([dead], retries, 4);
    const error = (await lms.cluster.getHealth({}).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(retries).toHaveLength(3);
    lms.close();
  });

  it("retries a server stream that failed before its first message", async () => {
    a.failExportWith = unavailable("leader changed", { "lectern-error": "LEADER_CHANGED" });
    const lms = client([a.address, b.address]);
    try {
      const chunks = [];
      for await (const chunk of lms.assignments.exportGradesCsv({ courseId: "c1" })) chunks.push(chunk);
      expect(Buffer.concat(chunks.map((c) => Buffer.from(c.data))).toString()).toBe("a,b\r\n1,2\r\n");
    } finally {
      a.failExportWith = undefined;
      lms.close();
    }
  });
});

describe("retry policy", () => {
  it("retries what another node may answer, never a caller's abort", () => {
    expect(isRetryable({ code: status.UNAVAILABLE }, false)).toBe(true);
    expect(isRetryable({ code: status.UNAVAILABLE }, true)).toBe(false);
    expect(isRetryable({ code: status.CANCELLED }, false)).toBe(true);
    expect(isRetryable({ code: status.INTERNAL, details: "Received RST_STREAM with code 2" }, false)).toBe(true);
    expect(isRetryable({ code: status.INTERNAL, details: "bug" }, false)).toBe(false);
    for (const code of [status.INVALID_ARGUMENT, status.NOT_FOUND, status.UNAUTHENTICATED, status.RESOURCE_EXHAUSTED]) {
      expect(isRetryable({ code }, false)).toBe(false);
    }
  });

  it("tells a node that did not answer from a node's own refusal", () => {
    expect(isConnectionFailure({ code: status.UNAVAILABLE, details: "No connection established" })).toBe(true);
    expect(isConnectionFailure({ code: status.INTERNAL, details: "Received RST_STREAM with code 2" })).toBe(true);
    expect(isConnectionFailure(unavailable("not the leader", { "lectern-error": "NOT_LEADER" }))).toBe(false);
    expect(isConnectionFailure({ code: status.INTERNAL, details: "internal error on the node" })).toBe(false);
    expect(isConnectionFailure({ code: status.NOT_FOUND })).toBe(false);
  });

  it("backs off exponentially with jitter inside [ceiling/2, ceiling]", () => {
    for (const random of [0, 0.5, 0.999]) {
      expect(backoffMs(1, 50, 1000, () => random)).toBeGreaterThanOrEqual(25);
      expect(backoffMs(1, 50, 1000, () => random)).toBeLessThanOrEqual(50);
      expect(backoffMs(3, 50, 1000, () => random)).toBeGreaterThanOrEqual(100);
      expect(backoffMs(30, 50, 1000, () => random)).toBeLessThanOrEqual(1000);
    }
  });
});
