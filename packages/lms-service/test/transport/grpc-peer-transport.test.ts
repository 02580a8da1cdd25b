import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { status } from "@grpc/grpc-js";
import type { Message } from "@lectern/raft-core";
import { afterEach, describe, expect, test } from "vitest";
import { GrpcPeerTransport } from "../../src/transport/grpc-peer-transport.js";
import { handshakeMaxStreams, peerMaxMessageBytes } from "../../src/transport/limits.js";
import { encodeHelloFrame, encodeMessageFrame } from "../../src/transport/peer-codec.js";
import {
  type AddressBook,
  clusterId,
  eventually,
  helloFor,
  rawDial,
  secret,
  sleep,
  startImpostor,
  startNode,
  type TestNode,
} from "./harness.js";
import { sampleMessages } from "./sample-messages.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node(...args: Parameters<typeof startNode>): Promise<TestNode> {
  const started = await startNode(...args);
  cleanups.push(() => started.stop());
  return started;
}

const heartbeat = (from: string, to: string, round: number): Message => ({
  type: "heartbeat",
  from,
  to,
  clusterId,
  term: 1,
  commit: 0,
  round,
});

describe("GrpcPeerTransport: delivery", () => {
  test("two nodes exchange a message of every type, both ways, intact", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    const n2 = await node("n2", book);
    const toN2 = sampleMessages("n1", "n2", clusterId);
    const toN1 = sampleMessages("n2", "n1", clusterId);
    for (const m of toN2) n1.transport.send(m);
    for (const m of toN1) n2.transport.send(m);
    await eventually(
      "every message arrived",
      () => n2.received.length === toN2.length && n1.received.length === toN1.length,
    );
    // One stream carries everything in order, so arrival order is send order.
    expect(n2.received).toStrictEqual(toN2);
    expect(n1.received).toStrictEqual(toN1);
    expect(n1.unreachable).toEqual([]);
  });

  test("three nodes: each pair keeps exactly one stream and every message arrives", async () => {
    const book: AddressBook = new Map();
    const nodes = [await node("n1", book), await node("n2", book), await node("n3", book)];
    for (const from of nodes) {
      for (const to of nodes) {
        if (from !== to) for (const m of sampleMessages(from.id, to.id, clusterId)) from.transport.send(m);
      }
    }
    const perPair = sampleMessages("a", "b", "c").length;
    await eventually("all messages arrived", () => nodes.every((n) => n.received.length >= 2 * perPair));
    for (const receiver of nodes) {
      for (const sender of nodes) {
        if (sender === receiver) continue;
        const fromSender = receiver.received.filter((m) => m.from === sender.id);
        expect(new Set(fromSender.map((m) => m.type)).size, `${sender.id} -> ${receiver.id}`).toBe(perPair);
      }
    }
    await sleep(100);
    for (const n of nodes) {
      const peers = n.transport.status().peers;
      expect(peers.map((p) => p.id).sort()).toEqual(nodes.filter((o) => o !== n).map((o) => o.id));
      expect(peers.every((p) => p.connected)).toBe(true);
    }
    await eventually("two open streams per node", () => nodes.every((n) => n.transport.status().openStreams === 2));
  });

  test("simultaneous dials settle on the stream dialed by the lower id, on both sides", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    const n2 = await node("n2", book);
    // Both send before any I/O happens, so both dial.
    n1.transport.send(heartbeat("n1", "n2", 1));
    n2.transport.send(heartbeat("n2", "n1", 1));
    await eventually("both connected", () => n1.transport.isConnected("n2") && n2.transport.isConnected("n1"));
    await sleep(200);
    // Both dials were authenticated, so each side saw a second stream and retired one.
    expect(n1.transport.status().counters.duplicateStreams).toBe(1);
    expect(n2.transport.status().counters.duplicateStreams).toBe(1);
    expect(n1.transport.status().peers[0].direction).toBe("outbound");
    // The retired stream drained and closed on both sides: nothing leaks.
    await eventually(
      "one open stream per side",
      () => n1.transport.status().openStreams === 1 && n2.transport.status().openStreams === 1,
    );
    expect(n2.transport.status().peers[0].direction).toBe("inbound");
    // The kept stream carries traffic both ways without loss.
    n1.received.length = 0;
    n2.received.length = 0;
    for (let round = 2; round < 12; round++) {
      n1.transport.send(heartbeat("n1", "n2", round));
      n2.transport.send(heartbeat("n2", "n1", round));
    }
    await eventually("ten each way", () => n1.received.length === 10 && n2.received.length === 10);
    expect(n1.transport.isConnected("n2")).toBe(true);
  });

  test("a restarted peer is reconnected with backoff and receives again", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    let n2 = await node("n2", book);
    n1.transport.send(heartbeat("n1", "n2", 1));
    await eventually("first heartbeat", () => n2.received.length === 1);
    const port = n2.port;
    await n2.stop();
    await eventually("n1 saw n2 go", () => n1.unreachable.includes("n2"));
    expect(n1.transport.isConnected("n2")).toBe(false);
    // While n2 is down, sends are queued or dropped but never throw.
    for (let i = 0; i < 5; i++) n1.transport.send(heartbeat("n1", "n2", 100 + i));
    n2 = await node("n2", book, { port });
    let round = 200;
    const ticker = setInterval(() => n1.transport.send(heartbeat("n1", "n2", round++)), 20);
    try {
      await eventually("n2 hears n1 again", () => n2.received.length > 0, 5_000);
    } finally {
      clearInterval(ticker);
    }
    expect(n1.transport.isConnected("n2")).toBe(true);
    expect(n2.received.every((m) => m.from === "n1" && m.type === "heartbeat")).toBe(true);
  });

  test("a kept peer is connected with nothing to send, and reconnected after a restart", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    let n2 = await node("n2", book);
    const n3 = await node("n3", book);
    n1.transport.keepConnected(["n1", "n2"]);
    await eventually("n1 connected to n2 without a message", () => n1.transport.isConnected("n2"));
    // Not kept and never sent to: not dialed.
    expect(n1.transport.isConnected("n3")).toBe(false);
    expect(n3.transport.isConnected("n1")).toBe(false);
    const port = n2.port;
    await n2.stop();
    await eventually("n1 saw n2 go", () => !n1.transport.isConnected("n2"));
    n2 = await node("n2", book, { port });
    await eventually("n1 redialed the kept peer by itself", () => n1.transport.isConnected("n2"), 5_000);
    expect(n2.received).toEqual([]);
  });

  test("a peer that moved is dialed at the address the resolver gives now", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    let n2 = await node("n2", book);
    n1.transport.send(heartbeat("n1", "n2", 1));
    await eventually("first heartbeat", () => n2.received.length === 1);
    await n2.stop();
    n2 = await node("n2", book); // a new ephemeral port, recorded in the address book
    let round = 2;
    const ticker = setInterval(() => n1.transport.send(heartbeat("n1", "n2", round++)), 20);
    try {
      await eventually("n2 hears n1 at its new address", () => n2.received.length > 0, 5_000);
    } finally {
      clearInterval(ticker);
    }
  });
});

describe("GrpcPeerTransport: admission (nothing is delivered from a refused peer)", () => {
  async function refusedDial(
    dialerOptions: Parameters<typeof startNode>[2],
    dialerId = "n3",
    acceptorMembers: readonly string[] = ["n1", "n2", "n3"],
  ): Promise<{ n1: TestNode; dialer: TestNode }> {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book, { members: acceptorMembers });
    const dialer = await node(dialerId, book, dialerOptions);
    for (let round = 0; round < 3; round++) dialer.transport.send(heartbeat(dialerId, "n1", round));
    await eventually("the dialer gave up on n1", () => dialer.unreachable.includes("n1"));
    await sleep(50);
    expect(n1.received).toEqual([]);
    expect(n1.transport.isConnected(dialerId)).toBe(false);
    expect(dialer.transport.isConnected("n1")).toBe(false);
    return { n1, dialer };
  }

  test("a wrong cluster secret is refused as a bad credential", async () => {
    const { n1 } = await refusedDial({ clusterSecret: "not-the-cluster-secret" });
    expect(n1.transport.status().refusals.credential).toBeGreaterThanOrEqual(1);
  });

  test("an id outside the current and pending configuration is refused", async () => {
    const { n1 } = await refusedDial({}, "n9");
    expect(n1.transport.status().refusals["not-member"]).toBeGreaterThanOrEqual(1);
  });

  test("a wrong cluster id is refused (safety rule 10)", async () => {
    const { n1 } = await refusedDial({ clusterId: "another-cluster" });
    expect(n1.transport.status().refusals["cluster-id"]).toBeGreaterThanOrEqual(1);
  });

  test("a stale hello timestamp is refused", async () => {
    const { n1 } = await refusedDial({ wallClockMs: () => Date.now() - 10 * 60_000 });
    expect(n1.transport.status().refusals.stale).toBeGreaterThanOrEqual(1);
  });

  test("a node that joins the pending configuration is admitted on its next dial", async () => {
    const book: AddressBook = new Map();
    const members = ["n1", "n2"];
    const n1 = await node("n1", book, { members });
    const n3 = await node("n3", book);
    n3.transport.send(heartbeat("n3", "n1", 1));
    await eventually("n3 refused", () => (n1.transport.status().refusals["not-member"] ?? 0) >= 1);
    expect(n1.received).toEqual([]);
    members.push("n3"); // the configuration change that adds n3 reached n1
    let round = 2;
    const ticker = setInterval(() => n3.transport.send(heartbeat("n3", "n1", round++)), 20);
    try {
      await eventually("n1 hears n3", () => n1.received.length > 0, 5_000);
    } finally {
      clearInterval(ticker);
    }
    expect(n1.received[0].from).toBe("n3");
  });

  test("a stream that never says hello is closed after the hello timeout", async () => {
    const book: AddressBook = new Map();
    await node("n1", book, { helloTimeoutMs: 100 });
    const call = rawDial(book.get("n1") as string);
    const closed = await call.status;
    expect(closed.code).toBe(status.DEADLINE_EXCEEDED);
    expect(closed.details).toMatch(/no hello within 100 ms/);
  });

  test("a replayed hello is refused with a reason the dialer can read", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    book.set("n2", "127.0.0.1:1");
    const hello = encodeHelloFrame(helloFor("n2", "n1"));
    const first = rawDial(book.get("n1") as string);
    cleanups.push(() => first.close());
    first.write(hello);
    await first.answered();
    const replay = rawDial(book.get("n1") as string);
    replay.write(hello);
    const refused = await replay.status;
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.details).toMatch(/already used/);
    expect(n1.transport.status().refusals.replay).toBe(1);
  });

  test("a hello meant for another node is refused", async () => {
    const book: AddressBook = new Map();
    await node("n1", book);
    book.set("n2", "127.0.0.1:1");
    const call = rawDial(book.get("n1") as string);
    call.write(encodeHelloFrame(helloFor("n2", "n3")));
    const refused = await call.status;
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/this is node "n1", not "n3"/);
  });

  test("a first frame that is not a hello closes the stream with INVALID_ARGUMENT", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    const call = rawDial(book.get("n1") as string);
    call.write(encodeMessageFrame(heartbeat("n2", "n1", 1)));
    const refused = await call.status;
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toMatch(/first frame must be a hello/);
    expect(n1.received).toEqual([]);
  });

  test("strangers that never say hello cannot hold more than the handshake limit", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    // Calls that open (headers only) and then say nothing.
    const silent = Array.from({ length: handshakeMaxStreams }, () => rawDial(book.get("n1") as string));
    for (const call of silent) cleanups.push(() => call.close());
    await sleep(200);
    const extra = rawDial(book.get("n1") as string);
    const refused = await extra.status;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/handshakes are already in progress/);
    expect(n1.transport.status().refusals.busy).toBe(1);
    expect(n1.transport.status().openStreams).toBe(handshakeMaxStreams);
  });

  test("a dialer sends nothing to a node that cannot prove the cluster secret", async () => {
    const impostor = await startImpostor((dialer) =>
      helloFor("n2", "n1", { echoNonce: dialer.nonce }, "the-impostor-does-not-know-the-secret"),
    );
    cleanups.push(() => impostor.stop());
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    book.set("n2", impostor.address);
    n1.transport.send(heartbeat("n1", "n2", 1));
    await eventually("n1 refused the answer", () => (n1.transport.status().refusals.credential ?? 0) >= 1);
    await sleep(50);
    expect(impostor.framesAfterHello).toEqual([]);
    expect(n1.unreachable).toContain("n2");
  });

  test("a dialer refuses an answer that does not echo its nonce or comes from another id", async () => {
    const noEcho = await startImpostor(() => helloFor("n2", "n1"));
    const otherId = await startImpostor((dialer) => helloFor("n4", "n1", { echoNonce: dialer.nonce }));
    cleanups.push(
      () => noEcho.stop(),
      () => otherId.stop(),
    );
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    book.set("n2", noEcho.address);
    book.set("n4x", otherId.address);
    n1.transport.send(heartbeat("n1", "n2", 1));
    n1.transport.send(heartbeat("n1", "n4x", 1));
    await eventually("both answers refused", () => {
      const refusals = n1.transport.status().refusals;
      return (refusals.echo ?? 0) >= 1 && (refusals.sender ?? 0) >= 1;
    });
    expect(noEcho.framesAfterHello).toEqual([]);
    expect(otherId.framesAfterHello).toEqual([]);
  });
});

describe("GrpcPeerTransport: bad frames on an authenticated stream", () => {
  test("malformed frames are dropped and counted, and the stream keeps delivering", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    book.set("n2", "127.0.0.1:1");
    const call = rawDial(book.get("n1") as string);
    cleanups.push(() => call.close());
    call.write(encodeHelloFrame(helloFor("n2", "n1")));
    await call.answered();

    const unsafeTerm = new BinaryWriter();
    unsafeTerm.tag(1, WireType.LengthDelimited).string("n2");
    unsafeTerm.tag(2, WireType.LengthDelimited).string("n1");
    unsafeTerm
      .tag(15, WireType.LengthDelimited)
      .fork()
      .tag(1, WireType.Varint)
      .uint64(2n ** 53n)
      .join();

    call.write(new Uint8Array([0xff, 0xff, 0xff])); // not protobuf
    call.write(unsafeTerm.finish()); // term above 2^53 - 1
    call.write(encodeHelloFrame(helloFor("n2", "n1"))); // a second hello
    call.write(encodeMessageFrame(heartbeat("n3", "n1", 1))); // from someone else than the stream's peer
    call.write(encodeMessageFrame({ ...heartbeat("n2", "n1", 2), clusterId: "other" })); // wrong cluster
    call.write(encodeMessageFrame(heartbeat("n2", "n1", 3))); // fine
    await eventually("the good frame arrived", () => n1.received.length === 1);
    expect(n1.received).toStrictEqual([heartbeat("n2", "n1", 3)]);
    const counters = n1.transport.status().counters;
    expect(counters.malformedFrames).toBe(3);
    expect(counters.misaddressedFrames).toBe(2);

    call.write(encodeMessageFrame(heartbeat("n2", "n1", 4)));
    await eventually("the stream still delivers", () => n1.received.length === 2);
    const ended = await Promise.race([call.status.then(() => true), sleep(50).then(() => false)]);
    expect(ended).toBe(false);
  });

  test("a frame above the size limit ends the stream with RESOURCE_EXHAUSTED and is not delivered", async () => {
    const book: AddressBook = new Map();
    const n1 = await node("n1", book);
    book.set("n2", "127.0.0.1:1");
    const call = rawDial(book.get("n1") as string, 2 * peerMaxMessageBytes);
    call.write(encodeHelloFrame(helloFor("n2", "n1")));
    await call.answered();
    const huge: Message = {
      type: "app",
      from: "n2",
      to: "n1",
      clusterId,
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      leaderCommit: 0,
      entries: [{ index: 1, term: 1, type: "normal", data: new Uint8Array(peerMaxMessageBytes + 1) }],
    };
    call.write(encodeMessageFrame(huge));
    const ended = await call.status;
    expect(ended.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(n1.received).toEqual([]);
  });
});

describe("GrpcPeerTransport: send never throws or blocks", () => {
  test("before start, after stop, to itself, oversized, unencodable: dropped and counted", async () => {
    const book: AddressBook = new Map();
    const transport = new GrpcPeerTransport({
      id: "n1",
      clusterId,
      clusterSecret: secret,
      isMember: () => true,
      resolveAddress: (id) => book.get(id),
    });
    transport.send(heartbeat("n1", "n2", 1));
    expect(transport.status().counters.droppedNotRunning).toBe(1);
    transport.start({ onMessage: () => {} });
    transport.send(heartbeat("n1", "n1", 1));
    transport.send({ ...heartbeat("n1", "n2", 1), term: Number.NaN });
    transport.send({
      type: "snapChunk",
      from: "n1",
      to: "n2",
      clusterId,
      term: 1,
      meta: { index: 1, term: 1, config: { voters: ["n1"], outgoing: [], learners: [] } },
      offset: 0,
      data: new Uint8Array(peerMaxMessageBytes),
      last: true,
      checksum: 0,
    });
    transport.send(null as unknown as Message);
    expect(transport.status().counters.droppedUnencodable).toBe(4);
    await transport.stop();
    transport.send(heartbeat("n1", "n2", 2));
    expect(transport.status().counters.droppedNotRunning).toBe(2);
  });

  test("an address gRPC cannot parse is a failed dial, not an exception", async () => {
    const transport = new GrpcPeerTransport({
      id: "n1",
      clusterId,
      clusterSecret: secret,
      isMember: () => true,
      resolveAddress: () => "dns:///%%%:not-a-port",
    });
    const unreachable: string[] = [];
    transport.start({ onMessage: () => {}, onUnreachable: (p) => unreachable.push(p) });
    cleanups.push(() => transport.stop());
    expect(() => transport.send(heartbeat("n1", "n2", 1))).not.toThrow();
    await eventually("n2 reported unreachable", () => unreachable.includes("n2"));
  });

  test("a full queue drops and counts instead of growing, and an unknown address is retried with backoff", async () => {
    const transport = new GrpcPeerTransport({
      id: "n1",
      clusterId,
      clusterSecret: secret,
      isMember: () => true,
      resolveAddress: () => undefined,
      queueMaxFrames: 8,
    });
    const unreachable: string[] = [];
    transport.start({ onMessage: () => {}, onUnreachable: (p) => unreachable.push(p) });
    cleanups.push(() => transport.stop());
    const started = performance.now();
    for (let round = 0; round < 1000; round++) transport.send(heartbeat("n1", "n2", round));
    expect(performance.now() - started).toBeLessThan(500);
    const status = transport.status();
    expect(status.counters.droppedQueueFull).toBe(992);
    expect(status.peers[0]).toMatchObject({ id: "n2", connected: false, queuedFrames: 8, droppedFrames: 992 });
    await eventually("a few backoff rounds", () => transport.status().counters.unresolvedPeers >= 3, 3_000);
  });
});
