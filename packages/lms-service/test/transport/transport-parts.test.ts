import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { Backoff } from "../../src/transport/backoff.js";
import { checkHello, type HelloExpectations, peerProtocolVersion } from "../../src/transport/hello-check.js";
import { NonceCache } from "../../src/transport/nonce-cache.js";
import { OutgoingQueue } from "../../src/transport/outgoing-queue.js";
import {
  helloCredential,
  helloCredentialValid,
  signHello,
  type UnsignedHello,
} from "../../src/transport/peer-credential.js";

const secret = "s3cret-shared-by-the-cluster";
const nowMs = 1_700_000_000_000;
const unsigned: UnsignedHello = {
  protocolVersion: peerProtocolVersion,
  clusterId: "c1",
  senderId: "n1",
  receiverId: "n2",
  timestampMs: nowMs,
  nonce: new Uint8Array(16).fill(7),
  echoNonce: new Uint8Array(),
};

describe("Backoff", () => {
  test("delays double from the initial value up to the bound, each jittered into [d/2, d]", () => {
    const low = new Backoff(25, 1000, () => 0);
    const high = new Backoff(25, 1000, () => 0.999999);
    const lows = Array.from({ length: 8 }, () => low.next());
    const highs = Array.from({ length: 8 }, () => high.next());
    expect(lows).toEqual([13, 25, 50, 100, 200, 400, 500, 500]);
    expect(highs).toEqual([25, 50, 100, 200, 400, 800, 1000, 1000]);
  });

  test("property: never zero, never above the bound, however many attempts", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.nat(200),
        (initial, extra, n) => {
          const b = new Backoff(initial, initial + extra);
          for (let i = 0; i < n; i++) {
            const d = b.next();
            expect(d).toBeGreaterThan(0);
            expect(d).toBeLessThanOrEqual(initial + extra);
          }
        },
      ),
    );
  });

  test("reset returns to the initial delay", () => {
    const b = new Backoff(10, 1000, () => 0.999999);
    for (let i = 0; i < 6; i++) b.next();
    b.reset();
    expect(b.next()).toBe(10);
  });

  test("refuses bounds that cannot work", () => {
    expect(() => new Backoff(0, 10)).toThrow(/0 < initialMs <= maxMs/);
    expect(() => new Backoff(20, 10)).toThrow(/0 < initialMs <= maxMs/);
  });
});

describe("OutgoingQueue", () => {
  test("keeps order and refuses pushes past the frame bound", () => {
    const q = new OutgoingQueue(3, 1000);
    for (const v of [1, 2, 3]) expect(q.push(new Uint8Array([v]))).toBe(true);
    expect(q.push(new Uint8Array([4]))).toBe(false);
    expect(q.length).toBe(3);
    expect([q.shift()?.[0], q.shift()?.[0], q.shift()?.[0], q.shift()]).toEqual([1, 2, 3, undefined]);
    expect(q.bytes).toBe(0);
  });

  test("refuses a push past the byte bound and tracks bytes exactly", () => {
    const q = new OutgoingQueue(100, 10);
    expect(q.push(new Uint8Array(6))).toBe(true);
    expect(q.push(new Uint8Array(5))).toBe(false);
    expect(q.push(new Uint8Array(4))).toBe(true);
    expect(q.bytes).toBe(10);
    expect(q.clear()).toBe(2);
    expect(q.bytes).toBe(0);
    expect(q.length).toBe(0);
  });

  test("property: behaves like an array FIFO within its bounds", () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.nat(40), { nil: undefined }), { maxLength: 3000 }), (ops) => {
        const q = new OutgoingQueue(50, 400);
        const model: Uint8Array[] = [];
        let modelBytes = 0;
        for (const op of ops) {
          if (op === undefined) {
            expect(q.shift()).toBe(model.shift());
            modelBytes = model.reduce((n, f) => n + f.byteLength, 0);
          } else {
            const frame = new Uint8Array(op);
            const fits = model.length < 50 && modelBytes + op <= 400;
            expect(q.push(frame)).toBe(fits);
            if (fits) {
              model.push(frame);
              modelBytes += op;
            }
          }
          expect(q.length).toBe(model.length);
          expect(q.bytes).toBe(modelBytes);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("NonceCache", () => {
  test("refuses a nonce seen within the window and accepts it once expired", () => {
    const cache = new NonceCache(1000, 10);
    const nonce = new Uint8Array([1, 2, 3]);
    expect(cache.remember(nonce, 0)).toBe(true);
    expect(cache.remember(nonce, 999)).toBe(false);
    expect(cache.remember(nonce, 1000)).toBe(true);
  });

  test("stays within its size bound", () => {
    const cache = new NonceCache(1_000_000, 4);
    for (let i = 0; i < 20; i++) expect(cache.remember(new Uint8Array([i]), i)).toBe(true);
    expect(cache.size).toBe(4);
    // The newest are remembered, the oldest forgotten.
    expect(cache.remember(new Uint8Array([19]), 21)).toBe(false);
    expect(cache.remember(new Uint8Array([0]), 21)).toBe(true);
  });
});

describe("hello credential", () => {
  test("verifies the hello it signed", () => {
    expect(helloCredentialValid(secret, signHello(secret, unsigned))).toBe(true);
  });

  test("a different secret does not verify", () => {
    expect(helloCredentialValid("another-secret", signHello(secret, unsigned))).toBe(false);
  });

  test.each([
    ["protocolVersion", { protocolVersion: 2 }],
    ["clusterId", { clusterId: "c2" }],
    ["senderId", { senderId: "n3" }],
    ["receiverId", { receiverId: "n3" }],
    ["timestampMs", { timestampMs: nowMs + 1 }],
    ["nonce", { nonce: new Uint8Array(16).fill(8) }],
    ["echoNonce", { echoNonce: new Uint8Array(16).fill(1) }],
  ])("changing %s invalidates the credential", (_, change) => {
    const signed = signHello(secret, unsigned);
    expect(helloCredentialValid(secret, { ...signed, ...change })).toBe(false);
  });

  test("length prefixes keep field boundaries: sender 'n1'+cluster 'c' differs from sender 'n'+cluster '1c'", () => {
    const a = helloCredential(secret, { ...unsigned, clusterId: "1c", senderId: "n" });
    const b = helloCredential(secret, { ...unsigned, clusterId: "c", senderId: "n1" });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });
});

describe("checkHello", () => {
  const expectations = (overrides: Partial<HelloExpectations> = {}): HelloExpectations => ({
    selfId: "n2",
    clusterId: "c1",
    clusterSecret: secret,
    nowMs,
    maxClockSkewMs: 30_000,
    isMember: (id) => id === "n1",
    nonces: new NonceCache(60_000, 100),
    ...overrides,
  });

  test("accepts a fresh, signed hello from a member meant for this node", () => {
    expect(checkHello(signHello(secret, unsigned), expectations())).toBeUndefined();
  });

  test.each([
    ["protocol-version", status.FAILED_PRECONDITION, signHello(secret, { ...unsigned, protocolVersion: 9 }), {}],
    ["credential", status.UNAUTHENTICATED, signHello("wrong", unsigned), {}],
    ["cluster-id", status.FAILED_PRECONDITION, signHello(secret, { ...unsigned, clusterId: "c2" }), {}],
    ["receiver", status.FAILED_PRECONDITION, signHello(secret, { ...unsigned, receiverId: "n3" }), {}],
    ["stale", status.UNAUTHENTICATED, signHello(secret, { ...unsigned, timestampMs: nowMs - 30_001 }), {}],
    ["stale", status.UNAUTHENTICATED, signHello(secret, { ...unsigned, timestampMs: nowMs + 30_001 }), {}],
    ["not-member", status.PERMISSION_DENIED, signHello(secret, { ...unsigned, senderId: "n9" }), {}],
    ["sender", status.FAILED_PRECONDITION, signHello(secret, unsigned), { expectedSender: "n3" }],
    ["echo", status.UNAUTHENTICATED, signHello(secret, unsigned), { expectedEcho: new Uint8Array(16) }],
  ] as const)("refuses with %s (%i)", (reason, code, hello, overrides) => {
    const refusal = checkHello(hello, expectations(overrides));
    expect(refusal?.reason).toBe(reason);
    expect(refusal?.code).toBe(code);
    expect(refusal?.message.length).toBeGreaterThan(10);
  });

  test("a replayed hello is refused the second time", () => {
    const expect2 = expectations();
    const hello = signHello(secret, unsigned);
    expect(checkHello(hello, expect2)).toBeUndefined();
    expect(checkHello(hello, expect2)?.reason).toBe("replay");
  });

  test("a refused hello does not use up its nonce (only accepted hellos are remembered)", () => {
    const nonces = new NonceCache(60_000, 100);
    const hello = signHello(secret, unsigned);
    expect(checkHello(hello, expectations({ nonces, isMember: () => false }))?.reason).toBe("not-member");
    expect(checkHello(hello, expectations({ nonces }))).toBeUndefined();
  });

  test("without the secret a caller learns only that its credential is wrong", () => {
    const forged = signHello("guess", { ...unsigned, clusterId: "other", receiverId: "n7", senderId: "n9" });
    expect(checkHello(forged, expectations())?.reason).toBe("credential");
  });
});
