import { describe, expect, it } from "vitest";
import type { Clock, TimerHandle } from "../../src/runtime/clock.js";
import { NotLeaderError, OutcomeUnknownError, ProposalDroppedError, StoppedError } from "../../src/runtime/errors.js";
import { SessionClient } from "../../src/sessions/session-client.js";
import { decodeSessionEnvelope, type SessionEnvelope } from "../../src/sessions/session-envelope.js";
import { isSessionExpiredError, SessionExpiredError } from "../../src/sessions/session-expired-error.js";
import { jsonResultCodec } from "../../src/sessions/session-options.js";
import type { SessionApplyResult } from "../../src/sessions/session-result.js";
import { SessionStateMachine } from "../../src/sessions/session-state-machine.js";
import { AppliedLog, add, CounterStateMachine } from "./helpers.js";

/** A clock whose time the test sets; timers are recorded and fire on the next microtask, or on `fire()` when held. */
class StepClock implements Clock {
  nowMs = 1_000.7;
  holdTimers = false;
  readonly delaysMs: number[] = [];
  private held: (() => void)[] = [];
  now(): number {
    return this.nowMs;
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    this.delaysMs.push(delayMs);
    if (this.holdTimers) this.held.push(fn);
    else void Promise.resolve().then(fn);
    return {};
  }
  cancelTimer(): void {}
  fire(): void {
    for (const fn of this.held.splice(0)) fn();
  }
}

type Fault = "lost-reply" | "dropped" | "not-leader" | "stopped" | "hold";

/**
 * A proposer that appends each proposal to a log applied through a session state machine, with a
 * scripted fault per call: "lost-reply" applies and then fails with OUTCOME_UNKNOWN (the reply
 * never reached the client), "dropped" and "not-leader" fail without applying, "hold" waits for
 * `release()`.
 */
class ScriptedProposer {
  readonly faults: Fault[] = [];
  readonly proposed: SessionEnvelope[] = [];
  private held: (() => void)[] = [];

  constructor(readonly log: AppliedLog<SessionApplyResult<number>>) {}

  async propose(command: Uint8Array): Promise<unknown> {
    const decoded = decodeSessionEnvelope(command);
    if (!decoded.ok) throw new Error(decoded.problem);
    this.proposed.push(decoded.envelope);
    const fault = this.faults.shift();
    if (fault === "dropped") throw new ProposalDroppedError(this.log.entries.length + 1);
    if (fault === "not-leader") throw new NotLeaderError("b");
    if (fault === "stopped") throw new StoppedError();
    if (fault === "hold") await new Promise<void>((resolve) => this.held.push(resolve));
    const result = await this.log.append(command);
    if (fault === "lost-reply") throw new OutcomeUnknownError("the reply was lost");
    return result;
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

function setup(options: { maxCachedResultsPerClient?: number; sessionTimeoutMs?: number } = {}) {
  const counter = new CounterStateMachine();
  const sessions = new SessionStateMachine<number>(counter, { resultCodec: jsonResultCodec<number>(), ...options });
  const log = new AppliedLog<SessionApplyResult<number>>(sessions);
  const proposer = new ScriptedProposer(log);
  const clock = new StepClock();
  return { counter, sessions, log, proposer, clock };
}

function commands(proposed: readonly SessionEnvelope[]) {
  return proposed.flatMap((e) => (e.kind === "command" ? [[e.sequence, e.lowestUnacked] as const] : []));
}

describe("SessionClient (thesis §6.3)", () => {
  it("registers through the log (its id is the entry's index) and numbers commands from 1", async () => {
    const { proposer, clock, counter } = setup();
    const client = await SessionClient.register<number>(proposer, { clock });
    expect(client.clientId).toBe(1);
    expect(await client.propose(add(2))).toBe(2);
    expect(await client.propose(add(3))).toBe(5);
    expect(commands(proposer.proposed)).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(proposer.proposed[0]).toEqual({ kind: "register", timestampMs: 1_000 });
    expect(counter.applied).toEqual(["add 2", "add 3"]);
  });

  it("retries a command whose reply was lost with the SAME sequence and gets the first result; applied once", async () => {
    const { proposer, clock, counter } = setup();
    const client = await SessionClient.register<number>(proposer, { clock, retryDelayMs: 25 });
    proposer.faults.push("lost-reply");
    expect(await client.propose(add(5))).toBe(5);
    expect(commands(proposer.proposed)).toEqual([
      [1, 1],
      [1, 1],
    ]);
    expect(counter.applied).toEqual(["add 5"]);
    expect(clock.delaysMs).toEqual([25]);
  });

  it("retries after NOT_LEADER and PROPOSAL_DROPPED (not applied) with the same sequence", async () => {
    const { proposer, clock, counter } = setup();
    const client = await SessionClient.register<number>(proposer, { clock, retryDelayMs: 0 });
    proposer.faults.push("not-leader", "dropped", "lost-reply", "lost-reply");
    expect(await client.propose(add(7))).toBe(7);
    expect(commands(proposer.proposed).map(([sequence]) => sequence)).toEqual([1, 1, 1, 1, 1]);
    expect(counter.applied).toEqual(["add 7"]);
    expect(clock.delaysMs).toEqual([]);
  });

  it("passes a non-retryable error on at once", async () => {
    const { proposer, clock } = setup();
    const client = await SessionClient.register<number>(proposer, { clock });
    proposer.faults.push("stopped");
    await expect(client.propose(add(1))).rejects.toMatchObject({ code: "STOPPED" });
    expect(commands(proposer.proposed)).toHaveLength(1);
  });

  it("gives up after maxAttempts with the last error, and acknowledges the abandoned sequence afterwards", async () => {
    const { proposer, clock, counter } = setup();
    const client = await SessionClient.register<number>(proposer, { clock, maxAttempts: 2, retryDelayMs: 0 });
    proposer.faults.push("lost-reply", "lost-reply");
    await expect(client.propose(add(1))).rejects.toMatchObject({ code: "OUTCOME_UNKNOWN" });
    expect(client.outstandingCommands).toBe(0);
    expect(await client.propose(add(2))).toBe(3);
    // The next command no longer awaits sequence 1, so the replicas may drop its result.
    expect(commands(proposer.proposed).at(-1)).toEqual([2, 2]);
    expect(counter.applied).toEqual(["add 1", "add 2"]);
  });

  it("an attempt that may have been applied keeps the outcome unknown even if the last attempt says NOT_LEADER", async () => {
    // Found by the simulator (seed 10, heavy): the first attempt committed but its reply was lost,
    // the retries met an election; reporting the final NOT_LEADER ("not applied") was a lie.
    const { proposer, clock, counter } = setup();
    const client = await SessionClient.register<number>(proposer, { clock, maxAttempts: 3, retryDelayMs: 0 });
    proposer.faults.push("lost-reply", "not-leader", "not-leader");
    await expect(client.propose(add(1))).rejects.toMatchObject({ code: "OUTCOME_UNKNOWN" });
    expect(counter.applied).toEqual(["add 1"]);
    // Attempts that were all certainly not applied still report NOT_LEADER.
    proposer.faults.push("not-leader", "not-leader", "not-leader");
    await expect(client.propose(add(2))).rejects.toMatchObject({ code: "NOT_LEADER" });
  });

  it("acknowledges only below the oldest command still in flight", async () => {
    const { proposer, clock } = setup();
    const client = await SessionClient.register<number>(proposer, { clock });
    proposer.faults.push("hold");
    const first = client.propose(add(1));
    await Promise.resolve();
    const second = await client.propose(add(2));
    expect(second).toBe(2);
    proposer.release();
    expect(await first).toBe(3);
    expect(commands(proposer.proposed)).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it("refuses more than maxOutstandingCommands with OVERLOADED (not applied)", async () => {
    const { proposer, clock, counter } = setup();
    const client = await SessionClient.register<number>(proposer, { clock, maxOutstandingCommands: 1 });
    proposer.faults.push("hold");
    const first = client.propose(add(1));
    await expect(client.propose(add(2))).rejects.toMatchObject({ code: "OVERLOADED" });
    proposer.release();
    await first;
    expect(counter.applied).toEqual(["add 1"]);
  });

  it("raises SessionExpired for an expired session, and refuses later calls without proposing", async () => {
    const { proposer, clock, counter } = setup({ sessionTimeoutMs: 100 });
    const client = await SessionClient.register<number>(proposer, { clock });
    clock.nowMs += 101;
    const error = await client.propose(add(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionExpiredError);
    expect(isSessionExpiredError(error)).toBe(true);
    expect(error).toMatchObject({ code: "SESSION_EXPIRED", reason: "unknown-session", clientId: 1, sequence: 1 });
    expect(client.expired).toBe(true);
    const proposals = proposer.proposed.length;
    await expect(client.propose(add(2))).rejects.toMatchObject({ code: "SESSION_EXPIRED" });
    await expect(client.keepAlive()).rejects.toMatchObject({ code: "SESSION_EXPIRED" });
    expect(proposer.proposed.length).toBe(proposals);
    expect(counter.applied).toEqual([]);
  });

  it("keeps an idle session alive with keep-alives stamped by the clock", async () => {
    const { proposer, clock } = setup({ sessionTimeoutMs: 100 });
    const client = await SessionClient.register<number>(proposer, { clock });
    for (let i = 0; i < 5; i++) {
      clock.nowMs += 60;
      await client.keepAlive();
    }
    expect(await client.propose(add(1))).toBe(1);
    expect(proposer.proposed.filter((e) => e.kind === "keepAlive").map((e) => e.timestampMs)).toEqual([
      1_060, 1_120, 1_180, 1_240, 1_300,
    ]);
  });

  it("raises SessionExpired with reason result-evicted when a retry finds its result gone, and stays usable", async () => {
    const { proposer, clock, counter } = setup({ maxCachedResultsPerClient: 1 });
    const client = await SessionClient.register<number>(proposer, { clock, retryDelayMs: 10 });
    clock.holdTimers = true;
    // Command 1 is applied but its reply is lost; the client waits to retry it.
    proposer.faults.push("lost-reply");
    const first = client.propose(add(1)).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.delaysMs).toEqual([10]);
    // Meanwhile command 2 is applied and, with room for one cached result, pushes out command 1's.
    expect(await client.propose(add(2))).toBe(3);
    clock.fire();
    const error = await first;
    expect(error).toMatchObject({ code: "SESSION_EXPIRED", reason: "result-evicted", sequence: 1 });
    expect(commands(proposer.proposed).map(([sequence]) => sequence)).toEqual([1, 2, 1]);
    // Never applied a second time, and the session goes on.
    expect(counter.applied).toEqual(["add 1", "add 2"]);
    expect(client.expired).toBe(false);
    expect(await client.propose(add(3))).toBe(6);
  });

  it("says so when the server does not run a SessionStateMachine", async () => {
    const clock = new StepClock();
    await expect(SessionClient.register({ propose: async () => 42 }, { clock })).rejects.toThrow(
      /not a session result/,
    );
  });

  it("checks its options", async () => {
    const { proposer, clock } = setup();
    await expect(SessionClient.register(proposer, { clock, maxAttempts: 0 })).rejects.toThrow(/maxAttempts/);
    await expect(SessionClient.register(proposer, { clock, retryDelayMs: -1 })).rejects.toThrow(/retryDelayMs/);
    await expect(SessionClient.register(proposer, {} as { clock: Clock })).rejects.toThrow(/clock is required/);
  });
});
