import { NotLeaderError, ReadFailedError } from "@lectern/raft-core";

/**
 * How long a call waits on a node that knows no leader (an election is running) before it is
 * refused. Elections here take a few hundred milliseconds; refusing at once would send every
 * client into backoff and make it find the new leader only at its next attempt.
 */
export const leaderWaitMs = 1_000;
/** How often a waiting call looks whether a leader is known. */
export const leaderPollMs = 5;
/** Rounds of waiting one call may take (a second election during the first one is rare). */
export const maxLeaderWaits = 3;

/** The part of RaftServer this needs. */
export interface LeaderSource {
  status(): { readonly leader: string };
}

/**
 * Runs `attempt` (a propose or a read barrier) and, when it is refused only because no leader is
 * known here (an election runs), waits for one. Raft itself already holds a call that meets an
 * election on this node (`raftLeaderWaitMs`); this covers the refusals that come later: a
 * forwarded proposal the old leader refused without naming a new one, and a read whose leader
 * lost its leadership before confirming it. It waits at most {@link leaderWaitMs} a round, never
 * past `deadlineMs`, and runs the call again. Such a refusal means nothing was applied: a
 * proposal refused with NOT_LEADER and no leader hint was not appended, and a read changes nothing. Any other
 * outcome is returned as it is.
 */
export async function withLeader<T>(
  raft: LeaderSource,
  deadlineMs: number,
  attempt: (remainingMs: number) => Promise<T>,
  now: () => number = Date.now,
): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await attempt(Math.max(1, deadlineMs - now()));
    } catch (error) {
      // Past the deadline nothing is retried: a read barrier that timed out fails as a timeout.
      if (!isNoLeaderRefusal(error) || round > maxLeaderWaits || now() >= deadlineMs) throw error;
      const waitUntil = Math.min(deadlineMs, now() + leaderWaitMs);
      if (!(await leaderKnownBy(raft, waitUntil, now))) throw error;
    }
  }
}

/** A refusal that says only "no leader here right now". */
function isNoLeaderRefusal(error: unknown): boolean {
  return (error instanceof NotLeaderError && error.leaderHint === "") || error instanceof ReadFailedError;
}

/** Resolves true as soon as `raft` knows a leader, false if none is known by `untilMs`. */
async function leaderKnownBy(raft: LeaderSource, untilMs: number, now: () => number): Promise<boolean> {
  for (;;) {
    if (currentLeader(raft) !== "") return true;
    if (now() >= untilMs) return false;
    await new Promise((resolve) => setTimeout(resolve, leaderPollMs));
  }
}

function currentLeader(raft: LeaderSource): string {
  try {
    return raft.status().leader;
  } catch {
    return "";
  }
}
