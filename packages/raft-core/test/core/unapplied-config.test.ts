import { describe, expect, it } from "vitest";
import { DEFAULT_ELECTION_TICKS } from "../../src/core/config.js";
import { encodeConfigEntry } from "../../src/core/config-change.js";
import { RaftCore } from "../../src/core/raft-core.js";
import type { Entry } from "../../src/core/types.js";
import { TestRandom } from "./harness.js";

/**
 * A node must not campaign while a committed configuration entry is not yet in effect here (it
 * takes effect when handed out for applying): after a restart its bootstrap configuration may be
 * stale, and a campaign would count the wrong majority (etcd refuses the same way). Thesis §4.1.
 */
function restartedWithPendingConfig(): RaftCore {
  const entries: Entry[] = [
    { index: 1, term: 1, type: "noop", data: new Uint8Array() },
    {
      index: 2,
      term: 1,
      type: "config",
      data: encodeConfigEntry({
        phase: "final",
        voters: ["a", "b", "c", "d"],
        outgoing: [],
        learners: [],
        addresses: {},
      }),
    },
  ];
  return new RaftCore(
    { id: "a", clusterId: "test", voters: ["a", "b", "c"], random: new TestRandom(5) },
    { hardState: { term: 1, vote: "", commit: 2 }, entries, applied: 0 },
  );
}

describe("no campaign with committed configuration entries not yet applied (thesis §4.1)", () => {
  it("waits through election timeouts until the entries are handed out, then campaigns under the new configuration", () => {
    const core = restartedWithPendingConfig();
    for (let i = 0; i < 3 * DEFAULT_ELECTION_TICKS; i++) core.tick();
    core.campaign();
    expect(core.status().role).toBe("follower");
    expect(core.status().term).toBe(1);
    // The runtime takes the Ready: the configuration entry is handed out and takes effect.
    const ready = core.ready();
    expect(ready.committedEntries.map((e) => e.index)).toEqual([1, 2]);
    core.advance(ready);
    expect(core.status().voters).toEqual(["a", "b", "c", "d"]);
    core.campaign();
    expect(core.status().role).toBe("candidate");
    const next = core.ready();
    const votes = [...next.messages, ...next.messagesAfterPersist].filter((m) => m.type === "vote");
    expect(votes.map((m) => m.to).sort()).toEqual(["b", "c", "d"]);
  });
});
