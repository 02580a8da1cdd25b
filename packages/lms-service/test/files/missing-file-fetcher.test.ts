import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, test } from "vitest";
import { MissingFileFetcher } from "../../src/files/missing-file-fetcher.js";
import type { PeerFileSource } from "../../src/files/peer-file-client.js";
import { FileStore } from "../../src/store/file-store.js";
import { Cleanup } from "../domain/harness.js";
import { MemoryLogger } from "../node/cluster-harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const content = new TextEncoder().encode("the submitted essay, all of it");
const sha = createHash("sha256").update(content).digest("hex");
const other = new TextEncoder().encode("another file");
const otherSha = createHash("sha256").update(other).digest("hex");

const peer = (id: string): PeerFileSource => ({ id, address: `${id}.invalid:7000` });

/** What each fake peer does when asked for a file. */
type Behaviour = "good" | "wrong-bytes" | "unavailable" | "not-found" | "truncated";

async function* serve(behaviour: Behaviour, sha256: string): AsyncGenerator<Uint8Array> {
  const bytes = sha256 === sha ? content : other;
  switch (behaviour) {
    case "good":
      yield bytes.subarray(0, 5);
      yield bytes.subarray(5);
      return;
    case "wrong-bytes":
      yield new TextEncoder().encode("a forged file with another hash");
      return;
    case "truncated":
      yield bytes.subarray(0, 5);
      throw Object.assign(new Error("14 UNAVAILABLE: connection reset"), { code: 14 });
    case "unavailable":
      throw Object.assign(new Error("14 UNAVAILABLE: No connection established"), { code: 14 });
    case "not-found":
      throw Object.assign(new Error("5 NOT_FOUND: does not hold the file either"), { code: 5 });
  }
}

async function setup(behaviours: Record<string, Behaviour>, missing: string[] = [sha]) {
  const files = await FileStore.open(await cleanup.tempDir());
  const logger = new MemoryLogger("n3");
  const asked: string[] = [];
  const fetcher = new MissingFileFetcher({
    files,
    listMissing: async () => {
      const left: string[] = [];
      for (const hash of missing) if (!(await files.has(hash))) left.push(hash);
      return left;
    },
    peers: () => Object.keys(behaviours).map(peer),
    fetch: (from, sha256) => {
      asked.push(`${from.id}:${sha256 === sha ? "sha" : "other"}`);
      return serve(behaviours[from.id], sha256);
    },
    logger,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
  });
  cleanup.later(() => fetcher.stop());
  return { files, logger, fetcher, asked, behaviours };
}

describe("MissingFileFetcher", () => {
  test("refuses a peer's bytes whose SHA-256 is not the hash, stores nothing from it, and asks the next peer", async () => {
    const { files, fetcher, logger, asked } = await setup({ n1: "wrong-bytes", n2: "good" });
    const result = await fetcher.fetchMissing();
    expect(result).toEqual({ fetched: [sha], failed: [] });
    expect(asked).toEqual(["n1:sha", "n2:sha"]);
    expect(await readFile(files.pathOf(sha))).toEqual(Buffer.from(content));
    expect(await files.list()).toEqual([sha]);
    const refusal = logger.lines.find((line) => line.includes("does not match its hash"));
    expect(refusal).toContain('"peer":"n1"');
  });

  test("a hash mismatch from every peer stores nothing and reports the file as still missing", async () => {
    const { files, fetcher } = await setup({ n1: "wrong-bytes", n2: "wrong-bytes" });
    expect(await fetcher.fetchMissing()).toEqual({ fetched: [], failed: [sha] });
    expect(await files.has(sha)).toBe(false);
    expect(await files.list()).toEqual([]);
  });

  test("fails over past an unreachable peer, one cut off mid-file and one without the file", async () => {
    const { files, fetcher, asked, logger } = await setup({
      n1: "unavailable",
      n2: "truncated",
      n4: "not-found",
      n5: "good",
    });
    expect(await fetcher.fetchMissing()).toEqual({ fetched: [sha], failed: [] });
    expect(asked).toEqual(["n1:sha", "n2:sha", "n4:sha", "n5:sha"]);
    expect(await readFile(files.pathOf(sha))).toEqual(Buffer.from(content));
    expect(logger.lines.filter((line) => line.includes("trying another"))).toHaveLength(3);
    expect(logger.lines.some((line) => line.includes("copied a missing file") && line.includes('"peer":"n5"'))).toBe(
      true,
    );
  });

  test("starts each file at a different peer, spreading the copying", async () => {
    const { fetcher, asked } = await setup({ n1: "good", n2: "good" }, [sha, otherSha]);
    expect((await fetcher.fetchMissing()).fetched).toHaveLength(2);
    expect(asked).toEqual(["n1:sha", "n2:other"]);
  });

  test("retries with backoff until a peer can supply the file, then goes idle", async () => {
    const { files, fetcher, behaviours, logger } = await setup({ n1: "unavailable", n2: "not-found" });
    fetcher.request("snapshot restored");
    // Let a few passes fail, then make a peer able to supply the file.
    while (logger.lines.filter((line) => line.includes("retrying")).length < 3) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await files.has(sha)).toBe(false);
    behaviours.n2 = "good";
    await fetcher.idle();
    expect(await files.has(sha)).toBe(true);
    const retries = logger.lines.filter((line) => line.includes("retrying")).map((line) => JSON.parse(line).retryInMs);
    // Jittered exponential: each wait within [ceiling/2, ceiling], ceilings 5, 10, 20, 20...
    expect(retries[0]).toBeGreaterThanOrEqual(2);
    expect(Math.max(...retries)).toBeLessThanOrEqual(20);
  });

  test("with nothing missing a request lists once and stops; stop ends a backoff wait", async () => {
    const quiet = await setup({ n1: "good" }, []);
    quiet.fetcher.request("node start");
    await quiet.fetcher.idle();
    expect(quiet.asked).toEqual([]);

    const stuck = await setup({ n1: "unavailable" });
    const slow = new MissingFileFetcher({
      files: stuck.files,
      listMissing: async () => [sha],
      peers: () => [peer("n1")],
      fetch: (_from, sha256) => serve("unavailable", sha256),
      initialBackoffMs: 60_000,
      maxBackoffMs: 60_000,
    });
    slow.request("node start");
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await slow.stop();
    expect(Date.now() - started).toBeLessThan(5_000);
    slow.request("after stop");
    await slow.idle();
    expect(await stuck.files.has(sha)).toBe(false);
  });

  test("no peer at all: the file stays missing and the pass says so", async () => {
    const { fetcher, logger } = await setup({});
    expect(await fetcher.fetchMissing()).toEqual({ fetched: [], failed: [sha] });
    expect(logger.lines.some((line) => line.includes("no peer to copy"))).toBe(true);
  });
});
