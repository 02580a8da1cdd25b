import { Metadata, status } from "@grpc/grpc-js";
import { descriptionExcerpt, lmsProto } from "@lectern/lms-service";
import { describe, expect, test } from "vitest";
import { clusterUnavailableMessage, toApiError } from "../src/grpc/api-errors.js";
import { mergeClusterStatus, type NodeAnswer, unaskedMemberAddresses } from "../src/grpc/cluster-view.js";
import { derivedIdempotencyKey } from "../src/grpc/idempotency.js";
import { nodeAddressesFromEnv, parseNodeAddresses } from "../src/grpc/node-addresses.js";
import { collectPages, maxListPages } from "../src/grpc/paging.js";
import { needsGradingFromProto } from "../src/grpc/proto-mapping.js";
import { ApiError, dashboardExcerpt } from "../src/lms-api.js";

/** A grpc-js style failure with optional trailers. */
function grpcError(code: number, details: string, trailers: Record<string, string> = {}) {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(trailers)) metadata.set(name, value);
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

describe("toApiError", () => {
  test("maps status codes, keeps the service's message as a sentence and the lectern-error detail", () => {
    expect(toApiError(grpcError(status.NOT_FOUND, "no course c1"))).toEqual(new ApiError("NOT_FOUND", "No course c1."));
    const tooBig = toApiError(
      grpcError(status.RESOURCE_EXHAUSTED, "the file is over 25 MiB", { "lectern-error": "FILE_TOO_LARGE" }),
    );
    expect(tooBig).toMatchObject({ code: "RESOURCE_EXHAUSTED", detail: "FILE_TOO_LARGE" });
    expect(toApiError(grpcError(status.OUT_OF_RANGE, "x"))).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(toApiError(grpcError(status.UNIMPLEMENTED, "not supported"))).toMatchObject({ code: "FAILED_PRECONDITION" });
  });

  test("an outage after the client's retries is UNAVAILABLE; the tutor's outage keeps its own message", () => {
    for (const code of [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.ABORTED]) {
      expect(toApiError(grpcError(code, "no leader"))).toEqual(new ApiError("UNAVAILABLE", clusterUnavailableMessage));
    }
    expect(toApiError(grpcError(status.INTERNAL, "Received RST_STREAM with code 2"))).toMatchObject({
      code: "UNAVAILABLE",
    });
    const tutor = toApiError(
      grpcError(status.UNAVAILABLE, "The AI tutor is unavailable: HTTP 503.", { "lectern-error": "TUTOR_UNAVAILABLE" }),
    );
    expect(tutor).toEqual(new ApiError("UNAVAILABLE", "The AI tutor is unavailable: HTTP 503.", "TUTOR_UNAVAILABLE"));
  });

  test("anything else passes through unchanged (it becomes a logged 500)", () => {
    const internal = grpcError(status.INTERNAL, "internal error on the node");
    expect(toApiError(internal)).toBe(internal);
    const bug = new TypeError("x is undefined");
    expect(toApiError(bug)).toBe(bug);
  });
});

describe("node addresses", () => {
  test("id=host:port and plain host:port entries; blanks skipped; bad or repeated entries refused", () => {
    expect(parseNodeAddresses(["n1=127.0.0.1:7001", " 10.0.0.2:7002 ", "", "n3=[::1]:7003"])).toEqual([
      { nodeId: "n1", address: "127.0.0.1:7001" },
      { nodeId: undefined, address: "10.0.0.2:7002" },
      { nodeId: "n3", address: "[::1]:7003" },
    ]);
    expect(() => parseNodeAddresses(["no-port"])).toThrow(/host:port/);
    expect(() => parseNodeAddresses(["n1=host"])).toThrow();
    expect(() => parseNodeAddresses(["a:1", "n2=a:1"])).toThrow(/twice/);
  });

  test("LMS_NODES wins, then PEERS, then the default local cluster", () => {
    expect(nodeAddressesFromEnv({ LMS_NODES: "a:1,b:2", PEERS: "n1=c:3" }).map((n) => n.address)).toEqual([
      "a:1",
      "b:2",
    ]);
    expect(nodeAddressesFromEnv({ PEERS: "n1=c:3,n2=d:4" })).toEqual([
      { nodeId: "n1", address: "c:3" },
      { nodeId: "n2", address: "d:4" },
    ]);
    expect(nodeAddressesFromEnv({ LMS_NODES: "  " }).map((n) => `${n.nodeId}=${n.address}`)).toEqual([
      "n1=127.0.0.1:7001",
      "n2=127.0.0.1:7002",
      "n3=127.0.0.1:7003",
    ]);
  });
});

test("derived idempotency keys are deterministic, distinct per step and parent, and within lms.proto's rule", () => {
  const parent = `sub_${"x".repeat(43)}`;
  const upload = derivedIdempotencyKey(parent, "upload");
  expect(upload).toBe(derivedIdempotencyKey(parent, "upload"));
  expect(upload).not.toBe(derivedIdempotencyKey(`${parent}y`, "upload"));
  expect(upload).not.toBe(derivedIdempotencyKey(parent, "other"));
  expect(upload).toMatch(/^[A-Za-z0-9_-]{16,128}$/);
  expect(derivedIdempotencyKey("k".repeat(128), "upload")).toMatch(/^[A-Za-z0-9_-]{16,128}$/);
});

describe("collectPages", () => {
  test("follows page tokens to the end", async () => {
    const tokens: string[] = [];
    const items = await collectPages(async ({ pageToken }) => {
      tokens.push(pageToken);
      const page = pageToken === "" ? 0 : Number(pageToken);
      return { items: [page], nextPageToken: page < 2 ? String(page + 1) : "" };
    });
    expect(items).toEqual([0, 1, 2]);
    expect(tokens).toEqual(["", "1", "2"]);
  });

  test("stops at a repeated token and at the page bound", async () => {
    expect(await collectPages(async () => ({ items: [1], nextPageToken: "same" }))).toEqual([1, 1]);
    let calls = 0;
    await collectPages(async () => ({ items: [], nextPageToken: String(++calls) }));
    expect(calls).toBe(maxListPages);
  });
});

function member(id: string, kind = lmsProto.MembershipKind.MEMBERSHIP_KIND_VOTER): lmsProto.MemberStatus {
  return {
    id,
    address: `127.0.0.1:700${id.slice(1)}`,
    kind,
    isSelf: false,
    isLeader: false,
    connected: true,
    matchIndex: 0,
    nextIndex: 0,
    replication: lmsProto.ReplicationState.REPLICATION_STATE_UNSPECIFIED,
    recentlyActive: false,
    lastContactMsAgo: 0,
  };
}

function answer(
  nodeId: string,
  role: lmsProto.NodeRole,
  term: number,
  leaderId: string,
  members: lmsProto.MemberStatus[],
): NodeAnswer {
  return {
    address: `127.0.0.1:700${nodeId.slice(1)}`,
    nodeId,
    ok: true,
    status: {
      clusterId: "lectern-test",
      nodeId,
      role,
      term,
      leaderId,
      commitIndex: 10,
      appliedIndex: 9,
      lastLogIndex: 11,
      snapshotIndex: 0,
      members,
      pendingProposals: 0,
      pendingReads: 0,
      droppedPeerFrames: 0,
    },
  };
}

describe("mergeClusterStatus", () => {
  const { NODE_ROLE_LEADER: leader, NODE_ROLE_FOLLOWER: follower } = lmsProto.NodeRole;

  test("each node's own view, the leader's progress for the others, a silent node marked unreachable", () => {
    const leaderMembers = [
      member("n1"),
      { ...member("n2"), matchIndex: 11, lastContactMsAgo: 12 },
      { ...member("n3"), matchIndex: 4, lastContactMsAgo: 2500 },
    ];
    const merged = mergeClusterStatus(
      [
        answer("n1", leader, 3, "n1", leaderMembers),
        answer("n2", follower, 3, "n1", [member("n1"), member("n2"), member("n3")]),
        { address: "127.0.0.1:7003", nodeId: "n3", ok: false, error: "connect ECONNREFUSED" },
      ],
      1234,
    );
    expect(merged.leaderId).toBe("n1");
    expect(merged.clusterId).toBe("lectern-test");
    expect(merged.observedAtMs).toBe(1234);
    expect(merged.nodes.map((node) => [node.nodeId, node.role, node.reachable])).toEqual([
      ["n1", "leader", true],
      ["n2", "follower", true],
      ["n3", "unknown", false],
    ]);
    expect(merged.nodes[0]).toMatchObject({ lastContactMsAgo: 0, matchIndex: 11, commitIndex: 10, appliedIndex: 9 });
    expect(merged.nodes[1]).toMatchObject({ lastContactMsAgo: 12, matchIndex: 11, kind: "voter" });
    expect(merged.nodes[2]).toMatchObject({
      error: "connect ECONNREFUSED",
      lastContactMsAgo: 2500,
      matchIndex: 4,
      term: 0,
    });
  });

  test("the leader most nodes name wins, ties to the higher term; no answer at all leaves no leader", () => {
    const members = [member("n1"), member("n2"), member("n3")];
    const split = mergeClusterStatus(
      [answer("n1", follower, 4, "n3", members), answer("n2", leader, 5, "n2", members)],
      0,
    );
    expect(split.leaderId).toBe("n2");
    const none = mergeClusterStatus(
      [
        { address: "a:1", nodeId: "n1", ok: false, error: "down" },
        { address: "b:2", ok: false, error: "down" },
      ],
      0,
    );
    expect(none.leaderId).toBe("");
    expect(none.nodes.map((node) => [node.nodeId, node.reachable, node.kind])).toEqual([
      ["b:2", false, "unknown"],
      ["n1", false, "unknown"],
    ]);
  });

  test("members the log names but the web front was not told about are asked too, or reported as not asked", () => {
    const members = [member("n1"), member("n2"), member("n4", lmsProto.MembershipKind.MEMBERSHIP_KIND_LEARNER)];
    const answers = [answer("n1", leader, 2, "n1", members)];
    expect(unaskedMemberAddresses(answers, new Set(["127.0.0.1:7001", "127.0.0.1:7002"]))).toEqual(["127.0.0.1:7004"]);
    const merged = mergeClusterStatus(answers, 0);
    expect(merged.nodes.find((node) => node.nodeId === "n4")).toMatchObject({
      kind: "learner",
      reachable: false,
      error: expect.stringMatching(/not asked/),
    });
  });
});

test("needs grading: the service's counts, each with its course's title", () => {
  const assignment = (id: string, courseId: string): lmsProto.Assignment => ({
    id,
    courseId,
    title: `title of ${id}`,
    description: "",
    dueAtMs: 42,
    maxPoints: 10,
    createdAtMs: 0,
    gradesReleasedAtMs: 0,
  });
  const items = needsGradingFromProto([
    { assignment: assignment("a1", "c1"), ungradedCount: 3, lateCount: 2, courseTitle: "C" },
    { assignment: assignment("a2", "c2"), ungradedCount: 1, lateCount: 0, courseTitle: "Other" },
  ]);
  expect(items).toEqual([
    {
      courseId: "c1",
      courseTitle: "C",
      assignmentId: "a1",
      assignmentTitle: "title of a1",
      dueAtMs: 42,
      ungradedCount: 3,
      lateCount: 2,
    },
    {
      courseId: "c2",
      courseTitle: "Other",
      assignmentId: "a2",
      assignmentTitle: "title of a2",
      dueAtMs: 42,
      ungradedCount: 1,
      lateCount: 0,
    },
  ]);
  const missing = { assignment: undefined, ungradedCount: 1, lateCount: 0, courseTitle: "C" };
  expect(() => needsGradingFromProto([missing])).toThrow(/an assignment/);
});

test("main builds the gRPC API from PEERS when LMS_NODES is unset, and closes it", async () => {
  const { createApiFromEnv } = await import("../src/main.js");
  const { api, banner, close } = createApiFromEnv({ PEERS: "n1=127.0.0.1:7101,n2=127.0.0.1:7102" });
  expect(banner).toEqual(["LMS nodes (PEERS): 127.0.0.1:7101, 127.0.0.1:7102"]);
  expect((api as { nodes?: unknown }).nodes).toEqual([
    { nodeId: "n1", address: "127.0.0.1:7101" },
    { nodeId: "n2", address: "127.0.0.1:7102" },
  ]);
  close();
});

describe("dashboardExcerpt", () => {
  test("cuts exactly as the service's descriptionExcerpt, for every bound over texts of every kind", () => {
    const texts = [
      "",
      "plain ASCII text of some length",
      "😀😀😀 emoji of two UTF-16 units each 😀",
      "é€漢字 mixed widths ✓",
      "lone \ud800 surrogate \udc00 halves",
      "x".repeat(300),
    ];
    for (const text of texts) {
      for (let maxChars = 0; maxChars <= text.length + 2; maxChars++) {
        expect(dashboardExcerpt(text, maxChars)).toBe(descriptionExcerpt(text, maxChars));
      }
    }
    expect(dashboardExcerpt("x".repeat(300))).toBe(`${"x".repeat(279)}…`);
  });
});
