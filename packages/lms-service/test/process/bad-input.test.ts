import { randomBytes } from "node:crypto";
import { Client, credentials, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmsClient } from "../../src/client/lms-client.js";
import { PeerFrame, ProtocolVersion, RaftPeerClient } from "../../src/gen/raft.js";
import { clusterIdFor } from "../../src/node/lms-node.js";
import { sharedServerMaxMessageBytes } from "../../src/transport/limits.js";
import { ProcessCluster } from "./process-cluster.js";

const password = "a long enough password";
const operatorStrings = ['{"$gt": ""}', '{"$ne": null}', "$where", "a.$gt"];

/** The gRPC error a call failed with; fails the test when it succeeded. */
async function failure(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("the call succeeded, but a failure was expected");
}

/** One unary call with raw request bytes (bypassing every client-side encoder). */
function rawUnary(address: string, path: string, request: Buffer): Promise<ServiceError | undefined> {
  const client = new Client(address, credentials.createInsecure(), {
    "grpc.max_send_message_length": -1,
    "grpc.max_receive_message_length": -1,
  });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      request,
      { deadline: Date.now() + 10_000 },
      (error) => {
        client.close();
        resolve(error ?? undefined);
      },
    );
  });
}

/**
 * Bad input against real node processes, each answered with a clear error and changing nothing
 * (the leader's commit index stays put and every node stays healthy). Cases covered elsewhere are
 * listed in the report of this work: forged / expired / revoked JWT, wrong role, another student's
 * work, oversized upload and path tricks in test/node/lms-cluster.test.ts; unknown peer id, wrong
 * credential, wrong cluster id, malformed and oversized peer frames in
 * test/transport/grpc-peer-transport.test.ts; operator objects in commands in
 * test/domain/command-codec.test.ts.
 */
describe("bad input to LMS node processes changes nothing", { timeout: 30_000 }, () => {
  let cluster: ProcessCluster;
  let anonymous: LmsClient;
  let admin: LmsClient;
  let leader = "";

  /** The leader's commit index once the member recorder's configuration entry is in. */
  async function settledCommit(): Promise<number> {
    return cluster.waitFor("every member recorded", async () => {
      const membership = (await (await fetch(cluster.httpUrl(leader, "/membership"))).json()) as {
        recorded?: string[];
      };
      const health = await cluster.health(leader);
      return membership.recorded?.length === cluster.ids.length && health?.commit === health?.applied
        ? health?.commit
        : undefined;
    });
  }

  async function expectNothingChanged(commitBefore: number): Promise<void> {
    // Give anything wrongly proposed time to commit before looking.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await cluster.health(leader))?.commit).toBe(commitBefore);
    for (const id of cluster.ids) expect((await cluster.health(id))?.status, id).toBe("running");
  }

  beforeAll(async () => {
    cluster = await ProcessCluster.create();
    cluster.startAll();
    leader = (await cluster.leader()).node;
    anonymous = cluster.client();
    await anonymous.auth.bootstrapAdmin({
      username: "root",
      password,
      displayName: "Root",
      bootstrapProof: await cluster.proof("root"),
    });
    admin = anonymous.withToken((await anonymous.auth.login({ username: "root", password })).token);
    await anonymous.auth.register({ username: "sam", password, displayName: "Sam" });
  }, 30_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it("refuses NoSQL operator strings as usernames, ids and login names", async () => {
    const before = await settledCommit();
    for (const text of operatorStrings) {
      const register = await failure(anonymous.auth.register({ username: text, password, displayName: text }));
      expect(register.code, text).toBe(status.INVALID_ARGUMENT);
      const login = await failure(anonymous.auth.login({ username: text, password }));
      expect([status.UNAUTHENTICATED, status.INVALID_ARGUMENT], text).toContain(login.code);
      const course = await failure(admin.courses.getCourse({ courseId: text }));
      expect([status.INVALID_ARGUMENT, status.NOT_FOUND], text).toContain(course.code);
      const students = await failure(admin.auth.listStudents({ courseId: text, pageSize: 10, pageToken: "" }));
      expect([status.INVALID_ARGUMENT, status.NOT_FOUND], text).toContain(students.code);
    }
    // No operator matched anyone: the only student is still exactly sam.
    const { students } = await admin.auth.listStudents({ courseId: "", pageSize: 10, pageToken: "" });
    expect(students.map((s) => s.username)).toEqual(["sam"]);
    await expectNothingChanged(before);
  });

  it("answers a request that does not decode with INTERNAL and keeps serving", async () => {
    const before = await settledCommit();
    // Field 2 (username) as a length-delimited string whose length runs past the end.
    const garbage = Buffer.from([0x12, 0xff, 0xff, 0xff, 0x0f, 0x61]);
    const error = await rawUnary(cluster.address(leader), "/lectern.lms.v1.AuthService/Register", garbage);
    expect(error?.code).toBe(status.INTERNAL);
    const notProto = await rawUnary(cluster.address(leader), "/lectern.lms.v1.AuthService/Login", randomBytes(64));
    expect(notProto).toBeDefined();
    await expectNothingChanged(before);
    // Still serving (not a login: the operator-string logins above count against the login limit).
    const { students } = await admin.auth.listStudents({ courseId: "", pageSize: 10, pageToken: "" });
    expect(students.map((s) => s.username)).toEqual(["sam"]);
  });

  it("refuses a request above the server's message limit with RESOURCE_EXHAUSTED", async () => {
    const before = await settledCommit();
    const oversized = Buffer.alloc(sharedServerMaxMessageBytes + 1024, 0x61);
    // A valid Register request: field 4 (display_name) as one huge string.
    const header = Buffer.from([0x22, ...varint(oversized.length)]);
    const error = await rawUnary(
      cluster.address(leader),
      "/lectern.lms.v1.AuthService/Register",
      Buffer.concat([header, oversized]),
    );
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    await expectNothingChanged(before);
  });

  it("refuses a peer hello without a credential, delivering nothing", async () => {
    const before = await settledCommit();
    const follower = cluster.ids.find((id) => id !== leader) as string;
    const client = new RaftPeerClient(cluster.address(follower), credentials.createInsecure());
    const call = client.connect();
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      call.on("error", (error: ServiceError) => resolve(error));
      call.on("end", () => resolve(undefined));
      call.on("data", () => {});
    });
    // The leader's id, the right cluster id, but no credential: anyone could write this.
    call.write(
      PeerFrame.fromPartial({
        body: {
          $case: "hello",
          value: {
            protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1,
            clusterId: clusterIdFor(await cluster.clusterSecret()),
            senderId: leader,
            receiverId: follower,
            timestampMs: Date.now(),
            nonce: randomBytes(16),
          },
        },
      }),
    );
    const error = await ended;
    client.close();
    expect([status.UNAUTHENTICATED, status.INVALID_ARGUMENT]).toContain(error?.code);
    // The follower still follows the same leader: the forged hello did not reach Raft.
    expect((await cluster.health(follower))?.leader).toBe(leader);
    expect(await cluster.metrics(follower)).toMatch(
      /^lectern_peer_transport_events_total\{event="(refusedHellos|malformedFrames)"\} [1-9]/m,
    );
    await expectNothingChanged(before);
  });
});

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}
