import type { Proposal } from "./types.js";

/**
 * The leader's own proposals that arrived during a leadership transfer (thesis §3.10).
 *
 * While the target catches up and campaigns, the old leader appends nothing (so the target can
 * become fully up to date), yet refusing every write for up to an election timeout would bounce
 * clients for no reason. Instead the proposals wait here, in arrival order, bounded by a count and
 * a byte budget, and leave in one of two ways: forwarded to the next leader this node learns of,
 * or refused (the transfer was abandoned, this node campaigns, or no leader appeared in time).
 */
export class HeldProposals {
  private items: Proposal[] = [];
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  /**
   * Holds `proposal` unless that would exceed a bound; returns whether it is held. `usedBytes`
   * is what else already draws on the byte budget (the leader's uncommitted entries).
   */
  tryHold(proposal: Proposal, usedBytes: number): boolean {
    const size = proposal.data.byteLength;
    if (this.items.length >= this.maxCount) return false;
    // As for uncommitted entries, one proposal alone may use the whole budget.
    const used = usedBytes + this.bytes;
    if (used > 0 && used + size > this.maxBytes) return false;
    this.items.push(proposal);
    this.bytes += size;
    return true;
  }

  get size(): number {
    return this.items.length;
  }

  /** Removes and returns every held proposal, oldest first. */
  takeAll(): Proposal[] {
    const out = this.items;
    this.items = [];
    this.bytes = 0;
    return out;
  }
}
