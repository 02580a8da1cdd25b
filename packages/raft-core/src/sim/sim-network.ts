import type { Message, NodeId } from "../core/types.js";
import type { Transport, TransportHandler } from "../runtime/transport.js";
import type { Prng } from "./prng.js";
import type { VirtualClock } from "./virtual-clock.js";

/** Probabilities of network faults are integer ratios over this denominator. */
export const PER_MILLION = 1_000_000;
export const DEFAULT_MIN_LATENCY_MS = 1;
export const DEFAULT_MAX_LATENCY_MS = 10;

/** Why the simulated network dropped a message. */
export type NetworkDropReason =
  /** Random loss (`lossPerMillion`). */
  | "loss"
  /** A partition, isolation or one-way cut separated the pair, at send or at delivery time. */
  | "partition"
  /** The sender was down when it sent, or the receiver was down when the message arrived. */
  | "down"
  /** No started endpoint for the receiver when the message arrived (never started, or stopped). */
  | "no-endpoint"
  /** The sending endpoint was not started, or was stopped or replaced by a newer incarnation. */
  | "sender-stopped";

export interface NetworkCounters {
  readonly sent: number;
  readonly delivered: number;
  readonly duplicated: number;
  readonly dropped: Readonly<Record<NetworkDropReason, number>>;
}

export interface SimNetworkOptions {
  /** Smallest one-way latency, inclusive. Default {@link DEFAULT_MIN_LATENCY_MS}. */
  readonly minLatencyMs?: number;
  /** Largest one-way latency, inclusive. Default {@link DEFAULT_MAX_LATENCY_MS}. */
  readonly maxLatencyMs?: number;
  /** Chance a message is lost, per million messages. Default 0. */
  readonly lossPerMillion?: number;
  /** Chance a message is delivered twice (each copy with its own latency), per million. Default 0. */
  readonly duplicatePerMillion?: number;
  /**
   * Deliver messages of one (sender, receiver) pair in the order sent, like one TCP stream.
   * Default false: independent random latencies reorder messages.
   */
  readonly inOrderPerPair?: boolean;
  /**
   * When a message cannot even leave (receiver down, unknown, or the link is cut), tell the
   * sender's endpoint `onUnreachable(receiver)` after `minLatencyMs`, as a refused connection
   * would. Default false.
   */
  readonly reportUnreachable?: boolean;
  /** Tracing hook: called just before a message is handed to its receiver. */
  readonly onDeliver?: (message: Message, from: NodeId, atMs: number) => void;
  /** Tracing hook: called when a message is dropped. */
  readonly onDrop?: (message: Message, from: NodeId, reason: NetworkDropReason) => void;
}

/** Per-pair queue used when `inOrderPerPair` is on: each delivery event hands over the oldest message. */
class PairQueue {
  messages: Message[] = [];
  head = 0;
  lastDeliveryAtMs = 0;

  shift(): Message {
    const message = this.messages[this.head] as Message;
    this.messages[this.head] = undefined as unknown as Message;
    this.head++;
    if (this.head === this.messages.length) {
      this.messages.length = 0;
      this.head = 0;
    }
    return message;
  }
}

/** One incarnation of a node's network interface. */
class SimEndpoint {
  handler: TransportHandler | undefined = undefined;
  stopped = false;
  constructor(readonly id: NodeId) {}
}

function validatedOptions(options: SimNetworkOptions): Required<Omit<SimNetworkOptions, "onDeliver" | "onDrop">> {
  const resolved = {
    minLatencyMs: options.minLatencyMs ?? DEFAULT_MIN_LATENCY_MS,
    maxLatencyMs: options.maxLatencyMs ?? DEFAULT_MAX_LATENCY_MS,
    lossPerMillion: options.lossPerMillion ?? 0,
    duplicatePerMillion: options.duplicatePerMillion ?? 0,
    inOrderPerPair: options.inOrderPerPair ?? false,
    reportUnreachable: options.reportUnreachable ?? false,
  };
  if (!Number.isSafeInteger(resolved.minLatencyMs) || resolved.minLatencyMs < 0) {
    throw new RangeError(`minLatencyMs must be a non-negative integer, got ${resolved.minLatencyMs}`);
  }
  if (!Number.isSafeInteger(resolved.maxLatencyMs) || resolved.maxLatencyMs < resolved.minLatencyMs) {
    throw new RangeError(`maxLatencyMs must be an integer >= minLatencyMs, got ${resolved.maxLatencyMs}`);
  }
  for (const name of ["lossPerMillion", "duplicatePerMillion"] as const) {
    const value = resolved[name];
    if (!Number.isInteger(value) || value < 0 || value > PER_MILLION) {
      throw new RangeError(`${name} must be an integer in [0, ${PER_MILLION}], got ${value}`);
    }
  }
  return resolved;
}

/**
 * A simulated, unreliable network on a virtual clock: latency drawn uniformly from
 * [minLatencyMs, maxLatencyMs], random loss and duplication, reordering (unless in-order per pair),
 * full partitions, isolation, one-way cuts and crashed nodes. Every random choice draws from the
 * given stream, so one seed replays one run. Messages are passed by reference, never cloned.
 *
 * Connectivity is checked when a message is sent and again when it arrives, so a partition takes
 * effect at once, also for messages in flight. A message already in flight when its sender crashes
 * still arrives (it was on the wire); a message arriving at a down node, or at a node with no
 * started endpoint, is dropped. A restarted node's new endpoint may receive messages sent to its
 * previous incarnation, as a real one would.
 *
 * @example
 * const net = new SimNetwork(clock, Prng.fromSeed(1).fork("network"), { lossPerMillion: 10_000 });
 * const transport = net.endpoint("n1");
 * net.partition([["n1"], ["n2", "n3"]]);
 * net.heal();
 */
export class SimNetwork {
  private settings: Required<Omit<SimNetworkOptions, "onDeliver" | "onDrop">>;
  private readonly onDeliver: SimNetworkOptions["onDeliver"];
  private readonly onDrop: SimNetworkOptions["onDrop"];
  private readonly endpoints = new Map<NodeId, SimEndpoint>();
  private readonly down = new Set<NodeId>();
  /** Group number per node while a full partition is in force; undefined when the network is whole. */
  private groups: Map<NodeId, number> | undefined;
  private readonly isolated = new Set<NodeId>();
  /** One-way cuts: sender -> receivers it cannot reach. */
  private readonly cuts = new Map<NodeId, Set<NodeId>>();
  private readonly pairs = new Map<NodeId, Map<NodeId, PairQueue>>();
  private sent = 0;
  private delivered = 0;
  private duplicated = 0;
  private readonly dropped: Record<NetworkDropReason, number> = {
    loss: 0,
    partition: 0,
    down: 0,
    "no-endpoint": 0,
    "sender-stopped": 0,
  };

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Prng,
    options: SimNetworkOptions = {},
  ) {
    this.settings = validatedOptions(options);
    this.onDeliver = options.onDeliver;
    this.onDrop = options.onDrop;
  }

  /**
   * A new network interface (incarnation) for node `id`. Starting it makes it the node's
   * receiving endpoint and displaces any earlier incarnation, which can then no longer send.
   */
  endpoint(id: NodeId): Transport {
    const endpoint = new SimEndpoint(id);
    return {
      start: (handler) => this.start(endpoint, handler),
      send: (message) => this.transmit(endpoint, message),
      stop: () => {
        this.stop(endpoint);
        return Promise.resolve();
      },
    };
  }

  /**
   * Changes latency, loss, duplication or ordering from now on (a degraded-network fault).
   * Messages already in flight keep their delivery time.
   */
  configure(options: Omit<SimNetworkOptions, "onDeliver" | "onDrop">): void {
    this.settings = validatedOptions({ ...this.settings, ...options });
  }

  /**
   * Full partition: nodes talk only to nodes of their own group. A node named in no group reaches
   * nobody. Replaces any previous partition; isolation and cuts stay in force.
   */
  partition(groups: readonly (readonly NodeId[])[]): void {
    const assignment = new Map<NodeId, number>();
    groups.forEach((group, groupNumber) => {
      for (const id of group) {
        if (assignment.has(id)) throw new Error(`node ${id} is in more than one partition group`);
        assignment.set(id, groupNumber);
      }
    });
    this.groups = assignment;
  }

  /** Cuts `id` off from every other node in both directions until `heal()`. */
  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  /** One-way cut: messages from `from` to `to` are dropped; `to` can still reach `from`. */
  cut(from: NodeId, to: NodeId): void {
    let receivers = this.cuts.get(from);
    if (receivers === undefined) {
      receivers = new Set();
      this.cuts.set(from, receivers);
    }
    receivers.add(to);
  }

  /** Restores the one-way link `from` -> `to` removed by `cut`. */
  uncut(from: NodeId, to: NodeId): void {
    const receivers = this.cuts.get(from);
    receivers?.delete(to);
    if (receivers?.size === 0) this.cuts.delete(from);
  }

  /** Removes every partition, isolation and cut (down nodes stay down). */
  heal(): void {
    this.groups = undefined;
    this.isolated.clear();
    this.cuts.clear();
  }

  /**
   * Marks a node crashed (`true`) or running again (`false`). With `reportUnreachable`, a crash
   * also resets the crashed node's connections: every running peer that could reach it hears
   * `onUnreachable(id)` after `minLatencyMs`, as a TCP reset from a dead process would tell it.
   */
  setDown(id: NodeId, isDown: boolean): void {
    if (!isDown) {
      this.down.delete(id);
      return;
    }
    this.down.add(id);
    if (!this.settings.reportUnreachable) return;
    // Insertion order: deterministic, like everything else in a run.
    for (const endpoint of this.endpoints.values()) {
      if (endpoint.id === id || this.down.has(endpoint.id) || !this.connected(endpoint.id, id)) continue;
      this.clock.setTimer(this.settings.minLatencyMs, () => {
        if (!endpoint.stopped) endpoint.handler?.onUnreachable?.(id);
      });
    }
  }

  isDown(id: NodeId): boolean {
    return this.down.has(id);
  }

  /** True when a message from `from` to `to` would pass partitions, isolation and cuts now. */
  connected(from: NodeId, to: NodeId): boolean {
    if (from === to) return true;
    if (this.isolated.size > 0 && (this.isolated.has(from) || this.isolated.has(to))) return false;
    if (this.groups !== undefined) {
      const fromGroup = this.groups.get(from);
      if (fromGroup === undefined || fromGroup !== this.groups.get(to)) return false;
    }
    if (this.cuts.size > 0 && this.cuts.get(from)?.has(to) === true) return false;
    return true;
  }

  /** A snapshot of the traffic counters. */
  counters(): NetworkCounters {
    return {
      sent: this.sent,
      delivered: this.delivered,
      duplicated: this.duplicated,
      dropped: { ...this.dropped },
    };
  }

  private start(endpoint: SimEndpoint, handler: TransportHandler): void {
    if (endpoint.stopped) throw new Error(`endpoint ${endpoint.id} was stopped; ask the network for a new endpoint`);
    if (endpoint.handler !== undefined) throw new Error(`endpoint ${endpoint.id} is already started`);
    endpoint.handler = handler;
    const previous = this.endpoints.get(endpoint.id);
    if (previous !== undefined && previous !== endpoint) previous.stopped = true;
    this.endpoints.set(endpoint.id, endpoint);
  }

  private stop(endpoint: SimEndpoint): void {
    endpoint.stopped = true;
    if (this.endpoints.get(endpoint.id) === endpoint) this.endpoints.delete(endpoint.id);
  }

  /** An endpoint's `send`; never throws. */
  private transmit(source: SimEndpoint, message: Message): void {
    this.sent++;
    const from = source.id;
    const to = message.to;
    if (source.stopped || source.handler === undefined) return this.drop(message, from, "sender-stopped");
    if (this.down.has(from)) return this.drop(message, from, "down");
    if (!this.connected(from, to)) return this.refuse(source, message, "partition");
    if (this.down.has(to)) return this.refuse(source, message, "down");
    if (!this.endpoints.has(to)) return this.refuse(source, message, "no-endpoint");
    const settings = this.settings;
    if (this.random.nextBool(settings.lossPerMillion, PER_MILLION)) return this.drop(message, from, "loss");
    this.dispatch(from, message);
    if (this.random.nextBool(settings.duplicatePerMillion, PER_MILLION)) {
      this.duplicated++;
      this.dispatch(from, message);
    }
  }

  private dispatch(from: NodeId, message: Message): void {
    const latencyMs = this.random.nextRange(this.settings.minLatencyMs, this.settings.maxLatencyMs);
    const atMs = this.clock.now() + latencyMs;
    if (!this.settings.inOrderPerPair) {
      this.clock.schedule(atMs, () => this.deliver(from, message));
      return;
    }
    const queue = this.pairQueue(from, message.to);
    queue.messages.push(message);
    // Never earlier than the previous message of the pair; equal times are fine because each
    // delivery event takes the queue's oldest message, whatever order same-instant events run in.
    queue.lastDeliveryAtMs = Math.max(atMs, queue.lastDeliveryAtMs);
    this.clock.schedule(queue.lastDeliveryAtMs, () => this.deliver(from, queue.shift()));
  }

  private deliver(from: NodeId, message: Message): void {
    const to = message.to;
    if (!this.connected(from, to)) return this.drop(message, from, "partition");
    if (this.down.has(to)) return this.drop(message, from, "down");
    const receiver = this.endpoints.get(to);
    if (receiver?.handler === undefined) return this.drop(message, from, "no-endpoint");
    this.delivered++;
    this.onDeliver?.(message, from, this.clock.now());
    receiver.handler.onMessage(message);
  }

  /** Drops a message that could not leave and, if configured, reports the receiver unreachable. */
  private refuse(source: SimEndpoint, message: Message, reason: NetworkDropReason): void {
    this.drop(message, source.id, reason);
    if (!this.settings.reportUnreachable) return;
    const peer = message.to;
    this.clock.setTimer(this.settings.minLatencyMs, () => {
      if (!source.stopped) source.handler?.onUnreachable?.(peer);
    });
  }

  private drop(message: Message, from: NodeId, reason: NetworkDropReason): void {
    this.dropped[reason]++;
    this.onDrop?.(message, from, reason);
  }

  private pairQueue(from: NodeId, to: NodeId): PairQueue {
    let byReceiver = this.pairs.get(from);
    if (byReceiver === undefined) {
      byReceiver = new Map();
      this.pairs.set(from, byReceiver);
    }
    let queue = byReceiver.get(to);
    if (queue === undefined) {
      queue = new PairQueue();
      byReceiver.set(to, queue);
    }
    return queue;
  }
}
