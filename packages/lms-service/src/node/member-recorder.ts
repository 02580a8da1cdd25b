import type { Logger, RaftServer, ServerStatus } from "@lectern/raft-core";

/** How often a leader looks for members to record. */
export const memberRecordIntervalMs = 1_000;
/** How long one recording may take before it counts as failed (it is retried on the next round). */
export const memberRecordTimeoutMs = 5_000;

/**
 * The members a leader should record now: those in the configuration with no address in it yet
 * that have run — the leader itself, and every peer that has acknowledged part of the log (match
 * above 0). Only outside a joint configuration, and only ids whose address is known.
 */
export function membersToRecord(
  status: Pick<ServerStatus, "id" | "role" | "voters" | "outgoingVoters" | "learners" | "addresses" | "progress">,
  addressOf: (id: string) => string | undefined,
): Record<string, string> {
  const record: Record<string, string> = {};
  if (status.role !== "leader" || status.outgoingVoters.length > 0) return record;
  for (const id of [...status.voters, ...status.learners]) {
    if (Object.hasOwn(status.addresses, id)) continue;
    const hasRun = id === status.id || (status.progress[id]?.match ?? 0) > 0;
    const address = addressOf(id);
    if (hasRun && address !== undefined && address !== "") record[id] = address;
  }
  return record;
}

/**
 * On the leader, writes into the Raft configuration the address of every member that has run
 * (an address-only membership change: same voters and learners). The configuration then tells a
 * node restarted with an empty data folder that it has run before, and such a node refuses to
 * start until it is re-added (fresh-start.ts). A failed round (a leader change, a pending
 * configuration change) is simply retried on the next one.
 *
 * @example
 * const recorder = new MemberRecorder(raft, addressOf, logger);
 * recorder.start();
 * // ... recorder.stop();
 */
export class MemberRecorder {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly raft: RaftServer<unknown>,
    private readonly addressOf: (id: string) => string | undefined,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.round(), memberRecordIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: records what {@link membersToRecord} finds; never throws. */
  async round(): Promise<void> {
    if (this.busy) return;
    let status: ServerStatus;
    try {
      status = this.raft.status();
    } catch {
      return;
    }
    if (status.lifecycle !== "running") return;
    const addresses = membersToRecord(status, this.addressOf);
    if (Object.keys(addresses).length === 0) return;
    this.busy = true;
    try {
      await this.raft.changeMembership(
        { voters: status.voters, learners: status.learners, addresses },
        { timeoutMs: memberRecordTimeoutMs },
      );
      this.logger.info({ members: Object.keys(addresses) }, "recorded members in the configuration");
    } catch (error) {
      this.logger.debug({ err: String(error) }, "recording members failed; retrying next round");
    } finally {
      this.busy = false;
    }
  }
}
