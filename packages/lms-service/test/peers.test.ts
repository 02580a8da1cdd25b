import { describe, expect, test } from "vitest";
import { PeersConfigError, parsePeers } from "../src/index.js";

describe("parsePeers", () => {
  test("maps each id to its host and port, in the order given", () => {
    const peers = parsePeers("n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=lms-3.internal:7003");
    expect([...peers.entries()]).toEqual([
      ["n1", { host: "127.0.0.1", port: 7001 }],
      ["n2", { host: "127.0.0.1", port: 7002 }],
      ["n3", { host: "lms-3.internal", port: 7003 }],
    ]);
  });

  test("ignores spaces around entries, ids and addresses", () => {
    const peers = parsePeers("  n1 = localhost:7001 ,\tn2=localhost:7002  ");
    expect(peers.get("n1")).toEqual({ host: "localhost", port: 7001 });
    expect(peers.get("n2")).toEqual({ host: "localhost", port: 7002 });
    expect(peers.size).toBe(2);
  });

  test("accepts a bracketed IPv6 host and stores it without brackets", () => {
    expect(parsePeers("a=[::1]:7001").get("a")).toEqual({ host: "::1", port: 7001 });
  });

  test("accepts docker-compose service names as hosts: Docker's DNS resolves underscores", () => {
    const spec = "lms_server_1=lms_server_1:7000,lms_server_2=lms_server_2:7000,lms_server_3=lms_server_3:7000";
    const peers = parsePeers(spec);
    expect([...peers.entries()]).toEqual([
      ["lms_server_1", { host: "lms_server_1", port: 7000 }],
      ["lms_server_2", { host: "lms_server_2", port: 7000 }],
      ["lms_server_3", { host: "lms_server_3", port: 7000 }],
    ]);
    expect(parsePeers("n1=lectern_lms_server_1.lectern_default:7000").get("n1")).toEqual({
      host: "lectern_lms_server_1.lectern_default",
      port: 7000,
    });
    expect(parsePeers("n1=a_-_b:1").get("n1")?.host).toBe("a_-_b");
  });

  test("accepts labels of 63 characters and a name of 253", () => {
    const label = `a${"_".repeat(61)}z`;
    expect(parsePeers(`n1=${label}:7001`).get("n1")?.host).toBe(label);
    const longest = `${[..."abc"].map((c) => c.repeat(63)).join(".")}.${"d".repeat(61)}`;
    expect(longest).toHaveLength(253);
    expect(parsePeers(`n1=${longest}:7001`).get("n1")?.host).toBe(longest);
  });

  test("accepts a single peer and the port range ends", () => {
    expect(parsePeers("solo=10.0.0.1:1").get("solo")).toEqual({ host: "10.0.0.1", port: 1 });
    expect(parsePeers("solo=10.0.0.1:65535").get("solo")).toEqual({ host: "10.0.0.1", port: 65535 });
  });

  test.each([
    ["", /PEERS is empty/],
    ["   ", /PEERS is empty/],
    ["n1=127.0.0.1:7001,", /entry 2 \(""\) is empty \(a stray comma\?\)/],
    ["n1=127.0.0.1:7001,,n2=127.0.0.1:7002", /entry 2 .* is empty/],
    ["127.0.0.1:7001", /entry 1 .* has no "="/],
    ["=127.0.0.1:7001", /has no node id/],
    ["n 1=127.0.0.1:7001", /has node id "n 1"/],
    ["-n1=127.0.0.1:7001", /has node id "-n1"/],
    [`${"n".repeat(65)}=127.0.0.1:7001`, /longer than 64 characters/],
    ["n1=127.0.0.1:7001,n1=127.0.0.1:7002", /entry 2 .* repeats node id "n1"/],
    ["n1=127.0.0.1", /has no port/],
    ["n1=127.0.0.1:", /has no port/],
    ["n1=:7001", /has no host/],
    ["n1=127.0.0.1:http", /has port "http"/],
    ["n1=127.0.0.1:0", /has port "0"/],
    ["n1=127.0.0.1:65536", /has port "65536"/],
    ["n1=127.0.0.1:7001.5", /has port "7001.5"/],
    ["n1=127.0.0.1:-1", /has port "-1"/],
    ["n1=999.1.1.1:7001", /host "999.1.1.1"/],
    ["n1=_server:7001", /host "_server"/],
    ["n1=server_:7001", /host "server_"/],
    ["n1=lms_server_1._internal:7001", /host "lms_server_1._internal"/],
    ["n1=bad host:7001", /host "bad host"/],
    ["n1=bad!host:7001", /host "bad!host"/],
    ["n1=a..b:7001", /host "a..b"/],
    ["n1=-a:7001", /host "-a"/],
    ["n1=a.:7001", /host "a."/],
    ["n1=h\u00e9te:7001", /host "h\u00e9te"/],
    [`n1=${"a".repeat(64)}:7001`, /host "a{64}"/],
    [`n1=${"a.".repeat(126)}ab:7001`, /neither a hostname/],
    ["n1=::1:7001", /IPv6 host without brackets/],
    ["n1=[nope]:7001", /"\[nope\]", which is not an IPv6 address/],
    ["n1=[::1]", /has no port/],
    ["n1=127.0.0.1:7001,n2=127.0.0.1:7001", /entry 2 .* uses 127.0.0.1:7001, already given to "n1"/],
  ])("rejects %j with a clear error", (spec, message) => {
    let caught: unknown;
    try {
      parsePeers(spec);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PeersConfigError);
    expect((caught as PeersConfigError).code).toBe("INVALID_PEERS");
    expect((caught as PeersConfigError).message).toMatch(message);
  });
});
