import type { MembershipChange } from "../core/config-change.js";
import type { Entry, NodeId } from "../core/types.js";
import type { CallCancellation } from "./call-cancellation.js";
import { ProposalDroppedError } from "./errors.js";

/**
 * Where a proposal stands:
 * - "queued": in the server's inbox, not yet handed to the core (failing it now means "not applied");
 * - "appended": this node leads and appended it at (`index`, `term`);
 * - "forwarded": sent to leader `forwardedTo` in `forwardedTerm`, matched at apply by (origin, requestId).
 */
export type ProposalStage = "queued" | "appended" | "forwarded";

/** One caller waiting for `propose` to settle. */
export class PendingProposal<Result> {
  stage: ProposalStage = "queued";
  settled = false;
  index = 0;
  term = 0;
  forwardedTo: NodeId = "";
  forwardedTerm = 0;
  /**
   * Held by this (leader) node's core during a leadership transfer (thesis §3.10): it goes to
   * whichever leader follows, so a leader change forwards it rather than failing it.
   */
  held = false;
  cancellation: CallCancellation | undefined;
  /** Set for a membership change instead of a command. */
  membership: MembershipChange | undefined;

  constructor(
    readonly requestId: number,
    /** The command; released once appended here or settled (a forwarded one may be offered again). */
    public data: Uint8Array | undefined,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    readonly resolve: (result: Result) => void,
    readonly reject: (error: Error) => void,
  ) {}
}

/**
 * Every unsettled proposal of one server, indexed so that each applied entry settles its
 * proposal in O(1): local proposals by log index (their (index, term) is known from the core),
 * forwarded ones by request id (the leader copies origin and request id into the entry).
 */
export class PendingProposals<Result> {
  private readonly byRequestId = new Map<number, PendingProposal<Result>>();
  private readonly byIndex = new Map<number, PendingProposal<Result>>();
  private readonly forwarded = new Set<PendingProposal<Result>>();

  constructor(private readonly selfId: NodeId) {}

  /** Unsettled proposals, queued or handed to the core. */
  get size(): number {
    return this.byRequestId.size;
  }

  /** Proposals waiting for a leader elsewhere to append them. */
  get forwardedCount(): number {
    return this.forwarded.size;
  }

  add(proposal: PendingProposal<Result>): void {
    this.byRequestId.set(proposal.requestId, proposal);
  }

  /**
   * The core appended the proposal at (index, term). A proposal still waiting at the same index
   * from an earlier term lost its place: this node's log now holds another term there, and as
   * this node leads, the old entry can never be committed (Leader Completeness, Raft §5.4), so it
   * was not applied.
   */
  markAppended(proposal: PendingProposal<Result>, index: number, term: number): void {
    const previous = this.byIndex.get(index);
    if (previous !== undefined) this.reject(previous, new ProposalDroppedError(index));
    proposal.stage = "appended";
    proposal.index = index;
    proposal.term = term;
    proposal.data = undefined;
    this.byIndex.set(index, proposal);
  }

  /**
   * The core forwarded the proposal to `leader` (or holds it, `held`). Its data is kept until it
   * settles: a refusal from that leader hands it back (see {@link takeRefused}) to be offered again.
   */
  markForwarded(proposal: PendingProposal<Result>, leader: NodeId, term: number, held = false): void {
    proposal.held = held;
    proposal.stage = "forwarded";
    proposal.forwardedTo = leader;
    proposal.forwardedTerm = term;
    this.forwarded.add(proposal);
  }

  /**
   * The forwarded proposals among `requestIds`, which the leader they reached refused (it no
   * longer leads): each is back in the "queued" stage, unsettled — the refusal says it was never
   * appended (the core never refuses a copy it appended), so the caller may offer it to the core
   * again or fail it as not applied.
   */
  takeRefused(requestIds: readonly number[]): PendingProposal<Result>[] {
    const refused: PendingProposal<Result>[] = [];
    for (const requestId of requestIds) {
      const proposal = this.byRequestId.get(requestId);
      if (proposal === undefined || proposal.stage !== "forwarded") continue;
      this.forwarded.delete(proposal);
      proposal.stage = "queued";
      proposal.held = false;
      refused.push(proposal);
    }
    return refused;
  }

  /**
   * Settles whatever proposal `entry` decides, given the state machine's `result` for it. A
   * local proposal succeeds only if the entry applied at its index has its term (Log Matching,
   * Raft §5.3); any other entry there means it was dropped.
   */
  settleApplied(entry: Entry, result: Result): void {
    const local = this.byIndex.get(entry.index);
    if (local !== undefined) {
      // One entry per (index, term): the proposal's own entry (a command or a membership change).
      if (local.term === entry.term) this.resolve(local, result);
      else this.reject(local, new ProposalDroppedError(entry.index));
    }
    if (this.forwarded.size > 0 && entry.origin === this.selfId && entry.requestId !== undefined) {
      const forwarded = this.byRequestId.get(entry.requestId);
      if (forwarded !== undefined && forwarded.stage === "forwarded" && entry.type === "normal") {
        this.resolve(forwarded, result);
      }
    }
  }

  /**
   * Fails every forwarded proposal that was not sent to `leader` in `term`: its leader is gone,
   * and whatever it did with the proposal can no longer be learnt from it.
   */
  failForwardedNotSentTo(leader: NodeId, term: number, makeError: () => Error): void {
    for (const proposal of this.forwarded) {
      if (proposal.held) {
        // The core sends held proposals to the new leader in the very Ready that names it (or
        // refuses them in `rejectedProposals`, handled before this): follow them there.
        if (leader === "" || leader === this.selfId) continue;
        proposal.held = false;
        proposal.forwardedTo = leader;
        proposal.forwardedTerm = term;
        continue;
      }
      if (proposal.forwardedTo !== leader || proposal.forwardedTerm !== term) this.reject(proposal, makeError());
    }
  }

  /**
   * A snapshot up to `index` replaced this node's log: the entries of local proposals at or below
   * `index`, and of forwarded proposals (whose index is unknown here), may be inside it, where this
   * node can never see them applied. Those proposals fail with `makeError` (an outcome-unknown error).
   */
  failCoveredBySnapshot(index: number, makeError: () => Error): void {
    for (const proposal of [...this.byIndex.values()]) {
      if (proposal.index <= index) this.reject(proposal, makeError());
    }
    for (const proposal of [...this.forwarded]) this.reject(proposal, makeError());
  }

  /** Fails every unsettled proposal; `makeError` decides the error from the stage it reached. */
  failAll(makeError: (proposal: PendingProposal<Result>) => Error): void {
    for (const proposal of [...this.byRequestId.values()]) this.reject(proposal, makeError(proposal));
  }

  resolve(proposal: PendingProposal<Result>, result: Result): void {
    if (this.forget(proposal)) proposal.resolve(result);
  }

  reject(proposal: PendingProposal<Result>, error: Error): void {
    if (this.forget(proposal)) proposal.reject(error);
  }

  /** Removes the proposal from every index and stops its timer; false if it was already settled. */
  private forget(proposal: PendingProposal<Result>): boolean {
    if (proposal.settled) return false;
    proposal.settled = true;
    proposal.data = undefined;
    proposal.cancellation?.dispose();
    proposal.cancellation = undefined;
    this.byRequestId.delete(proposal.requestId);
    if (proposal.stage === "appended" && this.byIndex.get(proposal.index) === proposal)
      this.byIndex.delete(proposal.index);
    if (proposal.stage === "forwarded") this.forwarded.delete(proposal);
    return true;
  }
}
