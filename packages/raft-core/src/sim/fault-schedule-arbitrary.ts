import fc from "fast-check";
import type { NodeId } from "../core/types.js";
import { type Fault, sortSchedule } from "./fault-schedule.js";
import { clusterNodeIds, MAX_NODES } from "./sim-cluster.js";

/** Episodes one generated schedule holds at most: enough to combine faults, small enough to shrink fast. */
export const MAX_ARBITRARY_EPISODES = 8;
/** Largest loss or duplication rate generated, per million messages. */
const MAX_GENERATED_PER_MILLION = 300_000;

/**
 * A fast-check arbitrary of fault schedules for a cluster of `nodes` over a safety phase of
 * `durationMs`. A schedule is a list of episodes, each a fault and (usually) its repair — crash then
 * restart, torn write then restart, crash + bit flip then restart (the node halts), partition then
 * heal, loss then loss 0, a new learner then its promotion, a removal, a replacement of a node by
 * a new one — so shrinking removes whole episodes and moves their times toward 0, and the shrunk
 * schedule still reads like a story. New nodes take the ids after the initial ones (up to n9);
 * membership episodes that make no sense when they run (promoting a node never added, removing
 * below three voters) are declined by the simulator and traced.
 *
 * Kept out of the simulator's entry point so the library does not depend on fast-check at run time.
 *
 * @example
 * fc.assert(fc.asyncProperty(faultScheduleArbitrary(["n1", "n2", "n3"], 3_000), async (schedule) =>
 *   (await runSimulation({ seed: 1, nodes: 3, ticks: 300, schedule })).ok));
 */
export function faultScheduleArbitrary(nodes: readonly NodeId[], durationMs: number): fc.Arbitrary<Fault[]> {
  if (nodes.length === 0) throw new RangeError("faultScheduleArbitrary needs at least one node");
  if (!Number.isSafeInteger(durationMs) || durationMs < 1) {
    throw new RangeError(`durationMs must be a positive integer, got ${durationMs}`);
  }
  const atMs = fc.integer({ min: 0, max: durationMs - 1 });
  const lastingMs = fc.integer({ min: 1, max: Math.max(1, Math.floor(durationMs / 2)) });
  const node = fc.constantFrom(...nodes);
  const spares = clusterNodeIds(MAX_NODES).filter((id) => !nodes.includes(id));
  const membership: fc.Arbitrary<Fault[]>[] =
    spares.length === 0
      ? [fc.record({ atMs, node }).map(({ atMs, node }): Fault[] => [{ atMs, kind: "remove", node }])]
      : [
          fc
            .record({ atMs, lastingMs, spare: fc.constantFrom(...spares) })
            .map(({ atMs, lastingMs, spare }): Fault[] => [
              { atMs, kind: "add-learner", node: spare },
              { atMs: atMs + lastingMs, kind: "promote", node: spare },
            ]),
          fc.record({ atMs, node }).map(({ atMs, node }): Fault[] => [{ atMs, kind: "remove", node }]),
          fc
            .record({ atMs, node, spare: fc.constantFrom(...spares) })
            .map(({ atMs, node, spare }): Fault[] => [{ atMs, kind: "replace", node, by: spare }]),
        ];
  const episode = fc.oneof(
    fc.record({ atMs, lastingMs, node }).map(({ atMs, lastingMs, node }): Fault[] => [
      { atMs, kind: "crash", node },
      { atMs: atMs + lastingMs, kind: "restart", node },
    ]),
    fc.record({ atMs, lastingMs, node }).map(({ atMs, lastingMs, node }): Fault[] => [
      { atMs, kind: "crash-during-write", node },
      { atMs: atMs + lastingMs, kind: "restart", node },
    ]),
    fc.record({ atMs, lastingMs, node }).map(({ atMs, lastingMs, node }): Fault[] => [
      { atMs, kind: "torn-write", node },
      { atMs: atMs + lastingMs, kind: "restart", node },
    ]),
    // The disk is damaged while the node is down, so its restart finds the damage and it halts.
    // The cluster refuses flips beyond a minority of the nodes, so any combination is allowed here.
    fc.record({ atMs, lastingMs, node }).map(({ atMs, lastingMs, node }): Fault[] => [
      { atMs, kind: "crash", node },
      { atMs, kind: "bit-flip", node },
      { atMs: atMs + lastingMs, kind: "restart", node },
    ]),
    fc.record({ atMs, lastingMs }).map(({ atMs, lastingMs }): Fault[] => [
      { atMs, kind: "crash-all" },
      { atMs: atMs + lastingMs, kind: "restart-all" },
    ]),
    fc.record({ atMs, lastingMs, groups: groupsArbitrary(nodes) }).map(({ atMs, lastingMs, groups }): Fault[] => [
      { atMs, kind: "partition", groups },
      { atMs: atMs + lastingMs, kind: "heal" },
    ]),
    fc.record({ atMs, lastingMs, node }).map(({ atMs, lastingMs, node }): Fault[] => [
      { atMs, kind: "isolate", node },
      { atMs: atMs + lastingMs, kind: "heal" },
    ]),
    fc.record({ atMs, lastingMs, pair: distinctPair(nodes) }).map(({ atMs, lastingMs, pair }): Fault[] =>
      pair === undefined
        ? []
        : [
            { atMs, kind: "cut", from: pair[0], to: pair[1] },
            { atMs: atMs + lastingMs, kind: "heal" },
          ],
    ),
    fc.record({ atMs, lastingMs, perMillion: perMillion() }).map(({ atMs, lastingMs, perMillion }): Fault[] => [
      { atMs, kind: "loss", perMillion },
      { atMs: atMs + lastingMs, kind: "loss", perMillion: 0 },
    ]),
    fc.record({ atMs, lastingMs, perMillion: perMillion() }).map(({ atMs, lastingMs, perMillion }): Fault[] => [
      { atMs, kind: "duplicate", perMillion },
      { atMs: atMs + lastingMs, kind: "duplicate", perMillion: 0 },
    ]),
    ...membership,
  );
  return fc
    .array(episode, { maxLength: MAX_ARBITRARY_EPISODES })
    .map((episodes) => sortSchedule(episodes.flat().filter((fault) => fault.atMs < durationMs)));
}

function perMillion(): fc.Arbitrary<number> {
  return fc.integer({ min: 1, max: MAX_GENERATED_PER_MILLION });
}

/** Every node in exactly one of two non-empty groups (one group when there is a single node). */
function groupsArbitrary(nodes: readonly NodeId[]): fc.Arbitrary<NodeId[][]> {
  if (nodes.length < 2) return fc.constant([nodes.slice()]);
  return fc
    .tuple(
      fc.shuffledSubarray(nodes.slice(), { minLength: nodes.length, maxLength: nodes.length }),
      fc.integer({ min: 1, max: nodes.length - 1 }),
    )
    .map(([order, split]) => [order.slice(0, split), order.slice(split)]);
}

function distinctPair(nodes: readonly NodeId[]): fc.Arbitrary<readonly [NodeId, NodeId] | undefined> {
  if (nodes.length < 2) return fc.constant(undefined);
  return fc
    .tuple(fc.integer({ min: 0, max: nodes.length - 1 }), fc.integer({ min: 1, max: nodes.length - 1 }))
    .map(([from, offset]) => [nodes[from] as NodeId, nodes[(from + offset) % nodes.length] as NodeId] as const);
}
