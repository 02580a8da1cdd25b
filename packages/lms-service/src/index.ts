export { maxNodeIdChars, type PeerAddress, PeersConfigError, parsePeers } from "./peers.js";
