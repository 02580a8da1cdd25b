import type { NodeId } from "../core/types.js";
import { isRaftError } from "../runtime/errors.js";
import type { RaftServer } from "../runtime/raft-server.js";
import { RequestCancelledError } from "../runtime/request-cancelled-error.js";
import type { SimCluster } from "./sim-cluster.js";
import type { Trace } from "./trace.js";
import type { VirtualClock } from "./virtual-clock.js";

/** The simulator keeps at least this many voters: a removal below it is declined. */
export const MIN_SIM_VOTERS = 3;
/** ...and at most this many: a promotion above it is declined. */
export const MAX_SIM_VOTERS = 7;
/** Timeout of each membership call (about three election timeouts at the simulator's defaults). */
export const MEMBERSHIP_CALL_TIMEOUT_MS = 2_000;
/** Pause before a step is tried again (no leader yet, a change still pending, a learner not caught up). */
export const MEMBERSHIP_RETRY_MS = 200;
/** Tries of one step before the operation gives up (what it already changed stays). */
export const MEMBERSHIP_MAX_TRIES = 15;

/** A membership operation of the fault schedule (see fault-schedule.ts). */
export type MembershipRequest =
  | { readonly kind: "add-learner"; readonly node: NodeId }
  | { readonly kind: "promote"; readonly node: NodeId }
  | { readonly kind: "remove"; readonly node: NodeId }
  | { readonly kind: "replace"; readonly node: NodeId; readonly by: NodeId };

/** How the membership calls of one run ended. */
export interface MembershipCounts {
  /** Calls made on a leader (retries and the steps of a replace included). */
  readonly calls: number;
  readonly ok: number;
  /** Refused by the leader (NOT_LEADER, NOT_CAUGHT_UP, CONFIG_CHANGE_REJECTED, ...) or timed out. */
  readonly refused: number;
  /** Steps the simulator declined or gave up (size or majority limits, no leader for too long). */
  readonly declined: number;
}

/**
 * The cluster's operator: applies the membership operations of the fault schedule through the
 * public `RaftServer` API on whichever node leads (addLearner, promoteLearner, removeMember), and
 * starts brand-new nodes (empty disk) for `add-learner` and `replace`. Refusals by the cluster
 * (NOT_LEADER, NOT_CAUGHT_UP, CONFIG_CHANGE_REJECTED, OUTCOME_UNKNOWN) are expected and only
 * traced; an error outside the runtime's contract is recorded in {@link MembershipAdmin.unexpected}.
 *
 * It keeps the cluster within [{@link MIN_SIM_VOTERS}, {@link MAX_SIM_VOTERS}] voters, removes a
 * voter only when a majority of the remaining voters is up with an undamaged disk, and never
 * promotes a node whose disk took a bit flip, so a majority of the configuration can always
 * serve once the faults stop.
 *
 * @example
 * const admin = new MembershipAdmin({ clock, cluster, trace });
 * admin.apply({ kind: "replace", node: "n2", by: "n6" }); // add n6, promote it once caught up, remove n2
 */
export class MembershipAdmin {
  private readonly clock: VirtualClock;
  private readonly cluster: SimCluster;
  private readonly trace: Trace | undefined;
  private running = true;
  /** Operations started and not finished (a step waiting to retry, or a call in flight). */
  private active = 0;
  private readonly counts = { calls: 0, ok: 0, refused: 0, declined: 0 };
  private readonly unexpectedErrors: string[] = [];

  constructor(options: { readonly clock: VirtualClock; readonly cluster: SimCluster; readonly trace?: Trace }) {
    this.clock = options.clock;
    this.cluster = options.cluster;
    this.trace = options.trace;
  }

  /** No new call from now on (a replace in progress stops before its next step). */
  stop(): void {
    this.running = false;
  }

  /** True while an operation is still running: a call in flight, or a step waiting to be retried. */
  busy(): boolean {
    return this.active > 0;
  }

  outcomeCounts(): MembershipCounts {
    return { ...this.counts };
  }

  /** Errors outside the runtime's documented contract (each one is a bug). */
  unexpected(): readonly string[] {
    return this.unexpectedErrors;
  }

  /**
   * Starts one operation; returns "requested", or false when the admin has stopped. Each step
   * (a call on the leader) is tried up to {@link MEMBERSHIP_MAX_TRIES} times, every
   * {@link MEMBERSHIP_RETRY_MS}, while there is no leader or the leader refuses for a reason
   * that passes (NOT_LEADER, a change still pending, NOT_CAUGHT_UP, a timeout); every call and
   * its outcome is traced.
   */
  apply(request: MembershipRequest): false | string {
    if (!this.running) return false;
    this.active++;
    void this.run(request).finally(() => {
      this.active--;
    });
    return "requested";
  }

  private async run(request: MembershipRequest): Promise<void> {
    switch (request.kind) {
      case "add-learner":
        await this.step("add-learner", request.node);
        return;
      case "promote":
        await this.step("promote", request.node);
        return;
      case "remove":
        await this.step("remove", request.node);
        return;
      case "replace": {
        // Thesis §4.2.1: the new server catches up as a learner before it counts in any majority.
        const name = `replace ${request.node} by ${request.by}`;
        if (this.replaceRefusal(request.node) !== undefined) {
          this.noteDecline(name, this.replaceRefusal(request.node) as string);
          return;
        }
        if (!(await this.step("add-learner", request.by, name))) return;
        if (!(await this.step("promote", request.by, name))) return;
        await this.step("remove", request.node, name);
        return;
      }
    }
  }

  /** Runs one step until it is done, declined, or out of tries; resolves true when done. */
  private async step(kind: "add-learner" | "promote" | "remove", id: NodeId, within?: string): Promise<boolean> {
    const what = `${within === undefined ? "" : `${within}: `}${kind} ${id}`;
    for (let attempt = 1; attempt <= MEMBERSHIP_MAX_TRIES; attempt++) {
      if (attempt > 1) await this.sleep(MEMBERSHIP_RETRY_MS);
      if (!this.running) return false;
      const leader = this.cluster.leader();
      if (leader === undefined) continue;
      const check = this.precheck(kind, id, leader);
      if (check === "done") return true;
      if (check === "wait") continue;
      if (check !== "go") {
        this.noteDecline(what, check);
        return false;
      }
      const tries = attempt > 1 ? ` (try ${attempt})` : "";
      if (await this.callLeader(leader, `${what}${tries}`, (server) => this.invoke(kind, id, server))) return true;
    }
    this.noteDecline(what, `gave up after ${MEMBERSHIP_MAX_TRIES} tries`);
    return false;
  }

  private invoke(kind: "add-learner" | "promote" | "remove", id: NodeId, server: RaftServer<unknown>): Promise<void> {
    const options = { timeoutMs: MEMBERSHIP_CALL_TIMEOUT_MS };
    if (kind === "add-learner") {
      // A node is started before it is added, knowing the current voters as its bootstrap configuration.
      if (!this.cluster.hasNode(id)) this.cluster.addNode(id, server.status().voters);
      return server.addLearner(id, id, options);
    }
    return kind === "promote" ? server.promoteLearner(id, options) : server.removeMember(id, options);
  }

  /**
   * Whether the step is needed and allowed now, judged on the leader's configuration: "done"
   * (nothing to do), "go", "wait" (try again later), or why it is declined for good.
   */
  private precheck(kind: "add-learner" | "promote" | "remove", id: NodeId, leader: NodeId): string {
    const { voters, learners } = this.leaderStatus(leader);
    switch (kind) {
      case "add-learner":
        return voters.includes(id) || learners.includes(id) ? "done" : "go";
      case "promote":
        if (voters.includes(id)) return "done";
        if (!learners.includes(id)) return `${id} is not a learner`;
        if (voters.length >= MAX_SIM_VOTERS) return `${voters.length} voters already`;
        if (this.cluster.isDamaged(id)) return `the disk of ${id} is damaged`;
        return "go";
      case "remove": {
        if (learners.includes(id)) return "go";
        if (!voters.includes(id)) return "done";
        const remaining = voters.filter((voter) => voter !== id);
        if (remaining.length < MIN_SIM_VOTERS) return `only ${remaining.length} voters would remain`;
        // A majority of what remains must be able to serve; nodes that are down may come back.
        const healthy = remaining.filter((voter) => this.cluster.isUp(voter) && !this.cluster.isDamaged(voter));
        return healthy.length * 2 > remaining.length ? "go" : "wait";
      }
    }
  }

  /** Why a replace of `old` cannot start, judged on the latest configuration; undefined when it may. */
  private replaceRefusal(old: NodeId): string | undefined {
    const { voters } = this.cluster.members();
    if (!voters.includes(old)) return `${old} is not a voter`;
    if (voters.length >= MAX_SIM_VOTERS) return `${voters.length} voters already`;
    return undefined;
  }

  private leaderStatus(leader: NodeId): { voters: readonly NodeId[]; learners: readonly NodeId[] } {
    const server = this.cluster.server(leader) as RaftServer<unknown>;
    const status = server.status();
    return { voters: status.voters, learners: status.learners };
  }

  /** Calls the leader; traces the outcome; resolves true when the change was applied. */
  private async callLeader(
    leader: NodeId,
    what: string,
    call: (server: RaftServer<unknown>) => Promise<void>,
  ): Promise<boolean> {
    this.counts.calls++;
    try {
      await this.cluster.call(leader, call);
      this.counts.ok++;
      this.trace?.note(this.clock.now(), `membership ${what} on ${leader}: ok`);
      return true;
    } catch (error) {
      this.counts.refused++;
      if (!(error instanceof RequestCancelledError) && !isRaftError(error)) {
        this.unexpectedErrors.push(`${this.clock.now()} ms: membership ${what} on ${leader}: ${String(error)}`);
      }
      const code = isRaftError(error) ? error.code : "CANCELLED";
      this.trace?.note(this.clock.now(), `membership ${what} on ${leader}: refused ${code}`);
      return false;
    }
  }

  private noteDecline(what: string, reason: string): void {
    this.counts.declined++;
    this.trace?.note(this.clock.now(), `membership ${what}: declined: ${reason}`);
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.clock.setTimer(delayMs, resolve);
    });
  }
}
