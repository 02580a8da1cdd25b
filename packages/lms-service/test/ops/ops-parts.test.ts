import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { decideFreshStart } from "../../src/node/fresh-start.js";
import { membersToRecord } from "../../src/node/member-recorder.js";
import { NodeMetrics } from "../../src/ops/node-metrics.js";
import { type HealthReport, type MembershipReport, OpsServer } from "../../src/ops/ops-server.js";
import { PinoRaftLogger } from "../../src/ops/pino-logger.js";
import { renderPrometheusText } from "../../src/ops/prometheus-text.js";
import { RpcCounts } from "../../src/ops/rpc-metrics.js";

const running = (node: string, fields: Partial<MembershipReport>): MembershipReport => ({
  node,
  state: "running",
  voters: ["n1", "n2", "n3"],
  outgoingVoters: [],
  learners: [],
  recorded: [],
  ...fields,
});

describe("fresh start with an empty data folder (design safety rule 10)", () => {
  it.each<[string, MembershipReport[], string | undefined]>([
    ["no answer yet: keep asking", [], undefined],
    ["a peer with data still opening it: keep asking", [{ node: "n1", state: "starting" }], undefined],
    ["every peer is empty too: a new cluster", [{ node: "n1", state: "probing" }], "bootstrap"],
    ["a voter that never ran (late first start)", [running("n1", { recorded: ["n1", "n2"] })], "bootstrap"],
    ["a voter the cluster recorded as having run", [running("n1", { recorded: ["n1", "n2", "n3"] })], "refuse"],
    [
      "refusal wins over a peer that has not started",
      [{ node: "n2", state: "starting" }, running("n1", { recorded: ["n3"] })],
      "refuse",
    ],
    ["re-added as a learner", [running("n1", { voters: ["n1", "n2"], learners: ["n3"], recorded: ["n3"] })], "join"],
    ["removed and not yet re-added", [running("n1", { voters: ["n1", "n2"], recorded: ["n1", "n2", "n3"] })], "join"],
    [
      "an outgoing voter that ran",
      [running("n1", { voters: ["n1", "n2"], outgoingVoters: ["n1", "n2", "n3"], recorded: ["n3"] })],
      "refuse",
    ],
  ])("%s", (_name, reports, expected) => {
    expect(decideFreshStart("n3", reports)?.kind).toBe(expected);
  });

  it("a leader records only members that have run, outside joint configurations", () => {
    const status = {
      id: "n1",
      role: "leader" as const,
      voters: ["n1", "n2", "n3"],
      outgoingVoters: [],
      learners: ["n4"],
      addresses: { n2: "h:2" },
      progress: {
        n2: { match: 5 },
        n3: { match: 0 },
        n4: { match: 3 },
      } as never,
    };
    const addressOf = (id: string) => `h:${id.slice(1)}`;
    expect(membersToRecord(status, addressOf)).toEqual({ n1: "h:1", n4: "h:4" });
    expect(membersToRecord({ ...status, role: "follower" }, addressOf)).toEqual({});
    expect(membersToRecord({ ...status, outgoingVoters: ["n1", "n2"] }, addressOf)).toEqual({});
  });
});

describe("metrics", () => {
  it("renders Prometheus text with escaped label values", () => {
    const text = renderPrometheusText([
      { name: "x_total", help: "Xs.", type: "counter", samples: [{ labels: { m: 'a"b\\c\nd' }, value: 3 }] },
    ]);
    expect(text).toBe('# HELP x_total Xs.\n# TYPE x_total counter\nx_total{m="a\\"b\\\\c\\nd"} 3\n');
    expect(() => renderPrometheusText([{ name: "bad name", help: "", type: "gauge", samples: [] }])).toThrow();
  });

  it("counts gRPC calls by method and code name", () => {
    const rpcs = new RpcCounts();
    rpcs.record("/a/B", 0);
    rpcs.record("/a/B", 0);
    rpcs.record("/a/B", 14);
    expect(rpcs.count("/a/B", 0)).toBe(2);
    expect(rpcs.samples()).toEqual([
      { labels: { method: "/a/B", code: "OK" }, value: 2 },
      { labels: { method: "/a/B", code: "UNAVAILABLE" }, value: 1 },
    ]);
  });

  it("counts every term increase as elections seen and each new leader as a change", () => {
    const metrics = new NodeMetrics();
    metrics.observe({ term: 2, leader: "" });
    metrics.observe({ term: 2, leader: "n1" });
    metrics.observe({ term: 5, leader: "n2" });
    metrics.entriesApplied(4);
    const text = renderPrometheusText(metrics.families({ raft: () => undefined, transport: () => undefined }));
    expect(text).toMatch(/^lectern_raft_elections_seen_total 3$/m);
    expect(text).toMatch(/^lectern_raft_leader_changes_total 1$/m);
    expect(text).toMatch(/^lectern_raft_applied_entries_total 4$/m);
  });
});

describe("pino logger", () => {
  it("writes the node id on every line and the term once attached, without repeating node", () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    });
    const logger = PinoRaftLogger.over(pino({ level: "info", base: { node: "n1" } }, sink), "n1");
    logger.debug({}, "hidden");
    logger.info({ a: 1 }, "before raft");
    let term = 7;
    logger.attachTerm(() => term);
    logger.child({ peer: "n2" }).warn({ node: "n1" }, "with term");
    term = 8;
    logger.error({ term: 6 }, "older term kept");
    expect(lines.map((line) => [line.msg, line.node, line.term])).toEqual([
      ["before raft", "n1", undefined],
      ["with term", "n1", 7],
      ["older term kept", "n1", 6],
    ]);
    expect(lines[1].peer).toBe("n2");
  });
});

describe("operations HTTP server", () => {
  it("answers /healthz 200 only while running, /metrics as text, unknown paths 404, POST 405", async () => {
    let health: HealthReport = { node: "n1", status: "starting" };
    const ops = await OpsServer.start({
      host: "127.0.0.1",
      port: 0,
      view: { health: () => health, membership: () => ({ node: "n1", state: "probing" }), metrics: () => "m 1\n" },
    });
    try {
      const url = (path: string) => `http://127.0.0.1:${ops.port}${path}`;
      expect((await fetch(url("/healthz"))).status).toBe(503);
      health = { node: "n1", status: "running", role: "leader", term: 2, leader: "n1", commit: 4, applied: 4 };
      const ok = await fetch(url("/healthz"));
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ role: "leader", term: 2, commit: 4 });
      const metrics = await fetch(url("/metrics"));
      expect(metrics.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      expect(await metrics.text()).toBe("m 1\n");
      expect(await (await fetch(url("/membership"))).json()).toEqual({ node: "n1", state: "probing" });
      expect((await fetch(url("/nope"))).status).toBe(404);
      expect((await fetch(url("/healthz"), { method: "POST", body: "x" })).status).toBe(405);
    } finally {
      await ops.close();
    }
  });
});
