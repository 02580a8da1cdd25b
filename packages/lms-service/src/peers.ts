import { isIP } from "node:net";

/** Where a peer listens for Raft and client traffic. */
export interface PeerAddress {
  /** A host name (Docker-style underscores allowed), an IPv4 address, or an IPv6 address without brackets. */
  readonly host: string;
  readonly port: number;
}

/** Thrown by {@link parsePeers}; the message names the bad entry and the expected form. */
export class PeersConfigError extends Error {
  /** Stable across module copies, where `instanceof` can fail. */
  readonly code = "INVALID_PEERS";

  constructor(message: string) {
    super(message);
    this.name = "PeersConfigError";
  }
}

/** Node ids travel in every peer message and log line, so they stay short and plain. */
export const maxNodeIdChars = 64;
const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/**
 * One DNS label of at most 63 characters, starting and ending with a letter or digit. Inside, "-"
 * and also "_": RFC 1123 host names have no underscores, but Docker's embedded DNS resolves
 * service and container names such as `lms_server_1`, and docker-compose names services that way.
 */
const hostnameLabel = "[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?";
const hostnamePattern = new RegExp(`^${hostnameLabel}(?:\\.${hostnameLabel})*$`);
/** The longest host name DNS carries (RFC 1035 §2.3.4, without the trailing dot). */
const maxHostnameChars = 253;
const maxPort = 65_535;
const expectedForm = "write PEERS as id=host:port,id=host:port (e.g. n1=127.0.0.1:7001,n2=127.0.0.1:7002)";

/**
 * Parses the `PEERS` setting, `id=host:port` entries separated by commas, into a map from node id to
 * address in the order given. Spaces around entries are ignored; an IPv6 host is written in brackets.
 * Bad input throws a {@link PeersConfigError} naming the entry, and nothing is returned.
 *
 * @example
 * ```ts
 * const peers = parsePeers("n1=127.0.0.1:7001, n2=[::1]:7002");
 * peers.get("n2"); // { host: "::1", port: 7002 }
 * ```
 */
export function parsePeers(spec: string): ReadonlyMap<string, PeerAddress> {
  if (spec.trim() === "") throw new PeersConfigError(`PEERS is empty: ${expectedForm}`);
  const peers = new Map<string, PeerAddress>();
  const idsByAddress = new Map<string, string>();
  spec.split(",").forEach((rawEntry, index) => {
    const entry = rawEntry.trim();
    const where = `PEERS entry ${index + 1} (${JSON.stringify(entry)})`;
    const [id, address] = splitEntry(entry, where);
    if (peers.has(id)) throw new PeersConfigError(`${where} repeats node id "${id}": each id appears once`);
    const peer = parseAddress(address, where);
    const addressKey = `${peer.host}:${peer.port}`;
    const sameAddress = idsByAddress.get(addressKey);
    if (sameAddress !== undefined) {
      throw new PeersConfigError(
        `${where} uses ${address}, already given to "${sameAddress}": each node needs its own`,
      );
    }
    peers.set(id, peer);
    idsByAddress.set(addressKey, id);
  });
  return peers;
}

function splitEntry(entry: string, where: string): [id: string, address: string] {
  if (entry === "") throw new PeersConfigError(`${where} is empty (a stray comma?): ${expectedForm}`);
  const equals = entry.indexOf("=");
  if (equals === -1) throw new PeersConfigError(`${where} has no "=": ${expectedForm}`);
  const id = entry.slice(0, equals).trim();
  if (id === "") throw new PeersConfigError(`${where} has no node id before "=": ${expectedForm}`);
  if (id.length > maxNodeIdChars) {
    throw new PeersConfigError(`${where} has a node id longer than ${maxNodeIdChars} characters`);
  }
  if (!nodeIdPattern.test(id)) {
    throw new PeersConfigError(
      `${where} has node id "${id}": use letters, digits, "_", "." and "-", starting alphanumeric`,
    );
  }
  return [id, entry.slice(equals + 1).trim()];
}

function parseAddress(address: string, where: string): PeerAddress {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(address);
  const colon = address.lastIndexOf(":");
  const host = bracketed ? bracketed[1] : colon === -1 ? address : address.slice(0, colon);
  const portText = bracketed ? bracketed[2] : colon === -1 ? undefined : address.slice(colon + 1);
  if (host === "") throw new PeersConfigError(`${where} has no host: ${expectedForm}`);
  if (bracketed && isIP(host) !== 6)
    throw new PeersConfigError(`${where} has "[${host}]", which is not an IPv6 address`);
  if (!bracketed && host.includes(":")) {
    throw new PeersConfigError(`${where} has an IPv6 host without brackets: write [${host}]:port`);
  }
  if (!bracketed && !isValidHostname(host)) {
    throw new PeersConfigError(`${where} has host "${host}", which is neither a hostname nor an IPv4 address`);
  }
  if (portText === undefined || portText === "") throw new PeersConfigError(`${where} has no port: ${expectedForm}`);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= maxPort)) {
    throw new PeersConfigError(`${where} has port "${portText}": a port is an integer from 1 to ${maxPort}`);
  }
  return { host, port };
}

/**
 * A dotted name of DNS labels (letters, digits, "-" and "_" inside a label); all-numeric names
 * must be real IPv4 addresses (no "999.1.1.1").
 */
function isValidHostname(host: string): boolean {
  if (/^[\d.]+$/.test(host)) return isIP(host) === 4;
  return host.length <= maxHostnameChars && hostnamePattern.test(host);
}
