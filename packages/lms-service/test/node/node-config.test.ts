import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadClusterSecrets } from "../../src/node/cluster-secrets.js";
import { DEFAULT_MAX_FILE_BYTES, DEFAULT_OLLAMA_MODEL, loadNodeConfig } from "../../src/node/node-config.js";

describe("loadNodeConfig", () => {
  it("makes a node of the default local 3-node cluster from NODE_ID alone", () => {
    const config = loadNodeConfig({ NODE_ID: "n2" }, "/srv/lectern");
    expect([...config.peers.keys()]).toEqual(["n1", "n2", "n3"]);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 7002 });
    expect(config.dataDir).toBe("/srv/lectern/data/n2");
    expect(config.fileStorageDir).toBe("/srv/lectern/data/n2/files");
    expect(config.secretsFile).toBe("/srv/lectern/data/cluster-secrets.json");
    expect(config.ollamaModel).toBe(DEFAULT_OLLAMA_MODEL);
    expect(config.maxFileBytes).toBe(DEFAULT_MAX_FILE_BYTES);
    expect(config.mongoUri).toBeUndefined();
  });

  it("accepts SERVER_NAME for NODE_ID and reads every setting", () => {
    const config = loadNodeConfig(
      {
        SERVER_NAME: "b",
        PEERS: "a=127.0.0.1:9001,b=127.0.0.1:9002",
        DATA_DIR: "/d",
        FILE_STORAGE_DIR: "/f",
        MONGO_URI: "mongodb://127.0.0.1:27017",
        OLLAMA_URL: "http://127.0.0.1:1234",
        OLLAMA_MODEL: "llama3",
        MAX_FILE_BYTES: "1000",
        JWT_SECRET: "j",
        CLUSTER_SECRET: "c",
      },
      "/",
    );
    expect(config).toMatchObject({
      nodeId: "b",
      listen: { host: "127.0.0.1", port: 9002 },
      dataDir: "/d/b",
      fileStorageDir: "/f",
      mongoUri: "mongodb://127.0.0.1:27017",
      ollamaUrl: "http://127.0.0.1:1234",
      ollamaModel: "llama3",
      maxFileBytes: 1000,
      jwtSecret: "j",
      clusterSecret: "c",
    });
  });

  it.each([
    [{}, /NODE_ID is not set/],
    [{ NODE_ID: "n9" }, /not one of PEERS/],
    [{ NODE_ID: "n1", MONGO_URI: "http://x" }, /MONGO_URI/],
    [{ NODE_ID: "n1", OLLAMA_URL: "not a url" }, /OLLAMA_URL/],
    [{ NODE_ID: "n1", OLLAMA_URL: "file:///etc/passwd" }, /OLLAMA_URL/],
    [{ NODE_ID: "n1", MAX_FILE_BYTES: "-5" }, /MAX_FILE_BYTES/],
    [{ NODE_ID: "n1", PEERS: "n1=127.0.0.1" }, /PEERS/],
  ])("refuses a bad setting with a message naming it: %j", (env, message) => {
    expect(() => loadNodeConfig(env)).toThrow(message);
  });
});

describe("loadClusterSecrets", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  async function tempFile(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "lectern-secrets-"));
    dirs.push(dir);
    return join(dir, "sub", "cluster-secrets.json");
  }

  it("creates one shared file (mode 0600) and every node starting together reads the same secrets", async () => {
    const file = await tempFile();
    // Many at once: a reader must never see the file between its creation and its content.
    const all = await Promise.all(Array.from({ length: 20 }, () => loadClusterSecrets({ file })));
    expect(new Set(all.map((s) => s.jwtSecret)).size).toBe(1);
    expect(new Set(all.map((s) => s.clusterSecret)).size).toBe(1);
    expect(all[0].jwtSecret).not.toBe(all[0].clusterSecret);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual(all[0]);
    expect(await readdir(dirname(file))).toEqual(["cluster-secrets.json"]);
  });

  it("prefers secrets from the environment and refuses short or damaged ones", async () => {
    const file = await tempFile();
    const long = "x".repeat(40);
    expect(await loadClusterSecrets({ file, jwtSecret: long, clusterSecret: long })).toEqual({
      jwtSecret: long,
      clusterSecret: long,
    });
    await expect(loadClusterSecrets({ file, jwtSecret: "short", clusterSecret: long })).rejects.toThrow(/shorter/);
    const broken = await tempFile();
    await loadClusterSecrets({ file: broken });
    await writeFile(broken, "{not json");
    await expect(loadClusterSecrets({ file: broken })).rejects.toThrow(/not valid JSON/);
  });
});
