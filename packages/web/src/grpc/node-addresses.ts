import { DEFAULT_PEERS, formatAddress, parsePeers } from "@lectern/lms-service";

/** One LMS node the web front talks to: its gRPC client address and, when configured, its id. */
export interface NodeAddress {
  /** The node id from an `id=host:port` entry; undefined for a plain `host:port`. */
  readonly nodeId: string | undefined;
  /** `host:port` (`[v6]:port`) of the node's gRPC server. */
  readonly address: string;
}

/**
 * Parses node entries, each `id=host:port` or a plain `host:port` (blank entries are skipped).
 * The ids are optional because the nodes name themselves in every status answer; they only label
 * a node that has never answered.
 *
 * @example
 * ```ts
 * parseNodeAddresses(["n1=127.0.0.1:7001", "127.0.0.1:7002"]);
 * // [{ nodeId: "n1", address: "127.0.0.1:7001" }, { nodeId: undefined, address: "127.0.0.1:7002" }]
 * ```
 */
export function parseNodeAddresses(entries: readonly string[]): NodeAddress[] {
  const nodes: NodeAddress[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === "") continue;
    const equals = entry.indexOf("=");
    if (equals === -1) {
      if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(entry)) {
        throw new Error(`LMS node "${entry}" is not host:port (or id=host:port)`);
      }
      nodes.push({ nodeId: undefined, address: entry });
      continue;
    }
    // parsePeers checks ids and addresses with the nodes' own rules.
    const [[nodeId, address]] = [...parsePeers(entry)];
    nodes.push({ nodeId, address: formatAddress(address) });
  }
  const seen = new Set<string>();
  for (const node of nodes) {
    if (seen.has(node.address)) throw new Error(`LMS node address ${node.address} is listed twice`);
    seen.add(node.address);
  }
  return nodes;
}

/**
 * The LMS nodes from the environment: `LMS_NODES` (comma-separated `host:port` or `id=host:port`)
 * when set, else the nodes' own `PEERS` (whose addresses also serve the client API), else the
 * default local cluster `n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003`.
 */
export function nodeAddressesFromEnv(env: NodeJS.ProcessEnv): NodeAddress[] {
  const fromLmsNodes = env.LMS_NODES?.trim() ?? "";
  if (fromLmsNodes !== "") return parseNodeAddresses(fromLmsNodes.split(","));
  const peers = env.PEERS?.trim() ?? "";
  return parseNodeAddresses((peers === "" ? DEFAULT_PEERS : peers).split(","));
}
