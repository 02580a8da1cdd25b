import type { CoreConfig } from "../../src/core/config.js";
import { RaftCore } from "../../src/core/raft-core.js";
import type {
  DropCounters,
  DropReason,
  Entry,
  HardState,
  Message,
  NodeId,
  Ready,
  SnapshotMeta,
} from "../../src/core/types.js";
import { TestRandom } from "../core/harness.js";
import { ScriptNetwork } from "./network.js";
import { orDash, position, renderConfig, renderEntries, renderMessage } from "./render.js";

/** Everything of a node's configuration a script chooses; the interpreter fills in the rest. */
export type ScriptNodeConfig = Omit<CoreConfig, "random">;

/** One scripted node: its core, and what it "has on disk" and has applied. */
export interface ScriptNode {
  core: RaftCore;
  readonly config: ScriptNodeConfig;
  /** Seed of the node's election-timeout PRNG; a restart starts the same stream again. */
  readonly seed: number;
  hard: HardState;
  /** The latest snapshot on disk; `log` holds the entries after it. */
  snapshot: SnapshotMeta | undefined;
  log: Entry[];
  appliedIndex: number;
}

/** Ready rounds in one settling pass before the interpreter calls it a livelock. */
export const MAX_READY_ROUNDS = 100;
/** Deliver-and-process rounds `stabilize` runs before it calls the cluster a livelock. */
export const MAX_STABILIZE_ROUNDS = 1000;

/**
 * A set of bare cores driven by a script. Persistence is instant and in memory, applying is
 * instant, and the runtime's snapshot streaming is played in one step: the `snap` message carries
 * the metadata, and the leader is told at once that the transfer finished. Every effect is written
 * to the `out` lines the caller passes, which become the command's output.
 */
export class GoldenCluster {
  readonly network = new ScriptNetwork();
  private readonly nodes = new Map<NodeId, ScriptNode>();

  add(config: ScriptNodeConfig, seed: number): ScriptNode {
    if (this.nodes.has(config.id)) throw new Error(`node ${config.id} already exists`);
    const node: ScriptNode = {
      core: new RaftCore({ ...config, random: new TestRandom(seed) }),
      config,
      seed,
      hard: { term: 0, vote: "", commit: 0 },
      snapshot: undefined,
      log: [],
      appliedIndex: 0,
    };
    this.nodes.set(config.id, node);
    return node;
  }

  has(id: NodeId): boolean {
    return this.nodes.has(id);
  }

  get(id: NodeId): ScriptNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id} (known: ${this.ids().join(", ") || "none"})`);
    return node;
  }

  /** Node ids in the order they were added. */
  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  /**
   * Replaces `id`'s core by a fresh one started from its disk, as after a crash: volatile state
   * (role, leader, progress, pending reads) is lost, the durable state and the applied index stay.
   */
  restart(id: NodeId): void {
    const node = this.get(id);
    node.core = new RaftCore(
      { ...node.config, random: new TestRandom(node.seed) },
      { hardState: node.hard, snapshot: node.snapshot, entries: [...node.log], applied: node.appliedIndex },
    );
  }

  /** Runs Ready cycles on every node, in the order they were added, until none has one. */
  processReadies(out: string[]): void {
    for (let round = 0; round < MAX_READY_ROUNDS; round++) {
      let any = false;
      for (const node of this.nodes.values()) {
        if (!node.core.hasReady()) continue;
        any = true;
        this.processReady(node, out);
      }
      if (!any) return;
    }
    throw new Error(`nodes still have a Ready after ${MAX_READY_ROUNDS} rounds (livelock?)`);
  }

  /** Steps each message into its receiver, unless a partition cuts it or the receiver does not exist. */
  deliver(messages: readonly Message[], out: string[]): void {
    for (const m of messages) {
      if (this.network.cuts(m)) {
        out.push(`dropped ${renderMessage(m)} (partition)`);
        continue;
      }
      const node = this.nodes.get(m.to);
      if (node === undefined) {
        out.push(`dropped ${renderMessage(m)} (no node ${m.to})`);
        continue;
      }
      const before = node.core.dropCounters();
      node.core.step(m);
      const reason = increasedCounter(before, node.core.dropCounters());
      if (reason !== undefined) out.push(`${m.to} drops ${renderMessage(m)} (${reason})`);
    }
  }

  /**
   * Processes Readies and delivers every message in flight, round after round, until nothing is
   * in flight and no node has a Ready. With `only`, messages to or from other nodes stay in flight.
   */
  stabilize(out: string[], only?: ReadonlySet<NodeId>): void {
    for (let round = 0; round < MAX_STABILIZE_ROUNDS; round++) {
      this.processReadies(out);
      const batch = this.network.take({ from: only, to: only });
      if (batch.length === 0) return;
      this.deliver(batch, out);
    }
    throw new Error(`still busy after ${MAX_STABILIZE_ROUNDS} stabilize rounds (livelock?)`);
  }

  /**
   * Compacts `id`'s log up to `index` (default: its applied index), as a runtime does after storing
   * a state-machine snapshot. Returns the snapshot's metadata, or undefined when the core refuses.
   */
  compact(id: NodeId, index?: number): SnapshotMeta | undefined {
    const node = this.get(id);
    const meta = node.core.snapshotMetaAt(index ?? node.core.status().applied);
    if (meta === undefined || !node.core.compact(meta)) return undefined;
    node.log = node.log.slice(meta.index - (node.snapshot?.index ?? 0));
    node.snapshot = meta;
    return meta;
  }

  private processReady(node: ScriptNode, out: string[]): void {
    const id = node.config.id;
    const rd = node.core.ready();
    if (rd.softState !== undefined) {
      const term = rd.hardState?.term ?? node.hard.term;
      out.push(`${id} becomes ${rd.softState.role} term=${term} lead=${orDash(rd.softState.leader)}`);
    }
    this.persist(node, rd, out);
    if (rd.committedEntries.length > 0) {
      out.push(`${id} apply ${renderEntries(rd.committedEntries)}`);
      node.appliedIndex = rd.committedEntries[rd.committedEntries.length - 1].index;
    }
    for (const rs of rd.readStates) out.push(`${id} read-state id=${rs.requestId} index=${rs.index}`);
    for (const rej of rd.rejectedProposals) {
      out.push(`${id} proposals-rejected ids=[${rej.requestIds.join(",")}] hint=${orDash(rej.leaderHint)}`);
    }
    node.core.advance(rd);
    for (const m of [...rd.messages, ...rd.messagesAfterPersist]) this.send(m, out);
    for (const s of rd.snapshotsToSend) {
      // The runtime's part, played instantly: the data travels with the snap message, and the
      // leader learns at once that the stream finished.
      const term = node.core.status().term;
      this.send({ type: "snap", from: id, to: s.to, term, clusterId: node.config.clusterId, meta: s.meta }, out);
      node.core.reportSnapshot(s.to, true);
    }
  }

  /** The Ready's one atomic write: snapshot, hard state, entries (replacing any suffix they overlap). */
  private persist(node: ScriptNode, rd: Ready, out: string[]): void {
    const id = node.config.id;
    if (rd.snapshot !== undefined) {
      out.push(
        `${id} install-snapshot ${position(rd.snapshot.index, rd.snapshot.term)} ${renderConfig(rd.snapshot.config)}`,
      );
      node.snapshot = rd.snapshot;
      node.log = [];
      node.appliedIndex = rd.snapshot.index;
    }
    if (rd.hardState !== undefined) {
      const h = rd.hardState;
      out.push(`${id} hardstate term=${h.term} vote=${orDash(h.vote)} commit=${h.commit}`);
      node.hard = h;
    }
    if (rd.entries.length > 0) {
      out.push(`${id} persist ${renderEntries(rd.entries)}`);
      node.log.length = rd.entries[0].index - 1 - (node.snapshot?.index ?? 0);
      node.log.push(...rd.entries);
    }
  }

  private send(m: Message, out: string[]): void {
    out.push(renderMessage(m));
    this.network.send(m);
  }
}

/** The drop reason whose counter a step increased, if any. */
function increasedCounter(before: DropCounters, after: DropCounters): string | undefined {
  for (const reason of Object.keys(after) as DropReason[]) {
    if (after[reason] > (before[reason] ?? 0)) return reason;
  }
  return undefined;
}
