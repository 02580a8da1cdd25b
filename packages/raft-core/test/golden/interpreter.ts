import type { MembershipChange } from "../../src/core/config-change.js";
import type { NodeId } from "../../src/core/types.js";
import { CommandArgs, checkNodeId } from "./args.js";
import { GoldenCluster, type ScriptNodeConfig } from "./golden-cluster.js";
import type { MessageFilter } from "./network.js";
import { position, renderConfig, renderEntry, renderMessage, renderRaftState, renderStatus } from "./render.js";
import { type Command, ScriptError } from "./script.js";

/** Defaults chosen for short, readable scenarios (the core's own defaults are 30 and 5). */
export const SCRIPT_ELECTION_TICKS = 10;
export const SCRIPT_HEARTBEAT_TICKS = 2;
/** Upper bound on `tick until=output` when no `n=` is given. */
export const MAX_TICKS_UNTIL_OUTPUT = 1000;
/** What a command that changed nothing visible prints, so every step shows an output block. */
export const NO_OUTPUT = "ok";

const CLUSTER_ID = "golden";

type Handler = (args: CommandArgs, out: string[]) => void;

/**
 * Runs golden-scenario commands against a {@link GoldenCluster}. Every command that feeds the
 * cores an input ends by running Ready cycles on every node (instant persist and apply), so its
 * output shows what the input caused: state changes and the messages put in flight. Messages move
 * only when a `deliver` or `stabilize` says so.
 */
export class Interpreter {
  private readonly cluster = new GoldenCluster();
  /** Request ids for proposals and reads, unique across the scenario unless a script sets `id=`. */
  private nextRequestId = 1;
  private readonly handlers: ReadonlyMap<string, Handler> = new Map<string, Handler>([
    ["add-nodes", (a, out) => this.addNodes(a, out)],
    ["campaign", (a, out) => this.campaign(a, out)],
    ["tick", (a, out) => this.tick(a, out)],
    ["deliver", (a, out) => this.deliver(a, out)],
    ["drop", (a, out) => this.drop(a, out)],
    ["partition", (a, out) => this.partition(a, out)],
    ["heal", (a, out) => this.heal(a, out)],
    ["propose", (a, out) => this.propose(a, out)],
    ["propose-conf-change", (a, out) => this.proposeConfChange(a, out)],
    ["transfer-leadership", (a, out) => this.transferLeadership(a, out)],
    ["read-index", (a, out) => this.readIndex(a, out)],
    ["stabilize", (a, out) => this.stabilize(a, out)],
    ["compact", (a, out) => this.compact(a, out)],
    ["restart", (a, out) => this.restart(a, out)],
    ["status", (a, out) => this.status(a, out)],
    ["raft-state", (a, out) => this.raftState(a, out)],
    ["log", (a, out) => this.log(a, out)],
    ["network", (a, out) => this.network(a, out)],
  ]);

  /** The command names this interpreter understands. */
  commands(): string[] {
    return [...this.handlers.keys()];
  }

  /**
   * Runs one command and returns its output lines. Throws {@link ScriptError} (naming the file and
   * line) for an unknown command, bad arguments, or an exception from the core.
   */
  run(command: Command): string[] {
    const handler = this.handlers.get(command.name);
    if (handler === undefined) {
      throw new ScriptError(
        command.file,
        command.line,
        `unknown command ${command.name} (known: ${this.commands().join(", ")})`,
      );
    }
    const out: string[] = [];
    try {
      handler(new CommandArgs(command), out);
    } catch (error) {
      if (error instanceof ScriptError) throw error;
      throw new ScriptError(command.file, command.line, `${command.name}: ${(error as Error).message}`);
    }
    return out.length > 0 ? out : [NO_OUTPUT];
  }

  // ------------------------------------------------------------------ commands

  /** `add-nodes a b c [voters=..] [learners=..] [prevote=on] [checkquorum=on] [election=10] [heartbeat=2] ...` */
  private addNodes(a: CommandArgs, out: string[]): void {
    a.allow(
      "voters",
      "learners",
      "prevote",
      "checkquorum",
      "election",
      "heartbeat",
      "seed",
      "max-inflight",
      "max-msg-bytes",
      "forward",
    );
    const ids = a.positional.map(checkNodeId);
    if (ids.length === 0) throw new Error("name at least one node");
    const learners = a.ids("learners") ?? [];
    const voters = a.ids("voters") ?? ids.filter((id) => !learners.includes(id));
    const firstSeed = a.int("seed", this.cluster.ids().length + 1);
    ids.forEach((id, n) => {
      const config: ScriptNodeConfig = {
        id,
        clusterId: CLUSTER_ID,
        voters,
        learners,
        electionTicks: a.int("election", SCRIPT_ELECTION_TICKS),
        heartbeatTicks: a.int("heartbeat", SCRIPT_HEARTBEAT_TICKS),
        preVote: a.bool("prevote", true),
        checkQuorum: a.bool("checkquorum", true),
        maxInflightMessages: a.int("max-inflight"),
        maxMessageBytes: a.int("max-msg-bytes"),
        forwardProposals: a.bool("forward", true),
      };
      const node = this.cluster.add(config, firstSeed + n);
      out.push(renderRaftState(node.core.status()));
    });
  }

  /** `campaign a`: start an election now, skipping PreVote. */
  private campaign(a: CommandArgs, out: string[]): void {
    a.allow();
    for (const id of this.nodeArgs(a, 1)) this.cluster.get(id).core.campaign();
    this.cluster.processReadies(out);
  }

  /** `tick [nodes] [n=1] [until=output]`: n rounds of one tick per node, Readies processed after each. */
  private tick(a: CommandArgs, out: string[]): void {
    a.allow("n", "until");
    const ids = this.nodeArgsOrAll(a);
    const until = a.string("until");
    if (until !== undefined && until !== "output") throw new Error(`until= must be output, got ${until}`);
    const rounds = a.int("n", until === undefined ? 1 : MAX_TICKS_UNTIL_OUTPUT);
    const events: string[] = [];
    let done = 0;
    while (done < rounds) {
      for (const id of ids) this.cluster.get(id).core.tick();
      this.cluster.processReadies(events);
      done++;
      if (until !== undefined && events.length > 0) break;
    }
    if (until !== undefined) {
      out.push(events.length > 0 ? `ticked ${done} times` : `ticked ${done} times, no output`);
    }
    out.push(...events);
  }

  /** `deliver [from=..] [to=..] [type=..] [n=..]`: step matching in-flight messages into their receivers. */
  private deliver(a: CommandArgs, out: string[]): void {
    a.allow("from", "to", "type", "n");
    if (a.positional.length > 0) throw new Error("deliver takes only options (from= to= type= n=)");
    this.cluster.deliver(this.cluster.network.take(this.filterArgs(a)), out);
    this.cluster.processReadies(out);
  }

  /** `drop [from=..] [to=..] [type=..] [n=..]`: lose matching in-flight messages. */
  private drop(a: CommandArgs, out: string[]): void {
    a.allow("from", "to", "type", "n");
    if (a.positional.length > 0) throw new Error("drop takes only options (from= to= type= n=)");
    for (const m of this.cluster.network.take(this.filterArgs(a))) out.push(`dropped ${renderMessage(m)}`);
  }

  /** `partition a b | c`: groups separated by `|`; nodes not named form one more group. */
  private partition(a: CommandArgs, out: string[]): void {
    a.allow();
    const groups: NodeId[][] = [[]];
    for (const word of a.positional) {
      if (word === "|") groups.push([]);
      else groups[groups.length - 1].push(this.existing(word));
    }
    if (groups.some((g) => g.length === 0)) throw new Error("every group of a partition needs a node");
    this.cluster.network.partition(groups);
    out.push(`partition ${this.cluster.network.describePartition()}`);
  }

  private heal(a: CommandArgs, out: string[]): void {
    a.allow();
    this.cluster.network.heal();
    out.push("healed");
  }

  /** `propose a x [y ...] [id=N]`: one proposal per data word, offered to node a. */
  private propose(a: CommandArgs, out: string[]): void {
    a.allow("id");
    const [id, ...data] = a.positional;
    const node = this.cluster.get(this.existing(id));
    if (data.length === 0) throw new Error("propose NODE DATA...: give at least one payload");
    let requestId = a.int("id") ?? this.takeRequestIds(data.length);
    for (const text of data) {
      const result = node.core.propose({ data: new TextEncoder().encode(text), origin: id, requestId });
      out.push(`${id} propose ${JSON.stringify(text)} id=${requestId}: ${renderResult(result)}`);
      requestId++;
    }
    this.cluster.processReadies(out);
  }

  /**
   * `propose-conf-change a [add=..] [remove=..] [add-learner=..] [promote=..] [voters=..] [learners=..]`:
   * a membership change computed from a's current configuration (or given outright).
   */
  private proposeConfChange(a: CommandArgs, out: string[]): void {
    a.allow("add", "remove", "add-learner", "promote", "voters", "learners", "id");
    const id = this.existing(this.nodeArgs(a, 1)[0]);
    const node = this.cluster.get(id);
    const change = membershipChange(a, node.core.status().voters, node.core.status().learners);
    const requestId = a.int("id") ?? this.takeRequestIds(1);
    const result = node.core.proposeMembership(change, requestId);
    out.push(
      `${id} propose-conf-change ${renderConfig({ ...change, outgoing: [] })} id=${requestId}: ${renderResult(result)}`,
    );
    this.cluster.processReadies(out);
  }

  /** `transfer-leadership a to=b` */
  private transferLeadership(a: CommandArgs, out: string[]): void {
    a.allow("to");
    const id = this.existing(this.nodeArgs(a, 1)[0]);
    const to = a.string("to");
    if (to === undefined) throw new Error("transfer-leadership NODE to=TARGET");
    const refusal = this.cluster.get(id).core.transferLeadership(checkNodeId(to));
    out.push(`${id} transfer-leadership to=${to}: ${refusal ?? "started"}`);
    this.cluster.processReadies(out);
  }

  /**
   * `read-index a [n=1] [id=N]`: n linearizable reads asked together (so they share one Ready);
   * each answer is a later `read-state` line.
   */
  private readIndex(a: CommandArgs, out: string[]): void {
    a.allow("id", "n");
    const id = this.existing(this.nodeArgs(a, 1)[0]);
    const count = a.int("n", 1);
    const first = a.int("id") ?? this.takeRequestIds(count);
    for (let requestId = first; requestId < first + count; requestId++) {
      out.push(`${id} read-index id=${requestId}`);
      this.cluster.get(id).core.readIndex(requestId);
    }
    this.cluster.processReadies(out);
  }

  /** `stabilize [nodes]`: deliver, persist and apply until nothing moves (only among `nodes`, if given). */
  private stabilize(a: CommandArgs, out: string[]): void {
    a.allow();
    const only = a.positional.length > 0 ? new Set(a.positional.map((id) => this.existing(id))) : undefined;
    this.cluster.stabilize(out, only);
  }

  /** `compact a [index=N]`: take a snapshot at N (default: applied) and discard the log up to it. */
  private compact(a: CommandArgs, out: string[]): void {
    a.allow("index");
    const id = this.existing(this.nodeArgs(a, 1)[0]);
    const meta = this.cluster.compact(id, a.int("index"));
    out.push(
      meta === undefined
        ? `${id} compact refused`
        : `${id} compacted snapshot=${position(meta.index, meta.term)} ${renderConfig(meta.config)}`,
    );
  }

  /** `restart a`: crash and restart from the node's disk. */
  private restart(a: CommandArgs, out: string[]): void {
    a.allow();
    for (const id of this.nodeArgs(a, 1)) {
      this.cluster.restart(id);
      out.push(`${renderRaftState(this.cluster.get(id).core.status())} (restarted)`);
    }
    this.cluster.processReadies(out);
  }

  private status(a: CommandArgs, out: string[]): void {
    a.allow();
    for (const id of this.nodeArgsOrAll(a)) out.push(...renderStatus(this.cluster.get(id).core.status()));
  }

  private raftState(a: CommandArgs, out: string[]): void {
    a.allow();
    for (const id of this.nodeArgsOrAll(a)) out.push(renderRaftState(this.cluster.get(id).core.status()));
  }

  /** `log [nodes]`: what each node has on disk: its snapshot (if any) and its entries. */
  private log(a: CommandArgs, out: string[]): void {
    a.allow();
    for (const id of this.nodeArgsOrAll(a)) {
      const node = this.cluster.get(id);
      if (node.snapshot !== undefined) {
        out.push(
          `${id} snapshot=${position(node.snapshot.index, node.snapshot.term)} ${renderConfig(node.snapshot.config)}`,
        );
      }
      if (node.log.length === 0 && node.snapshot === undefined) out.push(`${id} empty`);
      for (const e of node.log) out.push(`${id} ${renderEntry(e)}`);
    }
  }

  /** `network`: the messages in flight, oldest first, and the partition if any. */
  private network(a: CommandArgs, out: string[]): void {
    a.allow();
    const partition = this.cluster.network.describePartition();
    if (partition !== "") out.push(`partition ${partition}`);
    for (const m of this.cluster.network.pending()) out.push(`in flight ${renderMessage(m)}`);
    if (out.length === 0) out.push("nothing in flight");
  }

  // ------------------------------------------------------------------ argument helpers

  private existing(id: string | undefined): NodeId {
    if (id === undefined) throw new Error("name a node");
    this.cluster.get(checkNodeId(id));
    return id;
  }

  /** Exactly `count` node ids as positional arguments. */
  private nodeArgs(a: CommandArgs, count: number): NodeId[] {
    if (a.positional.length !== count) throw new Error(`expected ${count} node id(s), got ${a.positional.length}`);
    return a.positional.map((id) => this.existing(id));
  }

  private nodeArgsOrAll(a: CommandArgs): NodeId[] {
    return a.positional.length > 0 ? a.positional.map((id) => this.existing(id)) : this.cluster.ids();
  }

  private filterArgs(a: CommandArgs): MessageFilter {
    const from = a.ids("from");
    const to = a.ids("to");
    const kinds = a.list("type");
    return {
      from: from && new Set(from),
      to: to && new Set(to),
      kinds: kinds && new Set(kinds),
      limit: a.int("n"),
    };
  }

  private takeRequestIds(count: number): number {
    const first = this.nextRequestId;
    this.nextRequestId += count;
    return first;
  }
}

/**
 * The membership a `propose-conf-change` asks for: `voters=`/`learners=` replace the lists; `add=`,
 * `remove=`, `add-learner=` and `promote=` edit the proposer's current configuration.
 */
function membershipChange(
  a: CommandArgs,
  currentVoters: readonly NodeId[],
  currentLearners: readonly NodeId[],
): MembershipChange {
  let voters = [...(a.ids("voters") ?? currentVoters)];
  let learners = [...(a.ids("learners") ?? currentLearners)];
  for (const id of a.ids("add") ?? []) if (!voters.includes(id)) voters.push(id);
  for (const id of a.ids("add-learner") ?? []) if (!learners.includes(id)) learners.push(id);
  for (const id of a.ids("promote") ?? []) {
    learners = learners.filter((l) => l !== id);
    if (!voters.includes(id)) voters.push(id);
  }
  const removed = a.ids("remove") ?? [];
  voters = voters.filter((id) => !removed.includes(id));
  learners = learners.filter((id) => !removed.includes(id));
  return { voters, learners };
}

/** `appended index=3 term=1`, `rejected reason=not-leader leaderHint=b`: kind first, then every other field. */
function renderResult(result: { readonly kind: string }): string {
  const fields = Object.entries(result)
    .filter(([key]) => key !== "kind")
    .map(([key, value]) => `${key}=${value === "" ? "-" : String(value)}`);
  return [result.kind, ...fields].join(" ");
}
