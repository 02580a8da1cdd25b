import { createHmac } from "node:crypto";
import { mkdir, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { CryptoRandom, type Logger, type RaftServer, type RaftServerOptions, SystemClock } from "@lectern/raft-core";
import { LevelStorage } from "@lectern/raft-core/level";
import { LoginLimiter } from "../auth/login-limiter.js";
import { TokenService } from "../auth/tokens.js";
import { type LmsApplyResult, LmsStateMachine } from "../domain/lms-state-machine.js";
import { missingFiles } from "../domain/queries.js";
import { MissingFileFetcher } from "../files/missing-file-fetcher.js";
import { PeerFileClient, type PeerFileSource } from "../files/peer-file-client.js";
import { addPeerFilesService } from "../files/peer-file-service.js";
import { NodeMetrics } from "../ops/node-metrics.js";
import { createNodeLogger } from "../ops/pino-logger.js";
import type { PeerAddress } from "../peers.js";
import { addLmsServices } from "../service/lms-services.js";
import { type LmsServiceContext, monotonicStamper, type TutorBackend } from "../service/service-context.js";
import { FileStore } from "../store/file-store.js";
import { LevelLmsStore } from "../store/level-store.js";
import type { LmsStore } from "../store/lms-store.js";
import { MongoLmsStore } from "../store/mongo-store.js";
import { addRaftPeerService, GrpcPeerTransport, nodeServerOptions } from "../transport/index.js";
import { OllamaTutor } from "../tutor/ollama-tutor.js";
import { type ClusterSecrets, loadClusterSecrets } from "./cluster-secrets.js";
import { DrainableStateMachine } from "./drainable-state-machine.js";
import { joinMarkerFile } from "./fresh-start.js";
import { MemberRecorder } from "./member-recorder.js";
import { MeteredRaftServer } from "./metered-raft-server.js";
import type { NodeConfig } from "./node-config.js";

/** A graceful stop waits this long for calls in flight before cutting them. */
export const shutdownGraceMs = 3_000;
/** How often a joining node checks whether the leader's log has given it a configuration. */
export const joinCheckIntervalMs = 250;
/** How often the node refreshes which peers its transport keeps connected (membership changes). */
export const peerKeepIntervalMs = 1_000;
/** How often the node checks whether Raft stopped by itself (a storage failure). */
export const fatalCheckIntervalMs = 1_000;
/**
 * How long a write or read that meets an election, or a leader that just stepped down, waits in
 * Raft for the new leader (raft-core's `leaderWaitMs`). Elections here take a few hundred
 * milliseconds; refusing at once would send every client into backoff and let it find the new
 * leader only at its next attempt.
 */
export const raftLeaderWaitMs = 1_000;

/** Raft timing a node may override (tests shorten elections). */
export type RaftTuning = Partial<
  Pick<
    RaftServerOptions,
    | "tickMs"
    | "electionTicks"
    | "heartbeatTicks"
    | "snapshotEveryEntries"
    | "snapshotTrailingEntries"
    | "defaultTimeoutMs"
    | "leaderWaitMs"
  >
>;

export interface LmsNodeOptions {
  readonly config: NodeConfig;
  /** Default: from the config's secrets (environment or the shared secrets file). */
  readonly secrets?: ClusterSecrets;
  /** Default: pino JSON lines on stdout with the node id. */
  readonly logger?: Logger;
  /** Counters the node feeds (proposals, applied entries, gRPC calls). Default: a fresh set. */
  readonly metrics?: NodeMetrics;
  /**
   * Start with no configuration of its own and wait for the leader's log (a node with an empty data
   * folder joining a running cluster, see fresh-start.ts): it never campaigns before the log makes it
   * a voter, and it admits the PEERS members' streams until the log names its members. Default false.
   */
  readonly join?: boolean;
  /**
   * While leading, record the address of every member that has run in the configuration (see
   * member-recorder.ts). Default true.
   */
  readonly recordMembers?: boolean;
  /** Default: OllamaTutor at the config's OLLAMA_URL and OLLAMA_MODEL. */
  readonly tutor?: TutorBackend;
  readonly raft?: RaftTuning;
  /**
   * Sync the Raft log and the LMS store (default true). Only throwaway tests may turn it off: an
   * acknowledged write could then be lost on power failure.
   */
  readonly sync?: boolean;
  /**
   * Called once if Raft stops by itself (storage or state machine failure): the node then only
   * answers UNAVAILABLE, so a process should stop and exit non-zero for its supervisor to act.
   */
  readonly onFatal?: (error: Error) => void;
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(address: PeerAddress): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * The cluster id every peer message carries: derived from CLUSTER_SECRET, so nodes sharing a
 * secret agree on it without another setting and a node of another cluster is refused.
 */
export function clusterIdFor(clusterSecret: string): string {
  return `lectern-${createHmac("sha256", clusterSecret).update("lectern-cluster-id").digest("hex").slice(0, 16)}`;
}

/** One database per node, named from the node id (MongoDB names allow no dots). */
function mongoDatabaseName(nodeId: string): string {
  return `lectern_${nodeId.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/** What a node opened, closed in reverse on a failed start or at stop. */
interface OpenedParts {
  storage?: LevelStorage;
  store?: LmsStore;
  server?: Server;
  tutor?: OllamaTutor;
}

/**
 * One LMS node: a Raft member (LevelDB log, LMS state machine over the embedded or MongoDB store
 * and the content-addressed file store) serving the Raft peer service and the whole client API
 * on one gRPC server at its address from PEERS.
 *
 * @example
 * const node = await LmsNode.start({ config: loadNodeConfig(process.env) });
 * process.on("SIGTERM", () => void node.stop());
 */
export class LmsNode {
  private stopping: Promise<void> | undefined;
  private fatalWatch: NodeJS.Timeout | undefined;
  private recorder: MemberRecorder | undefined;
  private joinWatch: NodeJS.Timeout | undefined;
  private peerKeeper: NodeJS.Timeout | undefined;
  /** Copies files this node lacks (after a snapshot restore, or a crash mid-copy) from peers. */
  private fileFetcher: MissingFileFetcher | undefined;
  private peerFileClient: PeerFileClient | undefined;

  private constructor(
    readonly nodeId: string,
    readonly clusterId: string,
    /** Where the node's gRPC server listens (`host:port`). */
    readonly address: string,
    readonly raft: RaftServer<LmsApplyResult>,
    readonly transport: GrpcPeerTransport,
    readonly context: LmsServiceContext,
    private readonly stateMachine: DrainableStateMachine,
    private readonly parts: Required<Pick<OpenedParts, "storage" | "store" | "server">> & OpenedParts,
    private readonly logger: Logger,
    /** The counters this node feeds; the operations server renders them. */
    readonly metrics: NodeMetrics,
  ) {}

  /** Opens storage, starts Raft and serves gRPC; rejects (with everything closed again) on failure. */
  static async start(options: LmsNodeOptions): Promise<LmsNode> {
    const { config } = options;
    const logger = options.logger ?? createNodeLogger({ nodeId: config.nodeId });
    const parts: OpenedParts = {};
    try {
      return await LmsNode.assemble(options, logger, parts);
    } catch (error) {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, "node failed to start");
      parts.server?.forceShutdown();
      await parts.store?.close().catch(() => {});
      await parts.storage?.close().catch(() => {});
      await parts.tutor?.close().catch(() => {});
      throw error;
    }
  }

  private static async assemble(options: LmsNodeOptions, logger: Logger, parts: OpenedParts): Promise<LmsNode> {
    const { config } = options;
    const sync = options.sync ?? true;
    const secrets =
      options.secrets ??
      (await loadClusterSecrets({
        file: config.secretsFile,
        jwtSecret: config.jwtSecret,
        clusterSecret: config.clusterSecret,
      }));
    const clusterId = clusterIdFor(secrets.clusterSecret);
    await mkdir(config.dataDir, { recursive: true });
    // Until the leader's log arrives, a restart must join again rather than bootstrap a cluster.
    if (options.join === true) await writeFile(joinMarkerFile(config.dataDir), "waiting for the leader's log\n");
    const storage = await LevelStorage.open(join(config.dataDir, "raft"), { clusterId, nodeId: config.nodeId, sync });
    parts.storage = storage;
    const store: LmsStore =
      config.mongoUri !== undefined
        ? await MongoLmsStore.open(config.mongoUri, { databaseName: mongoDatabaseName(config.nodeId) })
        : await LevelLmsStore.open(
            join(config.dataDir, "lms"),
            sync ? {} : { syncEveryCommits: Number.MAX_SAFE_INTEGER },
          );
    parts.store = store;
    const files = await FileStore.open(config.fileStorageDir, { maxFileBytes: config.maxFileBytes });
    const metrics = options.metrics ?? new NodeMetrics();
    let fileFetcher: MissingFileFetcher | undefined;
    const stateMachine = new DrainableStateMachine(
      new LmsStateMachine({ store, files, maxFileBytes: config.maxFileBytes }),
      (count) => metrics.entriesApplied(count),
      () => fileFetcher?.request("snapshot restored"),
    );

    // The transport and the services ask Raft for the configuration in the log; until Raft runs
    // (and as the bootstrap fallback) PEERS answers.
    let raft: RaftServer<LmsApplyResult> | undefined;
    const addressOf = (id: string): string | undefined => {
      const fromLog = raft === undefined ? undefined : safeStatus(raft)?.addresses[id];
      if (fromLog !== undefined && fromLog !== "") return fromLog;
      const bootstrap = config.peers.get(id);
      return bootstrap === undefined ? undefined : formatAddress(bootstrap);
    };
    // A member, or a node the log already gives an address (one being added). A joining node has
    // no configuration until the leader's log arrives: PEERS stands in (see currentMembers).
    const isMember = (id: string): boolean => {
      if (currentMembers(raft, config.peers.keys()).includes(id)) return true;
      const status = raft === undefined ? undefined : safeStatus(raft);
      return status !== undefined && Object.hasOwn(status.addresses, id);
    };
    const transport = new GrpcPeerTransport({
      id: config.nodeId,
      clusterId,
      clusterSecret: secrets.clusterSecret,
      isMember,
      resolveAddress: addressOf,
      logger,
    });
    raft = new MeteredRaftServer<LmsApplyResult>(
      {
        id: config.nodeId,
        clusterId,
        voters: options.join === true ? [] : [...config.peers.keys()],
        clock: new SystemClock(),
        random: new CryptoRandom(),
        storage,
        transport,
        stateMachine,
        logger,
        leaderWaitMs: raftLeaderWaitMs,
        ...options.raft,
      },
      metrics,
    );

    let tutor = options.tutor;
    if (tutor === undefined) {
      const ollama = new OllamaTutor({ baseUrl: config.ollamaUrl, model: config.ollamaModel });
      parts.tutor = ollama;
      tutor = ollama;
    }
    const revokedNever = () => false; // Revocation is checked against the store per call (call-helpers.ts).
    const context: LmsServiceContext = {
      nodeId: config.nodeId,
      clusterId,
      raft,
      store,
      files,
      tokens: new TokenService(secrets.jwtSecret, revokedNever),
      loginLimiter: new LoginLimiter(),
      tutor,
      clusterSecret: secrets.clusterSecret,
      maxFileBytes: config.maxFileBytes,
      transportStatus: () => transport.status(),
      addressOf,
      logger,
      stampTime: monotonicStamper(),
      wallClockMs: Date.now,
    };

    const spoolDirectory = join(config.dataDir, "upload-spool");
    await rm(spoolDirectory, { recursive: true, force: true });
    const server = new Server({ ...nodeServerOptions(), interceptors: [metrics.rpcs.interceptor()] });
    parts.server = server;
    addRaftPeerService(server, transport);
    addLmsServices(server, context, spoolDirectory);
    addPeerFilesService(server, {
      nodeId: config.nodeId,
      clusterId,
      clusterSecret: secrets.clusterSecret,
      files,
      isMember,
      logger,
    });
    const peerFileClient = new PeerFileClient({
      selfId: config.nodeId,
      clusterId,
      clusterSecret: secrets.clusterSecret,
    });
    fileFetcher = new MissingFileFetcher({
      files,
      listMissing: () => missingFiles(store, files),
      peers: () => filePeers(config.nodeId, raft, config.peers.keys(), addressOf),
      fetch: (peer, sha256, signal) => peerFileClient.fetch(peer, sha256, signal),
      logger,
    });
    const address = formatAddress(config.listen);
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) =>
        error === null ? resolve(port) : reject(error),
      ),
    );
    await raft.start();
    logger.info({ address, clusterId, store: config.mongoUri === undefined ? "level" : "mongodb" }, "node started");
    const node = new LmsNode(
      config.nodeId,
      clusterId,
      address,
      raft,
      transport,
      context,
      stateMachine,
      { ...parts, storage, store, server },
      logger,
      metrics,
    );
    node.keepPeersConnected(config.peers.keys());
    node.fileFetcher = fileFetcher;
    node.peerFileClient = peerFileClient;
    // A node that crashed while copying files (or before it began) still lacks some.
    fileFetcher.request("node start");
    if (options.onFatal !== undefined) node.watchForFatalError(options.onFatal);
    if (options.join === true) node.watchJoin(joinMarkerFile(config.dataDir));
    if (options.recordMembers ?? true) {
      node.recorder = new MemberRecorder(raft, addressOf, logger);
      node.recorder.start();
    }
    return node;
  }

  /**
   * Keeps the peer streams to every member up (the configuration in the log, PEERS until the log
   * has one), so an election's first messages never wait for a dial.
   */
  private keepPeersConnected(bootstrapPeers: Iterable<string>): void {
    const bootstrap = [...bootstrapPeers];
    const refresh = () => this.transport.keepConnected(currentMembers(this.raft, bootstrap));
    refresh();
    this.peerKeeper = setInterval(refresh, peerKeepIntervalMs);
    this.peerKeeper.unref();
  }

  /** Removes the join marker once the log has given this node a configuration. */
  private watchJoin(markerFile: string): void {
    this.joinWatch = setInterval(() => {
      const status = safeStatus(this.raft);
      if (status === undefined || (status.voters.length === 0 && status.learners.length === 0)) return;
      clearInterval(this.joinWatch);
      unlink(markerFile).then(
        () => this.logger.info({ voters: status.voters, learners: status.learners }, "joined the cluster"),
        (error: unknown) => this.logger.warn({ err: String(error) }, "could not remove the join marker"),
      );
    }, joinCheckIntervalMs);
    this.joinWatch.unref();
  }

  private watchForFatalError(onFatal: (error: Error) => void): void {
    this.fatalWatch = setInterval(() => {
      const fatal = safeStatus(this.raft)?.fatalError;
      if (fatal === undefined || this.stopping !== undefined) return;
      clearInterval(this.fatalWatch);
      this.logger.error({ code: fatal.code, err: fatal.message }, "raft stopped by a fatal error; the node stops");
      onFatal(fatal);
    }, fatalCheckIntervalMs);
    this.fatalWatch.unref();
  }

  /**
   * Stops the node: no new calls, Raft stopped (pending calls fail with a retryable error), calls
   * in flight get {@link shutdownGraceMs} to finish, then the stores close. Idempotent.
   * `graceful: false` cuts every call at once (tests use it to simulate a crash of the process).
   */
  stop(options: { readonly graceful?: boolean } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.graceful ?? true);
    return this.stopping;
  }

  private async shutdown(graceful: boolean): Promise<void> {
    clearInterval(this.fatalWatch);
    clearInterval(this.joinWatch);
    clearInterval(this.peerKeeper);
    this.recorder?.stop();
    const { server } = this.parts;
    const drained = graceful ? tryShutdown(server, shutdownGraceMs) : Promise.resolve(server.forceShutdown());
    await this.raft.stop();
    await drained;
    await this.stateMachine.drained();
    await this.fileFetcher?.stop();
    this.peerFileClient?.close();
    await this.parts.store
      .close()
      .catch((error: unknown) => this.logger.error({ err: String(error) }, "store close failed"));
    await this.parts.storage.close().catch(() => {});
    await this.parts.tutor?.close().catch(() => {});
    this.logger.info({}, graceful ? "node stopped" : "node killed");
  }
}

/**
 * The cluster's members: the configuration in the log (voters, outgoing voters, learners), or the
 * PEERS ids until the log has one (before Raft runs, and while a joining node waits for the log).
 */
function currentMembers(raft: RaftServer<LmsApplyResult> | undefined, bootstrapPeers: Iterable<string>): string[] {
  const status = raft === undefined ? undefined : safeStatus(raft);
  if (status === undefined || (status.voters.length === 0 && status.learners.length === 0)) return [...bootstrapPeers];
  return [...new Set([...status.voters, ...status.outgoingVoters, ...status.learners])];
}

/** The other members with their addresses. */
function filePeers(
  selfId: string,
  raft: RaftServer<LmsApplyResult> | undefined,
  bootstrapPeers: Iterable<string>,
  addressOf: (id: string) => string | undefined,
): PeerFileSource[] {
  const sources: PeerFileSource[] = [];
  for (const id of currentMembers(raft, bootstrapPeers)) {
    const address = id === selfId ? undefined : addressOf(id);
    if (address !== undefined) sources.push({ id, address });
  }
  return sources;
}

function safeStatus(raft: RaftServer<LmsApplyResult>) {
  try {
    return raft.status();
  } catch {
    return undefined;
  }
}

/** Stops accepting calls and waits up to `graceMs` for running ones, then cuts them. */
function tryShutdown(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
