import type { ServerStatus } from "@lectern/raft-core";
import type { PeerTransportStatus } from "../transport/grpc-peer-transport.js";
import type { NodeMetrics } from "./node-metrics.js";
import type { HealthReport, MembershipReport, OpsView } from "./ops-server.js";
import { renderPrometheusText } from "./prometheus-text.js";

/** Where a node process is in its life, as the operations server tells it. */
export type NodePhase = "probing" | "starting" | "running" | "stopping" | "stopped";

export interface NodeOpsSources {
  readonly nodeId: string;
  readonly phase: () => NodePhase;
  /** Raft's status; undefined (or throwing) while Raft has not started. */
  readonly raft: () => ServerStatus | undefined;
  readonly transport: () => PeerTransportStatus | undefined;
  readonly metrics: NodeMetrics;
}

/**
 * The operations view of one node process: health from Raft's status (running only while the
 * process is running and Raft's lifecycle is "running"), membership from the configuration in the
 * log, and the metrics in Prometheus text.
 *
 * @example
 * const ops = await OpsServer.start({ host, port, view: nodeOpsView({ nodeId, phase: () => phase, raft, transport, metrics }) });
 */
export function nodeOpsView(sources: NodeOpsSources): OpsView {
  const raftStatus = (): ServerStatus | undefined => {
    try {
      return sources.raft();
    } catch {
      return undefined;
    }
  };
  return {
    health(): HealthReport {
      const phase = sources.phase();
      const raft = raftStatus();
      if (raft === undefined) return { node: sources.nodeId, status: phase === "running" ? "starting" : phase };
      const running = phase === "running" && raft.lifecycle === "running";
      return {
        node: sources.nodeId,
        status: running ? "running" : phase === "running" ? "stopped" : phase,
        role: raft.role,
        term: raft.term,
        leader: raft.leader,
        commit: raft.commit,
        applied: raft.stateMachineApplied,
        lastIndex: raft.lastIndex,
      };
    },
    membership(): MembershipReport {
      const phase = sources.phase();
      const raft = raftStatus();
      if (raft === undefined || raft.lifecycle !== "running") {
        return {
          node: sources.nodeId,
          state: phase === "probing" ? "probing" : phase === "stopped" ? "stopped" : "starting",
        };
      }
      return {
        node: sources.nodeId,
        state: "running",
        voters: raft.voters,
        outgoingVoters: raft.outgoingVoters,
        learners: raft.learners,
        recorded: Object.keys(raft.addresses).sort(),
        lastIndex: raft.lastIndex,
        term: raft.term,
      };
    },
    metrics(): string {
      return renderPrometheusText(sources.metrics.families({ raft: raftStatus, transport: sources.transport }));
    },
  };
}
