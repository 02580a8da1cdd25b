import type { NodeId } from "../core/types.js";
import type { TimerHandle } from "../runtime/clock.js";
import { describeFault, type Fault, type FaultSchedule, MEMBERSHIP_FAULT_KINDS } from "./fault-schedule.js";
import type { MembershipAdmin } from "./membership-admin.js";
import type { SimCluster } from "./sim-cluster.js";
import type { BitFlip } from "./sim-disk.js";
import type { SimNetwork } from "./sim-network.js";
import type { Trace } from "./trace.js";
import type { VirtualClock } from "./virtual-clock.js";

export interface FaultInjectorOptions {
  readonly clock: VirtualClock;
  readonly cluster: SimCluster;
  readonly network: SimNetwork;
  readonly schedule: FaultSchedule;
  readonly trace?: Trace;
  /** Applies the membership faults (add-learner, promote, remove, replace); without it they have no effect. */
  readonly membership?: MembershipAdmin;
}

/**
 * Applies a {@link FaultSchedule} to a simulated cluster and network on the virtual clock. The
 * faults of one instant run as one event, in list order, so "crash n1; restart n1" at the same
 * millisecond means exactly that whatever the seed's same-instant permutation is.
 *
 * @example
 * const injector = new FaultInjector({ clock, cluster, network, schedule });
 * injector.start();
 * await clock.runUntil(10_000);
 * injector.stop(); // nothing later in the schedule happens
 */
export class FaultInjector {
  private readonly clock: VirtualClock;
  private readonly cluster: SimCluster;
  private readonly network: SimNetwork;
  private readonly schedule: FaultSchedule;
  private readonly trace: Trace | undefined;
  private readonly membership: MembershipAdmin | undefined;
  private readonly timers: TimerHandle[] = [];
  private appliedCount = 0;

  constructor(options: FaultInjectorOptions) {
    this.clock = options.clock;
    this.cluster = options.cluster;
    this.network = options.network;
    this.schedule = options.schedule;
    this.trace = options.trace;
    this.membership = options.membership;
  }

  /** Schedules every fault at or after the current virtual time. */
  start(): void {
    const byInstant = new Map<number, Fault[]>();
    for (const fault of this.schedule) {
      const atMs = Math.max(fault.atMs, this.clock.now());
      const group = byInstant.get(atMs);
      if (group === undefined) byInstant.set(atMs, [fault]);
      else group.push(fault);
    }
    for (const [atMs, faults] of byInstant) {
      this.timers.push(this.clock.schedule(atMs, () => this.applyAll(faults)));
    }
  }

  /** Cancels every fault not applied yet and disarms pending crash-during-write faults. */
  stop(): void {
    for (const timer of this.timers) this.clock.cancelTimer(timer);
    this.timers.length = 0;
    this.cluster.disarmAll();
    this.membership?.stop();
  }

  /** Faults applied so far. */
  applied(): number {
    return this.appliedCount;
  }

  private applyAll(faults: readonly Fault[]): void {
    for (const fault of faults) {
      const outcome = this.apply(fault);
      this.appliedCount++;
      const description = describeFault(fault);
      this.trace?.fault(
        this.clock.now(),
        outcome === false
          ? `${description} (no effect)`
          : outcome === true
            ? description
            : `${description}: ${outcome}`,
      );
    }
  }

  /**
   * The groups with every node the schedule does not name (a node that joined the cluster after
   * the schedule was written) put into one of them, by its number, so a partition splits the
   * cluster instead of cutting every new node off.
   */
  private withJoinedNodes(groups: readonly (readonly NodeId[])[]): NodeId[][] {
    const result = groups.map((group) => [...group]);
    if (result.length === 0) return result;
    const named = new Set(result.flat());
    for (const id of this.cluster.ids) {
      if (named.has(id)) continue;
      const number = Number.parseInt(id.slice(1), 10);
      (result[(Number.isSafeInteger(number) ? number : 0) % result.length] as NodeId[]).push(id);
    }
    return result;
  }

  /**
   * Applies one fault; returns false when it changed nothing (crashing a node already down...),
   * or a description of what it did when there is more to say (where a bit flip landed).
   */
  private apply(fault: Fault): boolean | string {
    // A node that joins later (add-learner, replace) is not there before it joins.
    if ("node" in fault && !this.cluster.hasNode(fault.node) && !isMembershipFault(fault)) return false;
    switch (fault.kind) {
      case "crash":
        return this.cluster.crash(fault.node);
      case "crash-during-write":
        if (this.cluster.isDown(fault.node)) return false;
        this.cluster.crashDuringNextWrite(fault.node);
        return true;
      case "torn-write":
        if (this.cluster.isDown(fault.node)) return false;
        this.cluster.tearNextWrite(fault.node);
        return true;
      case "bit-flip": {
        const flip = this.cluster.flipBit(fault.node);
        return flip === undefined ? false : describeBitFlip(flip);
      }
      case "restart":
        return this.cluster.restart(fault.node);
      case "crash-all":
        return this.cluster.crashAll() > 0;
      case "restart-all":
        return this.cluster.restartAll() > 0;
      case "partition":
        this.network.partition(this.withJoinedNodes(fault.groups));
        return true;
      case "isolate":
        this.network.isolate(fault.node);
        return true;
      case "cut":
        this.network.cut(fault.from, fault.to);
        return true;
      case "heal":
        this.network.heal();
        return true;
      case "loss":
        this.network.configure({ lossPerMillion: fault.perMillion });
        return true;
      case "duplicate":
        this.network.configure({ duplicatePerMillion: fault.perMillion });
        return true;
      case "add-learner":
      case "promote":
      case "remove":
        return this.membership?.apply({ kind: fault.kind, node: fault.node }) ?? false;
      case "replace":
        return this.membership?.apply({ kind: "replace", node: fault.node, by: fault.by }) ?? false;
    }
  }
}

function isMembershipFault(fault: Fault): boolean {
  return (MEMBERSHIP_FAULT_KINDS as readonly string[]).includes(fault.kind);
}

/** Where a flip landed, e.g. "entry 42 byte 17 bit 3" or "snapshot 40 block 2 byte 9 bit 0". */
export function describeBitFlip(flip: BitFlip): string {
  const at = `byte ${flip.byte} bit ${flip.bit}`;
  switch (flip.record) {
    case "hard-state":
      return `hard-state record ${at}`;
    case "entry":
      return `entry ${flip.index} ${at}`;
    case "snapshot-meta":
      return `snapshot ${flip.index} meta record ${at}`;
    case "snapshot-block":
      return `snapshot ${flip.index} block ${flip.block} ${at}`;
  }
}
