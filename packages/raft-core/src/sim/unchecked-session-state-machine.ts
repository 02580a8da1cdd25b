import type { Entry, SnapshotMeta } from "../core/types.js";
import type { StateMachine } from "../runtime/state-machine.js";
import { decodeSessionEnvelope } from "../sessions/session-envelope.js";
import type { SessionApplyResult } from "../sessions/session-result.js";
import type { SnapshotChunks } from "../storage/storage.js";
import type { KvApplyResult, KvStateMachine } from "./kv-state-machine.js";

const EMPTY = new Uint8Array(0);

/**
 * A TEST DOUBLE of `SessionStateMachine` with the duplicate detection taken out: it speaks the
 * session envelope protocol (registrations get their log index as client id, commands are
 * unwrapped and applied) but applies EVERY copy of a command, as a replicated state machine
 * without client sessions does when clients retry (thesis §6.3: "at-least-once").
 *
 * The simulator uses it only with `sessionDedupe: false`, to show that its checks catch a
 * command applied twice. It keeps no session table, so its snapshots are the KV store's alone.
 */
export class UncheckedSessionStateMachine implements StateMachine<SessionApplyResult<KvApplyResult>> {
  constructor(private readonly inner: KvStateMachine) {}

  apply(entries: readonly Entry[]): readonly SessionApplyResult<KvApplyResult>[] {
    const forInner: Entry[] = new Array(entries.length);
    const plans: (SessionApplyResult<KvApplyResult> | "inner")[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      const noop: Entry = { index: entry.index, term: entry.term, type: "noop", data: EMPTY };
      if (entry.type !== "normal") {
        forInner[i] = entry;
        plans[i] = "inner";
        continue;
      }
      const decoded = decodeSessionEnvelope(entry.data);
      forInner[i] = noop;
      if (!decoded.ok) {
        plans[i] = { kind: "malformed", problem: decoded.problem };
      } else if (decoded.envelope.kind === "register") {
        plans[i] = { kind: "registered", clientId: entry.index };
      } else if (decoded.envelope.kind === "keepAlive") {
        plans[i] = { kind: "keptAlive", clientId: decoded.envelope.clientId };
      } else {
        forInner[i] = { index: entry.index, term: entry.term, type: "normal", data: decoded.envelope.payload };
        plans[i] = "inner";
      }
    }
    const results = this.inner.apply(forInner);
    return plans.map((plan, i) => {
      if (plan !== "inner") return plan;
      const entry = entries[i] as Entry;
      if (entry.type !== "normal") return { kind: "passthrough", result: results[i] };
      const decoded = decodeSessionEnvelope(entry.data);
      const command = decoded.ok && decoded.envelope.kind === "command" ? decoded.envelope : undefined;
      return {
        kind: "applied",
        clientId: command?.clientId ?? 0,
        sequence: command?.sequence ?? 0,
        result: results[i],
      };
    });
  }

  appliedIndex(): number {
    return this.inner.appliedIndex();
  }

  snapshot(): SnapshotChunks {
    return this.inner.snapshot();
  }

  restore(meta: SnapshotMeta, data: SnapshotChunks): Promise<void> {
    return this.inner.restore(meta, data);
  }
}
