import { decodeConfigEntry } from "../../src/core/config-change.js";
import type { CoreStatus, PeerProgress } from "../../src/core/raft-core.js";
import type { ConfigState, Entry, Message, NodeId } from "../../src/core/types.js";

/**
 * One-line renderings of the core's vocabulary for golden files. Every rendering is compact, stable
 * (field order fixed) and readable without the source at hand; docs/golden-scenarios.md lists them.
 */

const decoder = new TextDecoder();

/** `(a,b,c)`: an id list in the order the core reports it. */
export function renderIds(ids: readonly NodeId[]): string {
  return `(${ids.join(",")})`;
}

/** "" shows as "-" so that "no leader" and "no vote" stay visible. */
export function orDash(id: NodeId): string {
  return id === "" ? "-" : id;
}

/** `voters=(a,b,c)`, plus `outgoing=(...)` and `learners=(...)` when not empty. */
export function renderConfig(config: Pick<ConfigState, "voters" | "outgoing" | "learners">): string {
  let text = `voters=${renderIds(config.voters)}`;
  if (config.outgoing.length > 0) text += ` outgoing=${renderIds(config.outgoing)}`;
  if (config.learners.length > 0) text += ` learners=${renderIds(config.learners)}`;
  return text;
}

/** `index@term` names a log position (and an entry's identity, by Log Matching). */
export function position(index: number, term: number): string {
  return `${index}@${term}`;
}

/** `3@1 "x"`, `1@2 noop`, `4@1 config joint voters=(a,b,c,d) outgoing=(a,b,c)`. */
export function renderEntry(e: Entry): string {
  const at = position(e.index, e.term);
  if (e.type === "noop") return `${at} noop`;
  if (e.type === "config") {
    const payload = decodeConfigEntry(e.data);
    return payload === undefined
      ? `${at} config <undecodable>`
      : `${at} config ${payload.phase} ${renderConfig(payload)}`;
  }
  return `${at} ${renderData(e.data)}`;
}

export function renderEntries(entries: readonly Entry[]): string {
  return `[${entries.map(renderEntry).join(", ")}]`;
}

/** Payloads are shown as JSON strings of their UTF-8 text. */
export function renderData(data: Uint8Array): string {
  return JSON.stringify(decoder.decode(data));
}

/**
 * The kind a script filters on: the wire type, except that PreVote requests and responses are
 * `prevote` and `prevoteResp`, since a reader (and a `drop`) usually wants to tell them apart.
 */
export function messageKind(m: Message): string {
  if (m.type === "vote" && m.preVote) return "prevote";
  if (m.type === "voteResp" && m.preVote) return "prevoteResp";
  return m.type;
}

/** `a->b app term=1 prev=2@1 commit=2 entries=[3@1 "x"]` and the like, one line per message. */
export function renderMessage(m: Message): string {
  return `${m.from}->${m.to} ${messageKind(m)} term=${m.term}${renderMessageFields(m)}`;
}

function renderMessageFields(m: Message): string {
  switch (m.type) {
    case "vote":
      return ` last=${position(m.lastLogIndex, m.lastLogTerm)}${m.transfer ? " transfer" : ""}`;
    case "voteResp":
      return m.granted ? " granted" : " rejected";
    case "app":
      return ` prev=${position(m.prevLogIndex, m.prevLogTerm)} commit=${m.leaderCommit} entries=${renderEntries(m.entries)}`;
    case "appResp":
      return m.success ? ` ok index=${m.index}` : ` reject index=${m.index} hint=${position(m.hintIndex, m.hintTerm)}`;
    case "heartbeat":
      return ` commit=${m.commit}${m.round > 0 ? ` round=${m.round}` : ""}`;
    case "heartbeatResp":
      return m.round > 0 ? ` round=${m.round}` : "";
    case "prop":
      return ` proposals=[${m.proposals.map((p) => `${renderData(p.data)}#${p.requestId}`).join(", ")}]`;
    case "propReject":
      return ` ids=[${m.requestIds.join(",")}] hint=${orDash(m.leaderHint)}`;
    case "readIndex":
      return ` ids=[${m.requestIds.join(",")}]`;
    case "readIndexResp":
      return ` ids=[${m.requestIds.join(",")}] index=${m.index}`;
    case "snap":
      return ` snapshot=${position(m.meta.index, m.meta.term)} ${renderConfig(m.meta.config)}`;
    case "timeoutNow":
      return "";
    default:
      return ` ${renderUnknownFields(m)}`;
  }
}

/** Messages this file does not know (runtime-level, or added later) still render, as JSON. */
function renderUnknownFields(m: object): string {
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(m)) {
    if (!["type", "from", "to", "term", "clusterId"].includes(key)) rest[key] = value;
  }
  return JSON.stringify(rest, (_key, value) => (value instanceof Uint8Array ? decoder.decode(value) : value));
}

/** Where a node stands in the configuration it currently knows. */
export function membership(status: CoreStatus): string {
  if (status.voters.includes(status.id)) return "voter";
  if (status.outgoingVoters.includes(status.id)) return "outgoing-voter";
  if (status.learners.includes(status.id)) return "learner";
  return "non-member";
}

/** `a leader term=2 lead=a voter`: the role-level view. */
export function renderRaftState(status: CoreStatus): string {
  return `${status.id} ${status.role} term=${status.term} lead=${orDash(status.leader)} ${membership(status)}`;
}

/** The full status: one line for the node, then (on a leader) one indented line per tracked peer. */
export function renderStatus(status: CoreStatus): string[] {
  const head =
    `${status.id} ${status.role} term=${status.term} vote=${orDash(status.vote)} lead=${orDash(status.leader)}` +
    ` commit=${status.commit} applied=${status.applied} last=${position(status.lastIndex, status.lastTerm)}` +
    ` stable=${status.stableIndex} snapshot=${status.snapshotIndex} ` +
    renderConfig({ voters: status.voters, outgoing: status.outgoingVoters, learners: status.learners });
  const lines = [head];
  for (const id of Object.keys(status.progress).sort()) {
    lines.push(`  ${id} ${renderProgress(status.progress[id])}`);
  }
  return lines;
}

function renderProgress(pr: PeerProgress): string {
  return (
    `match=${pr.match} next=${pr.next} ${pr.state} inflight=${pr.inflight}` +
    `${pr.recentActive ? " active" : " inactive"}${pr.isLearner ? " learner" : ""}`
  );
}
