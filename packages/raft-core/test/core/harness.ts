import type { CoreConfig } from "../../src/core/config.js";
import { type CoreInitialState, RaftCore } from "../../src/core/raft-core.js";
import type { Random } from "../../src/core/random.js";
import type {
  Entry,
  HardState,
  Message,
  NodeId,
  ReadState,
  Ready,
  RejectedProposals,
  SnapshotMeta,
} from "../../src/core/types.js";

/** A tiny deterministic PRNG for core tests (the simulator has its own). */
export class TestRandom implements Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  nextInt(bound: number): number {
    // xorshift32: good enough to spread election timeouts in tests.
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return x % bound;
  }
}

/** What one test node "has on disk" and has applied, maintained by the harness. */
export interface TestNode {
  core: RaftCore;
  hard: HardState;
  /** The latest snapshot on "disk"; `log` holds the entries after it. */
  snapshot: SnapshotMeta | undefined;
  log: Entry[];
  applied: Entry[];
  readyCount: number;
  /** Every ReadState this node's Readies reported, in order. */
  readStates: ReadState[];
  /** Every refused-proposal batch this node's Readies reported, in order. */
  rejected: RejectedProposals[];
}

export type Filter = (m: Message) => boolean;

/**
 * An in-test cluster of bare cores: `drain()` runs Ready cycles with instant persistence and
 * delivers messages until nothing moves, so protocol tests read like the paper's scenarios.
 */
export class CoreCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages delivered, in order, for tests that inspect traffic. */
  readonly delivered: Message[] = [];
  /** Snapshots installed by followers, in order. */
  readonly installed: { node: NodeId; meta: SnapshotMeta }[] = [];
  /** Returning false drops the message. */
  filter: Filter = () => true;

  constructor(
    ids: readonly NodeId[],
    readonly overrides: Partial<CoreConfig> = {},
    seed = 1,
  ) {
    let i = 0;
    for (const id of ids) this.add(id, ids, seed + i++);
  }

  /** Adds a node; `nodeOverrides` apply to this node only, on top of the cluster's overrides. */
  add(
    id: NodeId,
    voters: readonly NodeId[],
    seed: number,
    initial?: CoreInitialState,
    nodeOverrides: Partial<CoreConfig> = {},
  ): TestNode {
    const core = new RaftCore(
      { id, clusterId: "test", voters, random: new TestRandom(seed), ...this.overrides, ...nodeOverrides },
      initial,
    );
    const node: TestNode = {
      core,
      hard: initial?.hardState ?? { term: 0, vote: "", commit: 0 },
      snapshot: initial?.snapshot,
      log: [...(initial?.entries ?? [])],
      applied: [],
      readyCount: 0,
      readStates: [],
      rejected: [],
    };
    this.nodes.set(id, node);
    return node;
  }

  get(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Runs one Ready on `id`, persisting instantly; returns the Ready and the messages it emitted. */
  cycle(id: NodeId): { ready: Ready; out: Message[] } | undefined {
    const node = this.get(id);
    if (!node.core.hasReady()) return undefined;
    const rd = node.core.ready();
    node.readyCount++;
    if (rd.snapshot) {
      node.snapshot = rd.snapshot;
      node.log = [];
      this.installed.push({ node: id, meta: rd.snapshot });
    }
    if (rd.hardState) node.hard = rd.hardState;
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      node.log.length = first - 1 - (node.snapshot?.index ?? 0);
      node.log.push(...rd.entries);
    }
    node.applied.push(...rd.committedEntries);
    node.readStates.push(...rd.readStates);
    node.rejected.push(...rd.rejectedProposals);
    node.core.advance(rd);
    const out = [...rd.messages, ...rd.messagesAfterPersist];
    // Play the runtime's part for snapshots: the data "arrives" at once, then the core hears of it.
    for (const send of rd.snapshotsToSend) {
      const term = node.core.status().term;
      out.push({ type: "snap", from: id, to: send.to, term, clusterId: "test", meta: send.meta });
      node.core.reportSnapshot(send.to, true);
    }
    return { ready: rd, out };
  }

  /** Delivers messages until quiet (bounded so a livelock fails the test instead of hanging). */
  drain(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const inFlight: Message[] = [];
      for (const id of this.nodes.keys()) {
        const c = this.cycle(id);
        if (c) inFlight.push(...c.out);
      }
      if (inFlight.length === 0) return;
      for (const m of inFlight) this.deliver(m);
    }
    throw new Error("CoreCluster.drain: still busy after maxRounds");
  }

  deliver(m: Message): void {
    if (!this.filter(m)) return;
    const node = this.nodes.get(m.to);
    if (node === undefined) return;
    this.delivered.push(m);
    node.core.step(m);
  }

  /** Compacts `id`'s log up to its applied index, as a runtime would after storing a snapshot. */
  compact(id: NodeId): SnapshotMeta {
    const node = this.get(id);
    const meta = node.core.snapshotMetaAt(node.core.status().applied);
    if (meta === undefined || !node.core.compact(meta)) throw new Error(`${id} could not compact`);
    node.log = node.log.slice(meta.index - (node.snapshot?.index ?? 0));
    node.snapshot = meta;
    return meta;
  }

  tickAll(times = 1): void {
    for (let t = 0; t < times; t++) for (const n of this.nodes.values()) n.core.tick();
  }

  /** Elects `id` directly and settles the cluster. */
  elect(id: NodeId): void {
    this.get(id).core.campaign();
    this.drain();
    const s = this.get(id).core.status();
    if (s.role !== "leader") throw new Error(`${id} did not become leader (${s.role}, term ${s.term})`);
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.core.status().role === "leader").map((n) => n.core.id);
  }

  propose(id: NodeId, text: string, requestId = 1) {
    return this.get(id).core.propose({ data: new TextEncoder().encode(text), origin: id, requestId });
  }
}

export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}

export function entry(index: number, term: number, data = ""): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(data) };
}
