import {
  CryptoRandom,
  type Entry,
  isRaftError,
  MemoryStorage,
  type Message,
  RaftServer,
  type StateMachine,
  SystemClock,
  type Transport,
  type TransportHandler,
} from "@lectern/raft-core";

// A replicated counter: every node applies the same committed commands in the same order.
class Counter implements StateMachine<number> {
  value = 0;
  private applied = 0;
  apply(entries: readonly Entry[]): number[] {
    return entries.map((e) => {
      if (e.type === "normal") this.value += e.data[0];
      this.applied = e.index;
      return this.value;
    });
  }
  appliedIndex(): number {
    return this.applied;
  }
}

// Three nodes in one process; a real deployment puts a network transport here (the LMS uses gRPC).
const handlers = new Map<string, TransportHandler>();
const transport = (id: string): Transport => ({
  start: (handler) => void handlers.set(id, handler),
  send: (m: Message) => void queueMicrotask(() => handlers.get(m.to)?.onMessage(m)),
  stop: async () => void handlers.delete(id),
});

const ids = ["a", "b", "c"];
const nodes = ids.map((id) => {
  const counter = new Counter();
  const server = new RaftServer<number>({
    id,
    clusterId: "quickstart",
    voters: ids,
    clock: new SystemClock(),
    random: new CryptoRandom(),
    storage: new MemoryStorage(),
    transport: transport(id),
    stateMachine: counter,
  });
  return { server, counter };
});
await Promise.all(nodes.map((n) => n.server.start()));

// Any node accepts proposals: followers forward them to the leader. The promise resolves with the
// state machine's result once the entry is committed and applied. Until the first election ends
// there is no leader: NOT_LEADER means "not applied", so retrying is safe.
async function proposeWithRetry(command: Uint8Array): Promise<number> {
  for (;;) {
    try {
      return await nodes[1].server.propose(command, { timeoutMs: 5_000 });
    } catch (error) {
      if (!isRaftError(error, "NOT_LEADER")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
const result = await proposeWithRetry(new Uint8Array([5]));
await nodes[2].server.read(); // a linearizable barrier: node c has applied everything committed before it
console.log(`result ${result}, node c sees ${nodes[2].counter.value}, leader ${nodes[0].server.status().leader}`);
await Promise.all(nodes.map((n) => n.server.stop()));
