import { isLogLevel, JsonLineLogger } from "./json-logger.js";
import { LmsNode } from "./lms-node.js";
import { loadNodeConfig } from "./node-config.js";

/**
 * `node packages/lms-service/dist/node/main.js`: one LMS node configured from the environment
 * (NODE_ID, PEERS, DATA_DIR, ... see node-config.ts; LOG_LEVEL debug|info|warn|error). Stops
 * gracefully on SIGINT / SIGTERM; a second signal exits at once.
 */
async function main(): Promise<void> {
  const config = loadNodeConfig(process.env);
  const level = process.env.LOG_LEVEL ?? "info";
  const logger = new JsonLineLogger({ node: config.nodeId }, isLogLevel(level) ? level : "info");
  const node = await LmsNode.start({
    config,
    logger,
    onFatal: () => {
      node.stop().finally(() => process.exit(1));
    },
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    logger.info({ signal }, "stopping");
    node.stop().then(
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

main().catch((error: unknown) => {
  process.stderr.write(`lectern node: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
