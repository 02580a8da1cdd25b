import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import type { ServerStatus } from "@lectern/raft-core";
import type { PeerTransportStatus } from "../transport/grpc-peer-transport.js";
import type { MetricFamily, MetricSample } from "./prometheus-text.js";
import { RpcCounts } from "./rpc-metrics.js";

/** Resolution of the event-loop delay histogram. */
export const eventLoopResolutionMs = 10;

/** What a scrape reads from the running node; undefined parts are left out of the output. */
export interface MetricSources {
  /** Undefined while Raft is not running. */
  readonly raft: () => ServerStatus | undefined;
  readonly transport: () => PeerTransportStatus | undefined;
}

/**
 * The counters of one node that no status call holds: proposals, applied entries, elections and
 * leader changes seen, gRPC calls by method and code, and the event-loop delay. Everything else
 * (indexes, snapshots, peer links) is read from Raft and the transport at scrape time.
 *
 * @example
 * const metrics = new NodeMetrics();
 * metrics.startEventLoopMonitor();
 * const text = renderPrometheusText(metrics.families({ raft: () => raft.status(), transport: () => transport.status() }));
 */
export class NodeMetrics {
  readonly rpcs = new RpcCounts();
  private proposals = 0;
  private failedProposals = 0;
  private appliedEntries = 0;
  private electionsSeen = 0;
  private leaderChanges = 0;
  private lastTerm: number | undefined;
  private lastLeader: string | undefined;
  private eventLoop: IntervalHistogram | undefined;

  /** A proposal this node accepted from a client (forwarded to the leader or not). */
  proposalStarted(): void {
    this.proposals++;
  }

  /** A proposal that did not resolve with a result (refused, dropped, timed out, outcome unknown). */
  proposalFailed(): void {
    this.failedProposals++;
  }

  /** Entries the state machine applied. */
  entriesApplied(count: number): void {
    this.appliedEntries += count;
  }

  /**
   * Feeds one reading of Raft's status: each term increase counts as elections seen (a node that
   * slept through several terms counts each, as every term began with an election), each change
   * of the known leader as a leader change.
   */
  observe(status: Pick<ServerStatus, "term" | "leader">): void {
    if (this.lastTerm !== undefined && status.term > this.lastTerm) this.electionsSeen += status.term - this.lastTerm;
    this.lastTerm = status.term;
    if (status.leader !== "" && status.leader !== this.lastLeader) {
      if (this.lastLeader !== undefined) this.leaderChanges++;
      this.lastLeader = status.leader;
    }
  }

  /** Starts sampling the event-loop delay (percentiles over the time since the previous scrape). */
  startEventLoopMonitor(): void {
    if (this.eventLoop !== undefined) return;
    this.eventLoop = monitorEventLoopDelay({ resolution: eventLoopResolutionMs });
    this.eventLoop.enable();
  }

  stopEventLoopMonitor(): void {
    this.eventLoop?.disable();
    this.eventLoop = undefined;
  }

  /** Every metric family, reading the sources now; resets the event-loop window. */
  families(sources: MetricSources): MetricFamily[] {
    const raft = sources.raft();
    if (raft !== undefined) this.observe(raft);
    const families: MetricFamily[] = [
      counter("lectern_raft_proposals_total", "Proposals this node accepted from clients.", this.proposals),
      counter(
        "lectern_raft_proposals_failed_total",
        "Proposals that ended without a result (refused, dropped, timed out or outcome unknown).",
        this.failedProposals,
      ),
      counter(
        "lectern_raft_applied_entries_total",
        "Log entries the LMS state machine applied since start.",
        this.appliedEntries,
      ),
      counter(
        "lectern_raft_elections_seen_total",
        "Term increases this node saw since start (each term starts with an election).",
        this.electionsSeen,
      ),
      counter(
        "lectern_raft_leader_changes_total",
        "Changes of the leader this node knows since start.",
        this.leaderChanges,
      ),
      {
        name: "lectern_grpc_server_handled_total",
        help: "gRPC calls this node finished, by full method name and status code.",
        type: "counter",
        samples: this.rpcs.samples(),
      },
    ];
    if (raft !== undefined) families.push(...raftFamilies(raft));
    const transport = sources.transport();
    if (transport !== undefined) families.push(...transportFamilies(transport));
    families.push(...this.eventLoopFamilies());
    return families;
  }

  private eventLoopFamilies(): MetricFamily[] {
    const histogram = this.eventLoop;
    if (histogram === undefined || histogram.count === 0) return [];
    // The histogram holds nanoseconds; its minimum is the sampling resolution, which is not delay.
    const p99 = Math.max(0, histogram.percentile(99) / 1e6 - eventLoopResolutionMs) / 1e3;
    const max = Math.max(0, histogram.max / 1e6 - eventLoopResolutionMs) / 1e3;
    histogram.reset();
    return [
      gauge("lectern_event_loop_delay_p99_seconds", "99th percentile event-loop delay since the previous scrape.", p99),
      gauge("lectern_event_loop_delay_max_seconds", "Largest event-loop delay since the previous scrape.", max),
    ];
  }
}

function raftFamilies(raft: ServerStatus): MetricFamily[] {
  return [
    gauge("lectern_raft_term", "Current Raft term.", raft.term),
    {
      name: "lectern_raft_role",
      help: "1 for this node's current Raft role.",
      type: "gauge",
      samples: (["follower", "pre-candidate", "candidate", "leader"] as const).map((role) => ({
        labels: { role },
        value: raft.role === role ? 1 : 0,
      })),
    },
    gauge("lectern_raft_commit_index", "Highest log index known committed.", raft.commit),
    gauge("lectern_raft_applied_index", "Highest log index the state machine applied.", raft.stateMachineApplied),
    gauge("lectern_raft_last_log_index", "Last index in this node's log.", raft.lastIndex),
    gauge("lectern_raft_pending_proposals", "Proposals waiting for an outcome.", raft.pendingProposals),
    gauge("lectern_raft_pending_reads", "Linearizable reads waiting for an outcome.", raft.pendingReads),
    counter(
      "lectern_raft_dropped_messages_total",
      "Peer messages dropped because the inbox was full.",
      raft.droppedMessages,
    ),
    gauge("lectern_raft_latest_snapshot_index", "Index of the latest stored snapshot.", raft.latestSnapshotIndex),
    {
      name: "lectern_raft_snapshots_total",
      help: "Snapshots taken, sent to followers and received from a leader.",
      type: "counter",
      samples: [
        { labels: { event: "taken" }, value: raft.snapshotsTaken },
        { labels: { event: "sent" }, value: raft.snapshotsSent },
        { labels: { event: "received" }, value: raft.snapshotsReceived },
      ],
    },
    counter("lectern_raft_snapshot_chunks_dropped_total", "Snapshot chunks ignored.", raft.snapshotChunksDropped),
  ];
}

function transportFamilies(transport: PeerTransportStatus): MetricFamily[] {
  const connected: MetricSample[] = transport.peers.map((peer) => ({
    labels: { peer: peer.id },
    value: peer.connected ? 1 : 0,
  }));
  return [
    gauge(
      "lectern_peers_connected",
      "Peers with an authenticated stream in use.",
      transport.peers.filter((peer) => peer.connected).length,
    ),
    {
      name: "lectern_peer_connected",
      help: "1 when the stream to this peer is up.",
      type: "gauge",
      samples: connected,
    },
    gauge("lectern_peer_streams_open", "Peer streams open, in any state.", transport.openStreams),
    {
      name: "lectern_peer_transport_events_total",
      help: "Peer transport events: frames sent, messages delivered, drops by cause, refused hellos, dials.",
      type: "counter",
      samples: Object.entries(transport.counters).map(([event, value]) => ({ labels: { event }, value })),
    },
  ];
}

function counter(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: "counter", samples: [{ value }] };
}

function gauge(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: "gauge", samples: [{ value }] };
}
