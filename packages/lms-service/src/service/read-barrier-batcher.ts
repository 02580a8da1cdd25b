/**
 * Shares linearizable read barriers (Raft ReadIndex rounds) among concurrent calls. A barrier
 * asked for at time t may only be answered by a round that STARTED after t (thesis §6.4: the read
 * index must be taken after the read arrived), so a call that arrives while a round runs waits for
 * the next one; every call that arrives meanwhile shares that next round. Under load this costs at
 * most two rounds in flight per node instead of one per call, and on a follower one forwarded
 * request to the leader per round instead of one per call.
 */
export class ReadBarrierBatcher {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly read: () => Promise<void>) {}

  /** Resolves once a read round that started after this call has completed. */
  barrier(): Promise<void> {
    if (this.running === undefined) return this.startRound();
    this.queued ??= this.running.then(ignore, ignore).then(() => {
      this.queued = undefined;
      return this.startRound();
    });
    return this.queued;
  }

  private startRound(): Promise<void> {
    const round: Promise<void> = this.read().finally(() => {
      if (this.running === round) this.running = undefined;
    });
    this.running = round;
    return round;
  }
}

function ignore(): void {}
