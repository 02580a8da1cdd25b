import { describe, expect, test } from "vitest";
import type { Message, SnapshotChunk } from "../../src/core/types.js";
import { RaftServer } from "../../src/runtime/raft-server.js";
import {
  command,
  createCluster,
  ListStateMachine,
  LocalNetwork,
  ManualClock,
  SeededRandom,
  SnapshotTestStorage,
  type TestCluster,
  TestStorage,
  track,
} from "./helpers.js";

/** Snapshots every 20 applied entries, 5 entries kept behind each, chunks of 64 bytes (many per snapshot). */
const SNAPSHOTS = { snapshotEveryEntries: 20, snapshotTrailingEntries: 5, snapshotChunkBytes: 64 } as const;

async function snapshotCluster(seed = 1): Promise<TestCluster> {
  return createCluster(["a", "b", "c"], { seed, overrides: SNAPSHOTS, snapshotStorage: true });
}

function storageOf(cluster: TestCluster, id: string): SnapshotTestStorage {
  return cluster.nodes[id].storage as SnapshotTestStorage;
}

/** Proposes `count` commands on `id`, 10 at a time, and waits until all of them resolved. */
async function proposeMany(cluster: TestCluster, id: string, count: number, prefix = "c"): Promise<void> {
  for (let start = 0; start < count; start += 10) {
    const calls = Array.from({ length: Math.min(10, count - start) }, (_, i) =>
      track(cluster.nodes[id].server.propose(command(`${prefix}${start + i}`))),
    );
    const done = await cluster.waitFor(() => calls.every((c) => c.state !== "pending"));
    expect(done).toBe(true);
    expect(calls.map((c) => c.state)).toEqual(calls.map(() => "resolved"));
  }
}

/** Every listed node's state machine has applied the leader's last index. */
function caughtUp(cluster: TestCluster, leader: string, ids: readonly string[]): boolean {
  const last = cluster.nodes[leader].server.status().lastIndex;
  return ids.every((id) => cluster.nodes[id].server.status().stateMachineApplied === last);
}

describe("RaftServer snapshots and compaction", () => {
  test("after 200 proposals every node has taken snapshots and compacted its log and its storage", async () => {
    const cluster = await snapshotCluster();
    await cluster.elect("a");
    await proposeMany(cluster, "a", 200);
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    const leaderCommands = cluster.nodes.a.stateMachine.commands;
    expect(leaderCommands).toHaveLength(200);
    for (const id of ["a", "b", "c"]) {
      const { server, stateMachine } = cluster.nodes[id];
      const status = server.status();
      const storage = storageOf(cluster, id);
      expect(stateMachine.commands).toEqual(leaderCommands);
      // 201 entries (a no-op, then 200 commands): one snapshot every 20 applied.
      expect(status.snapshotsTaken).toBeGreaterThanOrEqual(9);
      expect(storage.saves).toBe(status.snapshotsTaken);
      expect(status.snapshotIndex).toBeGreaterThan(status.lastIndex - 20 - 5);
      const snapshotIndex = storage.snapshot?.meta.index ?? 0;
      expect(snapshotIndex).toBeGreaterThan(status.lastIndex - 20);
      // The core keeps only the trailing window behind its snapshot.
      expect(status.snapshotIndex).toBe(snapshotIndex - 5);
      expect(server.entryAt(1)).toBeUndefined();
      expect(server.entryAt(status.snapshotIndex)).toBeUndefined();
      expect(server.entryAt(status.snapshotIndex + 1)).toBeDefined();
      // Storage: the compaction point never moves back, and the stored log starts right after it.
      expect(storage.compactions).toEqual([...storage.compactions].sort((x, y) => x - y));
      expect(storage.entries[0]?.index).toBe(snapshotIndex - 5 + 1);
      expect(storage.entries.length).toBeLessThanOrEqual(20 + 5);
      // No follower needed a snapshot: they all kept up.
      expect(status.snapshotsReceived).toBe(0);
    }
    expect(cluster.nodes.a.server.status().snapshotsSent).toBe(0);
    await cluster.stopAll();
  });

  test("a follower partitioned during the proposals catches up through a snapshot (thesis §5.3)", async () => {
    const cluster = await snapshotCluster(2);
    await cluster.elect("a");
    cluster.network.isolate("c");
    await proposeMany(cluster, "a", 200);
    const leader = cluster.nodes.a.server.status();
    expect(leader.snapshotIndex).toBeGreaterThan(cluster.nodes.c.server.status().lastIndex);
    cluster.network.heal();
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    const c = cluster.nodes.c;
    expect(c.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    expect(c.stateMachine.restores).toBeGreaterThanOrEqual(1);
    expect(c.server.status().snapshotsReceived).toBeGreaterThanOrEqual(1);
    expect(cluster.nodes.a.server.status().snapshotsSent).toBeGreaterThanOrEqual(1);
    expect(storageOf(cluster, "c").installs).toBe(c.server.status().snapshotsReceived);
    // The snapshot went out as many chunks of at most 64 bytes, all carrying one checksum.
    const chunks = cluster.network.sent.filter((m): m is SnapshotChunk => m.type === "snapChunk" && m.to === "c");
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.every((m) => m.data.byteLength <= 64)).toBe(true);
    // Afterwards c follows with ordinary appends: new proposals reach it.
    await proposeMany(cluster, "a", 10, "after");
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["c"]))).toBe(true);
    expect(c.stateMachine.commands.slice(-10)).toEqual(Array.from({ length: 10 }, (_, i) => `after${i}`));
    await cluster.stopAll();
  });

  test("regression (hashicorp/raft #212, #697): a follower far behind catches up while the leader keeps compacting", async () => {
    // The leader snapshots every 5 entries and keeps no trailing window, so whatever snapshot the
    // follower installs is already older than the leader's log start by the time it asks for more.
    const cluster = await createCluster(["a", "b", "c"], {
      seed: 7,
      overrides: { snapshotEveryEntries: 5, snapshotTrailingEntries: 0, snapshotChunkBytes: 64 },
      snapshotStorage: true,
    });
    await cluster.elect("a");
    cluster.network.isolate("c");
    await proposeMany(cluster, "a", 150, "old");
    cluster.network.heal();
    // Load keeps coming while c catches up: 30 rounds of 10 proposals, compacting all along.
    const c = cluster.nodes.c;
    let caughtUpDuringLoad = false;
    for (let round = 0; round < 30; round++) {
      await proposeMany(cluster, "a", 10, `load${round}-`);
      // Following closely (within the last two rounds of load) after a snapshot install, while the
      // leader's log start keeps moving: the follower is no longer in a snapshot loop.
      const leader = cluster.nodes.a.server.status();
      const follower = c.server.status();
      if (follower.snapshotsReceived > 0 && leader.lastIndex - follower.stateMachineApplied <= 20) {
        caughtUpDuringLoad = true;
      }
    }
    expect(caughtUpDuringLoad).toBe(true);
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    expect(c.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    // Not an endless loop of installs: a handful of snapshots, then ordinary appends.
    expect(c.server.status().snapshotsReceived).toBeLessThanOrEqual(5);
    await cluster.stopAll();
  });

  test("a node restarted from storage with a snapshot restores it and applies only the entries after it", async () => {
    const cluster = await snapshotCluster(3);
    await cluster.elect("a");
    await proposeMany(cluster, "a", 55);
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    const stored = storageOf(cluster, "b").snapshot;
    expect(stored).toBeDefined();
    const snapshotIndex = stored?.meta.index ?? 0;
    const b = await cluster.restart("b");
    // The fresh in-memory state machine was restored from the stored snapshot before the core started.
    expect(b.stateMachine.restores).toBe(1);
    expect(b.server.status().snapshotIndex).toBe(snapshotIndex);
    expect(b.server.status().stateMachineApplied).toBeGreaterThanOrEqual(snapshotIndex);
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["b"]))).toBe(true);
    expect(b.stateMachine.appliedEntries[0]?.index).toBe(snapshotIndex + 1);
    expect(b.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    await proposeMany(cluster, "a", 30, "more");
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    expect(b.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    expect(b.server.status().snapshotsTaken).toBeGreaterThanOrEqual(1);
    await cluster.stopAll();
  });

  test("a restarted leader with a compacted log still brings a lagging follower up to date", async () => {
    const cluster = await snapshotCluster(4);
    await cluster.elect("a");
    cluster.network.isolate("c");
    await proposeMany(cluster, "a", 60);
    await cluster.nodes.c.server.stop();
    await cluster.restart("a");
    await cluster.restart("b");
    cluster.network.heal();
    const c = await cluster.restart("c");
    expect(c.stateMachine.restores).toBe(0);
    await cluster.elect("a");
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    expect(c.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    expect(c.stateMachine.commands).toHaveLength(60);
    expect(c.server.status().snapshotsReceived).toBeGreaterThanOrEqual(1);
    await cluster.stopAll();
  });

  test("a chunk corrupted in transit fails the checksum, is dropped, and the next attempt converges", async () => {
    const cluster = await snapshotCluster(5);
    await cluster.elect("a");
    cluster.network.isolate("c");
    await proposeMany(cluster, "a", 100);
    let corrupted = 0;
    cluster.network.intercept = (message: Message) => {
      if (message.type !== "snapChunk" || message.to !== "c" || corrupted > 0 || message.offset === 0) return message;
      corrupted++;
      const data = message.data.slice();
      data[0] ^= 0xff;
      return { ...message, data };
    };
    cluster.network.heal();
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    const c = cluster.nodes.c;
    expect(corrupted).toBe(1);
    expect(c.server.status().snapshotChunksDropped).toBeGreaterThanOrEqual(1);
    expect(c.logger.lines.some((l) => String(l.fields.reason).includes("checksum mismatch"))).toBe(true);
    // The corrupt attempt was never installed: exactly the verified attempts were.
    expect(cluster.nodes.a.server.status().snapshotsSent).toBeGreaterThanOrEqual(2);
    expect(c.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    await cluster.stopAll();
  });

  test("a lost chunk is resent from where the follower stopped, not from the start (resumable transfer)", async () => {
    const cluster = await snapshotCluster(6);
    await cluster.elect("a");
    cluster.network.isolate("c");
    await proposeMany(cluster, "a", 100);
    let seen = 0;
    let lostAt: { index: number; offset: number } | undefined;
    const offsets: string[] = [];
    const resumes: number[] = [];
    cluster.network.intercept = (message: Message) => {
      if (message.type === "snapChunkResp" && message.to === "a") resumes.push(message.offset);
      if (message.type !== "snapChunk" || message.to !== "c") return message;
      seen++;
      if (seen === 3) {
        lostAt = { index: message.meta.index, offset: message.offset };
        return undefined;
      }
      offsets.push(`${message.meta.index}@${message.offset}`);
      return message;
    };
    cluster.network.heal();
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    const c = cluster.nodes.c;
    expect(lostAt).toBeDefined();
    const { index, offset } = lostAt as { index: number; offset: number };
    expect(c.logger.lines.some((l) => String(l.fields.reason).startsWith("gap"))).toBe(true);
    // The follower asked to resume at the lost chunk, and the leader resent from there: the
    // snapshot's first chunk went out once, the lost one arrived on the second try.
    expect(resumes).toContain(offset);
    expect(offsets.filter((o) => o === `${index}@0`)).toHaveLength(1);
    expect(offsets.filter((o) => o === `${index}@${offset}`)).toHaveLength(1);
    expect(c.server.status().snapshotsReceived).toBeGreaterThanOrEqual(1);
    expect(c.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    await cluster.stopAll();
  });

  test("a bare snap message from the wire never reaches the core (the runtime holds no data for it)", async () => {
    const cluster = await snapshotCluster(7);
    await cluster.elect("a");
    const before = cluster.nodes.b.server.status();
    cluster.network.deliverNow({
      type: "snap",
      from: "a",
      to: "b",
      term: before.term,
      clusterId: "test",
      meta: {
        index: before.lastIndex + 50,
        term: before.term,
        config: { voters: ["a", "b", "c"], outgoing: [], learners: [] },
      },
    });
    await cluster.clock.advance(5);
    const after = cluster.nodes.b.server.status();
    expect(after.snapshotIndex).toBe(0);
    expect(after.lastIndex).toBe(before.lastIndex);
    expect(after.lifecycle).toBe("running");
    await cluster.stopAll();
  });

  test("a snapshot covering a follower's pending forwarded proposal fails it with OUTCOME_UNKNOWN", async () => {
    const cluster = await snapshotCluster(8);
    await cluster.elect("a");
    // c forwards a proposal and is then cut off before learning it was applied.
    const forwarded = track(cluster.nodes.c.server.propose(command("from-c"), { timeoutMs: 1_000_000 }));
    cluster.network.intercept = (message) =>
      message.to === "c" && message.type !== "snapChunk" && message.type !== "heartbeat" ? undefined : message;
    await proposeMany(cluster, "a", 60);
    expect(forwarded.state).toBe("pending");
    cluster.network.intercept = (message) => message;
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["a", "b", "c"]))).toBe(true);
    expect(cluster.nodes.c.server.status().snapshotsReceived).toBeGreaterThanOrEqual(1);
    expect(forwarded.state).toBe("rejected");
    expect((forwarded.error as { code?: string }).code).toBe("OUTCOME_UNKNOWN");
    expect(cluster.nodes.a.stateMachine.commands).toContain("from-c");
    await cluster.stopAll();
  });
});

describe("RaftServer snapshots: ordering with applies and failures", () => {
  test("an install waits for the apply in flight, then restores; the apply's entries still settle", async () => {
    const cluster = await snapshotCluster(9);
    await cluster.elect("a");
    const c = cluster.nodes.c;
    c.stateMachine.gate = true;
    await proposeMany(cluster, "a", 1, "gated");
    // c has an apply in flight (held by the gate) and then misses the next 100 entries.
    expect(await cluster.waitFor(() => c.stateMachine.applyCalls > 0)).toBe(true);
    cluster.network.isolate("c");
    await proposeMany(cluster, "a", 100);
    cluster.network.heal();
    await cluster.clock.advance(500);
    // The snapshot arrived and the core took it, but nothing touched the state machine yet.
    expect(c.stateMachine.restores).toBe(0);
    expect(c.server.status().snapshotsReceived).toBe(0);
    c.stateMachine.openGate();
    expect(await cluster.waitFor(() => caughtUp(cluster, "a", ["c"]))).toBe(true);
    expect(c.stateMachine.restores).toBe(1);
    expect(c.stateMachine.commands).toEqual(cluster.nodes.a.stateMachine.commands);
    expect(c.server.status().lifecycle).toBe("running");
    await cluster.stopAll();
  });

  test("a state machine whose snapshot() is asynchronous is snapshotted too", async () => {
    /** Resolves to an async stream of the chunks: the streaming form of the seam. */
    class AsyncSnapshots extends ListStateMachine {
      override snapshot(): readonly Uint8Array[] {
        const chunks = super.snapshot();
        async function* stream(): AsyncGenerator<Uint8Array> {
          for (const chunk of chunks) yield chunk;
        }
        return Promise.resolve(stream()) as unknown as readonly Uint8Array[];
      }
    }
    const cluster = await createCluster(["a"], {
      overrides: { ...SNAPSHOTS, stateMachine: new AsyncSnapshots() },
      snapshotStorage: true,
    });
    const a = cluster.nodes.a;
    await cluster.elect("a");
    await proposeMany(cluster, "a", 45);
    expect(await cluster.waitFor(() => a.server.status().snapshotsTaken >= 2)).toBe(true);
    const stored = storageOf(cluster, "a").snapshot?.meta.index ?? 0;
    expect(stored).toBeGreaterThanOrEqual(40);
    expect(stored).toBe(a.server.status().latestSnapshotIndex);
    await cluster.stopAll();
  });

  test("a failed snapshot save stops the node with STORAGE_FAILED (rule 11)", async () => {
    const cluster = await createCluster(["a"], { overrides: SNAPSHOTS, snapshotStorage: true });
    const a = cluster.nodes.a;
    await cluster.elect("a");
    storageOf(cluster, "a").snapshotFailure = new Error("ENOSPC");
    const calls = Array.from({ length: 25 }, (_, i) => track(a.server.propose(command(`x${i}`))));
    await cluster.waitFor(() => calls.every((call) => call.state !== "pending"));
    expect(a.server.status().lifecycle).toBe("stopped");
    expect(a.server.status().fatalError?.code).toBe("STORAGE_FAILED");
    expect(a.server.status().fatalError?.message).toMatch(/ENOSPC/);
    await cluster.stopAll();
  });
});

describe("RaftServer snapshot configuration", () => {
  function options(overrides: Partial<ConstructorParameters<typeof RaftServer<number>>[0]>) {
    const clock = new ManualClock();
    return {
      id: "a",
      clusterId: "test",
      voters: ["a"],
      random: new SeededRandom(1),
      clock,
      storage: new TestStorage(),
      transport: new LocalNetwork(clock).transport("a"),
      stateMachine: new ListStateMachine(),
      ...overrides,
    };
  }

  test("a storage without snapshot methods is refused when snapshotEveryEntries > 0", () => {
    expect(() => new RaftServer<number>(options({ snapshotEveryEntries: 20 }))).toThrow(
      /snapshotEveryEntries 20, .*the storage does not implement saveSnapshot, stageSnapshot, installSnapshot and openSnapshot/,
    );
    expect(() => new RaftServer<number>(options({ snapshotEveryBytes: 1000 }))).toThrow(/snapshotEveryBytes 1000/);
    // Without automatic snapshots the same storage is fine: by default they are on only when both seams support them.
    expect(() => new RaftServer<number>(options({}))).not.toThrow();
  });

  test("automatic snapshots are on by default when the storage and the state machine support them", async () => {
    const cluster = await createCluster(["a"], { snapshotStorage: true, overrides: { snapshotEveryBytes: 200 } });
    const a = cluster.nodes.a;
    await cluster.elect("a");
    // 10 commands of 30 bytes: the 200-byte limit is passed long before 10,000 entries.
    for (let i = 0; i < 10; i++) await a.server.propose(command(`${"x".repeat(28)}${i}`.padStart(30, "0")));
    expect(await cluster.waitFor(() => a.server.status().snapshotsTaken >= 1)).toBe(true);
    await cluster.stopAll();
  });

  test("a state machine without snapshot and restore is refused when snapshotEveryEntries > 0", () => {
    const bare = { apply: () => [], appliedIndex: () => 0 };
    expect(
      () =>
        new RaftServer<number>(
          options({ snapshotEveryEntries: 5, storage: new SnapshotTestStorage(), stateMachine: bare }),
        ),
    ).toThrow(/the state machine does not implement snapshot and restore/);
    expect(
      () => new RaftServer<number>(options({ snapshotEveryEntries: 5, storage: new SnapshotTestStorage() })),
    ).not.toThrow();
  });

  test("snapshot settings must be integers in range", () => {
    expect(() => new RaftServer<number>(options({ snapshotEveryEntries: -1 }))).toThrow(/snapshotEveryEntries/);
    expect(() => new RaftServer<number>(options({ snapshotTrailingEntries: 1.5 }))).toThrow(/snapshotTrailingEntries/);
    expect(() => new RaftServer<number>(options({ snapshotChunkBytes: 0 }))).toThrow(/snapshotChunkBytes/);
  });
});
