// Issue 3's snapshot benchmark: a ~100 MB state machine on a 3-node cluster of real RaftServers
// over synced LevelStorage. Times (1) creating a snapshot (state machine stream -> saveSnapshot,
// durable, log compacted), (2) transferring it in-process to a node started empty after the
// compaction (until it has installed it) and (3) restoring it into that node's state machine;
// and samples RSS against the snapshot's size: streaming must keep memory bounded.
//
// Written against the STREAMING seams (Storage.saveSnapshot(meta, SnapshotChunks, compactTo),
// stageSnapshot / installSnapshot / openSnapshot; StateMachine.snapshot() -> chunks,
// restore(meta, AsyncIterable)). It skips, saying why, when the built package lacks them.
//
// Run alone: node --expose-gc bench/snapshot-size.mjs [--quick] [--mib N]
// By default it runs in a child process, so the kernel's peak RSS (maxRSS) is this bench's alone.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { CryptoRandom, RaftServer, SystemClock } from "../dist/index.js";
import { LevelStorage } from "../dist/level.js";
import { InProcessNetwork } from "./in-process-network.mjs";
import { round } from "./stats.mjs";

const MIB = 1024 * 1024;
/** The state machine's snapshot is streamed in pieces of this size. */
const STATE_CHUNK_BYTES = MIB;
const HEADER_BYTES = 16;
const TRAILER_BYTES = 4;
const SNAPSHOT_MAGIC = 0x53424c42; // "BLBS"
/** Small commands proposed before the snapshot (the leader snapshots after this many applied entries). */
const ENTRIES_BEFORE_SNAPSHOT = 1_000;
const PROPOSERS = 64;
const RSS_SAMPLE_MS = 10;
/** Every wait gives up after this long: the bench reports a stall instead of hanging. */
const PHASE_TIMEOUT_MS = 180_000;
const POLL_MS = 2;
const NODE_IDS = ["n1", "n2", "n3"];
const CLUSTER_ID = "bench-snapshot";
const SNAPSHOT_STORAGE_METHODS = ["saveSnapshot", "stageSnapshot", "installSnapshot", "openSnapshot"];

/**
 * A synthetic state machine that behaves as if it held `stateBytes` of data without keeping them
 * in memory: its state is a counter, and its snapshot is `stateBytes` of pseudo-random bytes
 * derived from the counter (incompressible, so no storage layer can shrink them), generated one
 * piece at a time. `restore` consumes the stream piece by piece, checks the header, the length
 * and a CRC-32 trailer over everything, and records when it started and finished.
 *
 * Layout: header (magic, count, bytes low, bytes high: 4 x u32 LE), body, CRC-32 of header+body (u32 LE).
 */
export class SyntheticBlobStateMachine {
  applied = 0;
  count = 0;
  /** Timing of the last restore (performance.now()). */
  restoreStartedAtMs = undefined;
  restoreEndedAtMs = undefined;
  snapshotCalledAtMs = undefined;
  snapshotIndex = 0;

  constructor(stateBytes) {
    this.stateBytes = stateBytes;
  }

  apply(entries) {
    const out = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].type === "normal") this.count++;
      out[i] = this.count;
    }
    this.applied = entries[entries.length - 1].index;
    return out;
  }

  appliedIndex() {
    return this.applied;
  }

  snapshot() {
    this.snapshotCalledAtMs = performance.now();
    this.snapshotIndex = this.applied;
    // Captured now: later applies must not change what the stream yields.
    return syntheticSnapshotChunks(this.count, this.stateBytes);
  }

  async restore(meta, data) {
    this.restoreStartedAtMs = performance.now();
    const { count } = await verifySyntheticSnapshot(data);
    this.count = count;
    this.applied = meta.index;
    this.restoreEndedAtMs = performance.now();
  }
}

/** Fills `words` with a xorshift32 stream seeded from (count, piece): cheap, incompressible, reproducible. */
function fillPiece(words, count, piece) {
  let x = (Math.imul(count + 1, 0x9e3779b1) ^ Math.imul(piece + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
}

/** The snapshot stream of a state at `count` with a body of `stateBytes` (rounded down to 4). */
export async function* syntheticSnapshotChunks(count, stateBytes) {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC, true);
  view.setUint32(4, count, true);
  view.setUint32(8, stateBytes >>> 0, true);
  view.setUint32(12, Math.floor(stateBytes / 2 ** 32), true);
  let crc = crc32(header);
  yield header;
  let remaining = stateBytes - (stateBytes % 4);
  for (let piece = 0; remaining > 0; piece++) {
    const size = Math.min(STATE_CHUNK_BYTES, remaining);
    // A fresh buffer per piece: the storage may hold on to a piece until it is written.
    const bytes = new Uint8Array(size);
    fillPiece(new Uint32Array(bytes.buffer), count, piece);
    crc = crc32(bytes, crc);
    remaining -= size;
    yield bytes;
  }
  const trailer = new Uint8Array(TRAILER_BYTES);
  new DataView(trailer.buffer).setUint32(0, crc, true);
  yield trailer;
}

/**
 * Consumes a synthetic snapshot stream (chunk boundaries anywhere), holding back the last 4 bytes
 * (the trailer candidate) so memory stays at one chunk. Throws when anything does not match.
 */
export async function verifySyntheticSnapshot(data) {
  const header = new Uint8Array(HEADER_BYTES);
  let headerFilled = 0;
  let crc = 0;
  let total = 0;
  let tail = new Uint8Array(0);
  for await (const chunk of data) {
    total += chunk.byteLength;
    const headerPart = Math.min(HEADER_BYTES - headerFilled, chunk.byteLength);
    header.set(chunk.subarray(0, headerPart), headerFilled);
    headerFilled += headerPart;
    const available = tail.byteLength + chunk.byteLength;
    if (available <= TRAILER_BYTES) {
      tail = concatSmall(tail, chunk);
      continue;
    }
    const release = available - TRAILER_BYTES;
    const fromTail = Math.min(tail.byteLength, release);
    crc = crc32(tail.subarray(0, fromTail), crc);
    const fromChunk = release - fromTail;
    crc = crc32(chunk.subarray(0, fromChunk), crc);
    tail = concatSmall(tail.subarray(fromTail), chunk.subarray(fromChunk));
  }
  const view = new DataView(header.buffer);
  if (headerFilled < HEADER_BYTES || view.getUint32(0, true) !== SNAPSHOT_MAGIC) {
    throw new Error("synthetic snapshot: bad or missing header");
  }
  const bodyBytes = view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32;
  const expectedTotal = HEADER_BYTES + (bodyBytes - (bodyBytes % 4)) + TRAILER_BYTES;
  if (total !== expectedTotal) throw new Error(`synthetic snapshot: ${total} bytes, expected ${expectedTotal}`);
  const stored = new DataView(tail.buffer, tail.byteOffset, tail.byteLength).getUint32(0, true);
  if (stored !== crc)
    throw new Error(`synthetic snapshot: CRC-32 ${crc.toString(16)}, trailer says ${stored.toString(16)}`);
  return { count: view.getUint32(4, true), bytes: total };
}

/** `a` then `b` in a new array; only used with at most TRAILER_BYTES + one chunk's tiny tail. */
function concatSmall(a, b) {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** Samples RSS every few ms and keeps the peak of each named phase. */
class RssSampler {
  peaks = new Map();
  phase = "idle";
  timer = undefined;
  start() {
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_MS);
  }
  sample() {
    const rss = process.memoryUsage.rss();
    if (rss > (this.peaks.get(this.phase) ?? 0)) this.peaks.set(this.phase, rss);
  }
  enter(phase) {
    this.sample();
    this.phase = phase;
    this.sample();
  }
  stop() {
    this.sample();
    clearInterval(this.timer);
  }
  peakMiB(phase) {
    return round((this.peaks.get(phase) ?? 0) / MIB);
  }
}

/** Why the built package cannot run this bench, or undefined when it can. */
function missingSeam(storage) {
  const missing = SNAPSHOT_STORAGE_METHODS.filter((m) => typeof storage[m] !== "function");
  if (missing.length > 0) {
    return `the built LevelStorage lacks the streaming snapshot API (${missing.join(", ")}): rebuild dist/ from the new seam (pnpm build)`;
  }
  return undefined;
}

async function startNode(folder, network, id, stateBytes, snapshotEveryEntries) {
  const storage = await LevelStorage.open(join(folder, id), { clusterId: CLUSTER_ID, nodeId: id });
  const problem = missingSeam(storage);
  if (problem !== undefined) {
    await storage.close();
    return { skipped: problem };
  }
  const sm = new SyntheticBlobStateMachine(stateBytes);
  const server = new RaftServer({
    id,
    clusterId: CLUSTER_ID,
    voters: NODE_IDS,
    clock: new SystemClock(),
    random: new CryptoRandom(),
    storage,
    transport: network.endpoint(id),
    stateMachine: sm,
    snapshotEveryEntries,
    // The whole log goes into the snapshot, so the node started later cannot get appends.
    snapshotTrailingEntries: 0,
    defaultTimeoutMs: 30_000,
  });
  await server.start();
  return { id, server, sm, storage };
}

/** Polls until `done()` or a fatal stop of any server; throws on timeout, naming `what`. */
async function waitFor(what, nodes, done) {
  const deadline = performance.now() + PHASE_TIMEOUT_MS;
  while (!done()) {
    for (const n of nodes) {
      const status = n.server.status();
      if (status.lifecycle === "stopped") {
        throw new Error(`${what}: ${n.id} stopped: ${status.fatalError?.message ?? "(no error)"}`);
      }
    }
    if (performance.now() > deadline) {
      const roles = nodes.map((n) => {
        const s = n.server.status();
        return `${n.id} ${s.role} t${s.term} commit ${s.commit} applied ${s.stateMachineApplied} snapshot ${s.snapshotIndex}`;
      });
      throw new Error(`${what}: not done after ${PHASE_TIMEOUT_MS} ms (${roles.join("; ")})`);
    }
    await sleep(POLL_MS);
  }
}

/** Index of the latest durable snapshot of a node (the runtime's figure, else the core's compaction point). */
function storedSnapshotIndex(node) {
  const status = node.server.status();
  return status.latestSnapshotIndex ?? status.snapshotIndex;
}

/** Proposes `count` small commands through the leader with a few concurrent proposers. */
async function proposeMany(leader, count) {
  const command = new Uint8Array(16);
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      await leader.propose(command);
    }
  };
  await Promise.all(Array.from({ length: PROPOSERS }, worker));
}

/**
 * The measurement, in this process. `stateBytes` is the state machine's (and so the snapshot's)
 * size. Returns the timings and RSS figures, or `{ skipped }` when the seams are missing.
 */
export async function measureSnapshotSize({ stateBytes }) {
  const folder = await mkdtemp(join(tmpdir(), "raft-bench-snapshot-"));
  const network = new InProcessNetwork();
  const rss = new RssSampler();
  const nodes = [];
  try {
    globalThis.gc?.();
    const baselineRss = process.memoryUsage.rss();
    rss.start();
    // n1 snapshots after ENTRIES_BEFORE_SNAPSHOT entries; n2 never does; n3 stays down for now.
    for (const [id, every] of [
      ["n1", ENTRIES_BEFORE_SNAPSHOT],
      ["n2", 0],
    ]) {
      const node = await startNode(folder, network, id, stateBytes, every);
      if (node.skipped !== undefined) return { skipped: node.skipped };
      nodes.push(node);
    }
    const [n1] = nodes;
    n1.server.campaign();
    await waitFor("n1 to lead", nodes, () => n1.server.status().role === "leader");

    rss.enter("create");
    await proposeMany(n1.server, ENTRIES_BEFORE_SNAPSHOT);
    await waitFor(
      "the snapshot on n1",
      nodes,
      () => n1.sm.snapshotIndex > 0 && storedSnapshotIndex(n1) >= n1.sm.snapshotIndex,
    );
    const createdAtMs = performance.now();
    const createMs = createdAtMs - n1.sm.snapshotCalledAtMs;
    const snapshotIndex = n1.sm.snapshotIndex;
    const stored = await n1.storage.openSnapshot();
    const snapshotBytes = stored?.bytes ?? Number.NaN;
    await stored?.close();

    rss.enter("transfer");
    const startedAtMs = performance.now();
    const n3 = await startNode(folder, network, "n3", stateBytes, 0);
    nodes.push(n3);
    await waitFor("n3 to restore the snapshot", nodes, () => n3.sm.restoreEndedAtMs !== undefined);
    rss.enter("after");
    const restore = n3.sm;
    if (restore.applied < snapshotIndex)
      throw new Error(`n3 restored index ${restore.applied}, expected >= ${snapshotIndex}`);
    const n3Status = n3.server.status();
    rss.stop();
    return {
      stateBytes,
      snapshotBytes,
      snapshotIndex,
      createMs: round(createMs),
      transferMs: round(restore.restoreStartedAtMs - startedAtMs),
      restoreMs: round(restore.restoreEndedAtMs - restore.restoreStartedAtMs),
      catchUpMs: round(restore.restoreEndedAtMs - startedAtMs),
      snapshotsReceivedByN3: n3Status.snapshotsReceived,
      chunksDroppedByN3: n3Status.snapshotChunksDropped,
      baselineRssMiB: round(baselineRss / MIB),
      peakRssCreateMiB: rss.peakMiB("create"),
      peakRssTransferMiB: rss.peakMiB("transfer"),
      maxRssMiB: round((process.resourceUsage().maxRSS * 1024) / MIB),
    };
  } finally {
    rss.stop();
    await Promise.allSettled(nodes.map((n) => n.server.stop()));
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * Runs {@link measureSnapshotSize} in a child Node.js process (so `maxRSS` is this bench's peak
 * alone); its progress goes to this process's stderr.
 */
export function runSnapshotSizeBench({ stateBytes }) {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ["--expose-gc", self, "--child", "--bytes", String(stateBytes)],
      { maxBuffer: 1024 * 1024 },
      (error, stdout) => {
        const last = stdout.trim().split("\n").at(-1) ?? "";
        let parsed;
        try {
          parsed = JSON.parse(last);
        } catch {
          reject(error ?? new Error(`snapshot bench child printed no result: ${stdout.slice(-500)}`));
          return;
        }
        resolve(parsed);
      },
    );
    child.stderr?.pipe(process.stderr);
  });
}

/** The printed report. */
export function snapshotReportLines(result) {
  const lines = ["Snapshot of a large state machine (3 nodes, LevelStorage synced, in-process transfer):"];
  if (result.skipped !== undefined) {
    lines.push(`  SKIPPED: ${result.skipped}`);
    return lines;
  }
  if (result.error !== undefined) {
    lines.push(`  !!! FAILED: ${result.error}`);
    return lines;
  }
  const mib = (bytes) => round(bytes / MIB);
  const rate = (ms) => `${round(mib(result.snapshotBytes) / (ms / 1000))} MiB/s`;
  lines.push(`  snapshot: ${mib(result.snapshotBytes)} MiB at index ${result.snapshotIndex}`);
  lines.push(
    `  create (stream -> saveSnapshot, durable, compacted): ${result.createMs} ms  (${rate(result.createMs)})`,
  );
  lines.push(
    `  transfer to an empty node, until installed:          ${result.transferMs} ms  (${rate(result.transferMs)})`,
  );
  lines.push(
    `  restore into its state machine:                      ${result.restoreMs} ms  (${rate(result.restoreMs)})`,
  );
  lines.push(`  new node start -> restored:                          ${result.catchUpMs} ms`);
  lines.push(
    `  RSS: ${result.baselineRssMiB} MiB before; peak ${result.peakRssCreateMiB} MiB while creating, ${result.peakRssTransferMiB} MiB while transferring + restoring; process maxRSS ${result.maxRssMiB} MiB`,
  );
  const growth = Math.max(result.peakRssCreateMiB, result.peakRssTransferMiB) - result.baselineRssMiB;
  lines.push(
    `  peak growth ${round(growth)} MiB = ${round(growth / mib(result.snapshotBytes), 2)}x the snapshot size (all 3 nodes share this process)`,
  );
  return lines;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function childMain(argv) {
  const bytesAt = argv.indexOf("--bytes");
  const mibAt = argv.indexOf("--mib");
  const stateBytes =
    bytesAt >= 0
      ? Number(argv[bytesAt + 1])
      : (mibAt >= 0 ? Number(argv[mibAt + 1]) : argv.includes("--quick") ? 32 : 100) * MIB;
  let result;
  try {
    result = await measureSnapshotSize({ stateBytes });
  } catch (error) {
    result = { error: String(error?.stack ?? error) };
  }
  if (argv.includes("--child")) console.log(JSON.stringify(result));
  else console.log(snapshotReportLines(result).join("\n"));
  if (result.error !== undefined) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await childMain(process.argv.slice(2));
