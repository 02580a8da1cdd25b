import { type CallOptions, RaftServer, type RaftServerOptions } from "@lectern/raft-core";
import type { NodeMetrics } from "../ops/node-metrics.js";

/** A RaftServer that counts the proposals it is given and those that end without a result. */
export class MeteredRaftServer<Result> extends RaftServer<Result> {
  constructor(
    options: RaftServerOptions<Result>,
    private readonly metrics: NodeMetrics,
  ) {
    super(options);
  }

  override propose(command: Uint8Array, options?: CallOptions): Promise<Result> {
    this.metrics.proposalStarted();
    const outcome = super.propose(command, options);
    outcome.catch(() => this.metrics.proposalFailed());
    return outcome;
  }
}
