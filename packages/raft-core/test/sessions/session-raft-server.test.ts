/**
 * Issue 4's duplicated-command scenario through real RaftServers (thesis §6.3): a command whose
 * reply is lost is retried; without sessions it is applied twice on every replica, with a
 * SessionStateMachine and a SessionClient exactly once.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { NodeId } from "../../src/core/types.js";
import { OutcomeUnknownError } from "../../src/runtime/errors.js";
import type { StateMachine } from "../../src/runtime/state-machine.js";
import { SessionClient } from "../../src/sessions/session-client.js";
import { jsonResultCodec } from "../../src/sessions/session-options.js";
import { SessionStateMachine } from "../../src/sessions/session-state-machine.js";
import { command, createCluster, ListStateMachine, type TestCluster, track } from "../runtime/helpers.js";

const IDS: readonly NodeId[] = ["a", "b", "c"];

/**
 * Proposes on `node`; when `loseNextReply` is set, the next command commits and applies but the
 * caller sees OUTCOME_UNKNOWN (as when the client's connection drops before the answer arrives).
 */
function replyLosingProposer(cluster: TestCluster, node: NodeId) {
  const proposer = {
    loseNextReply: false,
    /** Every result the server answered with, lost or delivered. */
    answers: [] as unknown[],
    async propose(data: Uint8Array): Promise<unknown> {
      const server = cluster.nodes[node]?.server;
      if (server === undefined) throw new Error(`no node ${node}`);
      const answer = await server.propose(data);
      proposer.answers.push(answer);
      if (proposer.loseNextReply) {
        proposer.loseNextReply = false;
        throw new OutcomeUnknownError("the reply was lost on its way to the client");
      }
      return answer;
    },
  };
  return proposer;
}

/** Drives the manual clock until `promise` settles. */
async function settleOn<T>(cluster: TestCluster, promise: Promise<T>): Promise<T> {
  const tracked = track(promise);
  const settled = await cluster.waitFor(() => tracked.state !== "pending", 10_000);
  if (!settled) throw new Error("the call did not settle");
  return promise;
}

describe("a retried command through real RaftServers (issue 4 evidence, thesis §6.3)", () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stopAll();
    cluster = undefined;
  });

  it("is applied twice on every replica WITHOUT sessions", async () => {
    cluster = await createCluster(IDS);
    await cluster.elect("a");
    const proposer = replyLosingProposer(cluster, "a");
    proposer.loseNextReply = true;
    // A naive client: on OUTCOME_UNKNOWN it proposes the same bytes again.
    const naive = async () => {
      try {
        return await proposer.propose(command("add 5"));
      } catch {
        return await proposer.propose(command("add 5"));
      }
    };
    await settleOn(cluster, naive());
    const current = cluster;
    expect(await current.waitFor(() => IDS.every((id) => current.nodes[id]?.stateMachine.commands.length === 2))).toBe(
      true,
    );
    for (const id of IDS) expect(current.nodes[id]?.stateMachine.commands).toEqual(["add 5", "add 5"]);
  });

  it("is applied exactly once on every replica WITH a SessionStateMachine and a SessionClient", async () => {
    const inner: Record<NodeId, ListStateMachine> = {};
    const perNode: Record<NodeId, { stateMachine: StateMachine<number> }> = {};
    for (const id of IDS) {
      inner[id] = new ListStateMachine();
      const wrapped = new SessionStateMachine<number>(inner[id], { resultCodec: jsonResultCodec<number>() });
      // The test cluster is typed for number results; the wrapper returns session results.
      perNode[id] = { stateMachine: wrapped as unknown as StateMachine<number> };
    }
    cluster = await createCluster(IDS, { perNode });
    await cluster.elect("a");
    const current = cluster;
    const proposer = replyLosingProposer(current, "a");
    const client = await settleOn(
      current,
      SessionClient.register<number>(proposer, { clock: current.clock, retryDelayMs: 10 }),
    );
    proposer.loseNextReply = true;
    const result = await settleOn(current, client.propose(command("add 5")));
    // Two entries reached the log; the second was answered from the session's cache.
    expect(proposer.answers.slice(1)).toEqual([
      { kind: "applied", clientId: client.clientId, sequence: 1, result: 1 },
      { kind: "duplicate", clientId: client.clientId, sequence: 1, result: 1 },
    ]);
    expect(result).toBe(1);
    const lastIndex = current.nodes.a?.server.status().lastIndex ?? 0;
    expect(
      await current.waitFor(() =>
        IDS.every((id) => current.nodes[id]?.server.status().stateMachineApplied === lastIndex),
      ),
    ).toBe(true);
    for (const id of IDS) expect(inner[id]?.commands).toEqual(["add 5"]);
  });
});
