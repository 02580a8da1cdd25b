import { access } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@lectern/raft-core";
import type { MembershipReport } from "../ops/ops-server.js";
import type { PeerAddress } from "../peers.js";
import { HTTP_PORT_OFFSET } from "./node-config.js";

/**
 * How a node whose data folder is empty may start (safety rule 10 of the design):
 * - "bootstrap": the cluster is new (or this node is a bootstrap member that never ran): start as
 *   a voter of the PEERS configuration;
 * - "join": the cluster already runs and lists this node as a learner or not at all: start with no
 *   configuration of its own and wait for the leader's log (an admin adds or promotes it);
 * - "refuse": the cluster lists this node as a voter that has already run. It may have voted and
 *   acknowledged entries that its empty folder no longer holds, so counting its vote or its
 *   acknowledgements again could lose committed entries or elect two leaders in one term.
 */
export type FreshStartDecision =
  | { readonly kind: "bootstrap"; readonly reason: string }
  | { readonly kind: "join"; readonly reason: string }
  | { readonly kind: "refuse"; readonly reason: string };

/** How long a node with an empty folder waits for a peer to answer before it refuses to start. */
export const freshStartProbeTimeoutMs = 60_000;
/** Pause between probe rounds. */
export const freshStartProbeIntervalMs = 250;
/** One probe request's timeout. */
export const freshStartRequestTimeoutMs = 1_000;

/** The file a joining node keeps in its data folder until the leader's log gives it a configuration. */
export function joinMarkerFile(dataDir: string): string {
  return join(dataDir, "joining");
}

/**
 * True when this node holds no Raft state it may bootstrap from: its `raft` folder is missing, or
 * it was joining a running cluster and has not received a configuration yet.
 */
export async function isFreshDataFolder(dataDir: string): Promise<boolean> {
  return !(await exists(join(dataDir, "raft"))) || (await exists(joinMarkerFile(dataDir)));
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decides from the peers' membership reports, or returns undefined when the answers so far cannot
 * tell (no answer yet, or a peer with data that has not started Raft yet).
 */
export function decideFreshStart(self: string, reports: readonly MembershipReport[]): FreshStartDecision | undefined {
  const running = reports.filter((report) => report.state === "running");
  for (const report of running) {
    const voter = report.voters?.includes(self) === true || report.outgoingVoters?.includes(self) === true;
    if (voter && report.recorded?.includes(self) === true) {
      return {
        kind: "refuse",
        reason:
          `node ${self} has an empty data folder, but ${report.node} lists it as a voter that has already run ` +
          "(its log, votes and acknowledgements are gone). Remove it (ClusterService.RemoveMember), add it again " +
          "as a learner (ClusterService.AddMember with as_learner), start it again with the empty folder, then " +
          "promote it (ClusterService.PromoteMember) once it has caught up.",
      };
    }
  }
  for (const report of running) {
    const member =
      report.voters?.includes(self) === true ||
      report.outgoingVoters?.includes(self) === true ||
      report.learners?.includes(self) === true;
    if (!member || report.learners?.includes(self) === true) {
      return {
        kind: "join",
        reason: `${report.node} runs a cluster that lists ${self} ${member ? "as a learner" : "nowhere"}: waiting for the leader`,
      };
    }
  }
  if (running.length > 0) {
    return { kind: "bootstrap", reason: `${running[0].node} lists ${self} as a voter that has not run yet` };
  }
  if (reports.some((report) => report.state === "starting")) return undefined;
  if (reports.some((report) => report.state === "probing")) {
    return { kind: "bootstrap", reason: "every peer that answered has an empty data folder too: a new cluster" };
  }
  return undefined;
}

/** Reads one peer's `GET /membership`; undefined when it does not answer. */
export type MembershipFetch = (url: string) => Promise<MembershipReport | undefined>;

/** `fetch` with a timeout; any failure or a non-200 answer is "no answer". */
export const fetchMembership: MembershipFetch = async (url) => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(freshStartRequestTimeoutMs) });
    if (!response.ok) return undefined;
    const body = (await response.json()) as MembershipReport;
    return typeof body === "object" && body !== null && typeof body.state === "string" ? body : undefined;
  } catch {
    return undefined;
  }
};

/** The operations URL of a peer: its gRPC host and port + {@link HTTP_PORT_OFFSET}. */
export function membershipUrl(address: PeerAddress): string {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `http://${host}:${address.port + HTTP_PORT_OFFSET}/membership`;
}

export interface FreshStartProbe {
  readonly self: string;
  /** The PEERS map; the node itself is skipped. */
  readonly peers: ReadonlyMap<string, PeerAddress>;
  readonly fetch?: MembershipFetch;
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  readonly logger?: Logger;
}

/**
 * Asks every other PEERS member's operations server for its membership view, round after round,
 * until {@link decideFreshStart} can decide. With no other peer it bootstraps at once; when no
 * decision comes within the timeout it refuses (it cannot tell a new cluster from a lost folder).
 */
export async function probeFreshStart(probe: FreshStartProbe): Promise<FreshStartDecision> {
  const others = [...probe.peers.entries()].filter(([id]) => id !== probe.self);
  if (others.length === 0) return { kind: "bootstrap", reason: "a single-node cluster" };
  const fetchReport = probe.fetch ?? fetchMembership;
  const timeoutMs = probe.timeoutMs ?? freshStartProbeTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  let rounds = 0;
  for (;;) {
    const reports = (await Promise.all(others.map(([, address]) => fetchReport(membershipUrl(address))))).filter(
      (report): report is MembershipReport => report !== undefined,
    );
    const decision = decideFreshStart(probe.self, reports);
    if (decision !== undefined) return decision;
    if (rounds++ % 20 === 0) {
      probe.logger?.info(
        { answered: reports.map((report) => `${report.node}:${report.state}`) },
        "empty data folder: waiting for the peers to say whether the cluster already runs",
      );
    }
    if (Date.now() >= deadline) {
      return {
        kind: "refuse",
        reason:
          `node ${probe.self} has an empty data folder and no peer told within ${timeoutMs} ms whether the cluster ` +
          "already runs, so it cannot tell a new cluster from a lost folder. Start the other nodes (their " +
          "operations servers must answer on their gRPC port + 1000), then start this one again.",
      };
    }
    await new Promise((resolve) => setTimeout(resolve, probe.intervalMs ?? freshStartProbeIntervalMs));
  }
}
