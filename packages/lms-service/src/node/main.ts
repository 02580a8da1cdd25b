import { NodeMetrics } from "../ops/node-metrics.js";
import { type NodePhase, nodeOpsView } from "../ops/node-ops-view.js";
import { OpsServer } from "../ops/ops-server.js";
import { createNodeLogger, isNodeLogLevel } from "../ops/pino-logger.js";
import { isEntryModule } from "./entry-point.js";
import { isFreshDataFolder, probeFreshStart } from "./fresh-start.js";
import { LmsNode } from "./lms-node.js";
import { loadNodeConfig, type NodeEnvironment } from "./node-config.js";

/** How often the process samples Raft's term and leader for the election metrics. */
export const termObserveIntervalMs = 100;
/** Exit code of a node that refuses to start with an empty data folder (safety rule 10). */
export const EXIT_REFUSED_EMPTY_FOLDER = 3;

/**
 * Runs one LMS node in this process, configured from `env` (NODE_ID, PEERS, DATA_DIR, HTTP_PORT,
 * ... see node-config.ts; LOG_LEVEL debug|info|warn|error), logging pino JSON lines with the node
 * id and term, serving /healthz, /metrics and /membership on its operations HTTP port. A node with
 * an empty data folder first asks its peers whether the cluster already runs (fresh-start.ts) and
 * refuses to start (exit code {@link EXIT_REFUSED_EMPTY_FOLDER}) when the cluster lists it as a
 * voter that has run. Stops gracefully on SIGINT / SIGTERM; a second signal exits at once. It owns
 * the process: it exits it on stop or on a fatal error. Both `node dist/node/main.js` (settings
 * from the environment) and `lectern node` (flags over the environment) start nodes through it.
 *
 * @example
 * await startNode({ ...process.env, NODE_ID: "n1" });
 */
export async function startNode(env: NodeEnvironment): Promise<void> {
  const config = loadNodeConfig(env);
  const level = env.LOG_LEVEL ?? "info";
  const logger = createNodeLogger({ nodeId: config.nodeId, level: isNodeLogLevel(level) ? level : "info" });
  const metrics = new NodeMetrics();
  metrics.startEventLoopMonitor();
  let phase: NodePhase = "starting";
  let node: LmsNode | undefined;
  const ops = await OpsServer.start({
    host: config.httpHost,
    port: config.httpPort,
    logger,
    view: nodeOpsView({
      nodeId: config.nodeId,
      phase: () => phase,
      raft: () => node?.raft.status(),
      transport: () => node?.transport.status(),
      metrics,
    }),
  });
  let join = false;
  if (await isFreshDataFolder(config.dataDir)) {
    phase = "probing";
    const decision = await probeFreshStart({ self: config.nodeId, peers: config.peers, logger });
    if (decision.kind === "refuse") {
      logger.error({ decision: decision.kind }, decision.reason);
      process.stderr.write(`lectern node ${config.nodeId} refuses to start: ${decision.reason}\n`);
      await ops.close();
      process.exit(EXIT_REFUSED_EMPTY_FOLDER);
    }
    join = decision.kind === "join";
    logger.info({ decision: decision.kind }, decision.reason);
    phase = "starting";
  }
  const started = await LmsNode.start({
    config,
    logger,
    metrics,
    join,
    onFatal: () => {
      phase = "stopping";
      started.stop().finally(() => process.exit(1));
    },
  });
  node = started;
  logger.attachTerm(() => started.raft.status().term);
  // Elections are counted from term changes: sample often enough to see each one.
  const observer = setInterval(() => {
    try {
      metrics.observe(started.raft.status());
    } catch {
      // Raft stopped; the process is on its way out.
    }
  }, termObserveIntervalMs);
  observer.unref();
  phase = "running";
  logger.info({ http: `${config.httpHost}:${ops.port}` }, "operations server: /healthz, /metrics, /membership");

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    phase = "stopping";
    logger.info({ signal }, "stopping");
    started
      .stop()
      .then(() => ops.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: String(error) }, "stop failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/** Prints why the node could not start and exits with 1. */
export function exitOnStartFailure(error: unknown): never {
  process.stderr.write(`lectern node: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

// `node packages/lms-service/dist/node/main.js`: settings from the environment only.
if (isEntryModule(import.meta.url)) startNode(process.env).catch(exitOnStartFailure);
