import { createHash, randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LmsClient } from "../../src/client/lms-client.js";
import { lecternErrorCode } from "../../src/client/retry-policy.js";
import { Role } from "../../src/gen/lms.js";
import type { LmsNode } from "../../src/node/lms-node.js";
import { TestCluster } from "./cluster-harness.js";

/**
 * Files after a snapshot (DESIGN "Files": snapshots list hashes and a restoring node fetches the
 * missing files by hash and verifies them): a follower that was down while a file was uploaded,
 * and whose missing log the leader has compacted, installs a snapshot (Raft §7) and then copies the
 * file from a peer over PeerFiles; until it holds a file it answers downloads with UNAVAILABLE.
 */

const password = "a long enough password";
/** Snapshot (and compact) every 16 entries, keeping 4: a node down for a few writes needs a snapshot. */
const raft = { snapshotEveryEntries: 16, snapshotTrailingEntries: 4 };

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("a node that installs a snapshot copies the files it names from a peer", () => {
  let cluster: TestCluster;
  let anonymous: LmsClient;
  let ines: LmsClient;
  let sam: LmsClient;
  let courseId = "";
  let downId = "";
  let restarted: LmsNode;
  const file = randomBytes(700 * 1024); // Several upload chunk entries, several PeerFiles chunks.
  const fileId = createHash("sha256").update(file).digest("hex");

  beforeAll(async () => {
    cluster = await TestCluster.start({ raft });
    await cluster.leader();
    anonymous = cluster.client();
    await anonymous.auth.bootstrapAdmin({ username: "root", password, bootstrapProof: cluster.proof("root") });
    const admin = anonymous.withToken((await anonymous.auth.login({ username: "root", password })).token);
    await admin.auth.createUser({ username: "ines", password, displayName: "Ines", role: Role.ROLE_INSTRUCTOR });
    await anonymous.auth.register({ username: "sam", password, displayName: "Sam" });
    ines = anonymous.withToken((await anonymous.auth.login({ username: "ines", password })).token);
    sam = anonymous.withToken((await anonymous.auth.login({ username: "sam", password })).token);
    courseId = (await ines.courses.createCourse({ title: "Files", description: "" })).course?.id ?? "";
    await ines.courses.enrolStudent({ courseId, username: "sam" });
  }, 30_000);

  afterAll(async () => {
    anonymous?.close();
    await cluster?.stop();
  });

  it("installs a snapshot after missing an upload, then fetches the file and serves it", async () => {
    downId = (await cluster.follower()).nodeId;
    await cluster.kill(downId);
    const leader = await cluster.leader();
    const { file: uploaded } = await ines.files.upload({ name: "essay.bin", contentType: "", data: file });
    expect(uploaded?.fileId).toBe(fileId);
    await ines.content.postMaterial({ courseId, title: "the essay", description: "", fileId });
    const uploadedAt = leader.raft.status().commit;
    // The LMS store syncs every 64 commits and the log is compacted only up to what it synced:
    // enough writes that the compaction point passes the upload, so the down node can learn of
    // the file only from a snapshot (never by applying the upload's chunk entries itself).
    await until(
      "the leader compacts the log the down node would need",
      async () => {
        await Promise.all(
          Array.from({ length: 8 }, (_, i) => ines.content.postFeedback({ courseId, text: `note ${i}` })),
        );
        return leader.raft.status().snapshotIndex > uploadedAt;
      },
      30_000,
    );

    restarted = await cluster.startNode(downId);
    await until("the restarted node installs a snapshot", () => restarted.raft.status().snapshotsReceived > 0);
    await until("the restarted node holds the file", () => restarted.context.files.has(fileId));
    // The copy is logged once the fetcher's pass ends, which may be a moment after the file lands.
    await until("the copy is logged", () =>
      (cluster.loggers.get(downId)?.lines ?? []).some(
        (line) => line.includes("copied a missing file") && line.includes(fileId),
      ),
    );

    const direct = cluster.client([restarted.address]).withToken(sam.token as string);
    try {
      expect((await direct.files.downloadAll(fileId)).data.equals(file)).toBe(true);
    } finally {
      direct.close();
    }
  }, 60_000);

  it("answers UNAVAILABLE while a file is not yet copied, and copies it again at the next start", async () => {
    // As after a crash mid-copy: the records name the file, the file store lacks it.
    await rm(restarted.context.files.pathOf(fileId));
    // Straight to this node, without the client's failover: a single attempt, on a connection
    // that is already up (so the attempt cannot fail for a connection still being set up).
    const direct = new LmsClient({ addresses: [restarted.address], maxAttempts: 1 }).withToken(sam.token as string);
    try {
      await until("the node answers on this connection", () =>
        direct.cluster.getHealth({}).then(
          () => true,
          () => false,
        ),
      );
      const missing = (await direct.files.downloadAll(fileId).catch((error: unknown) => error)) as ServiceError;
      expect(missing.code).toBe(status.UNAVAILABLE);
      expect(lecternErrorCode(missing)).toBe("FILE_NOT_YET_COPIED");
      expect(missing.details).toContain("not yet copied to this node");
      expect(missing.details).toContain("another node");
    } finally {
      direct.close();
    }
    await restarted.stop();
    cluster.nodes.delete(downId);
    restarted = await cluster.startNode(downId);
    await until("the file is copied at start", () => restarted.context.files.has(fileId));
  }, 60_000);
});
