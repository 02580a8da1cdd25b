import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";
import { expect, test } from "vitest";
import type { LmsStore } from "../../src/store/lms-store.js";
import { MongoLmsStore } from "../../src/store/mongo-store.js";
import { runStoreContract } from "./contract.js";

const skipReason = "MongoDB contract suite SKIPPED: MONGO_URI not set/unreachable";
const connectTimeoutMs = 1500;
const uri = process.env.MONGO_URI;

/** True when a MongoDB server answers at `uri` within the timeout. */
async function reachable(address: string | undefined): Promise<boolean> {
  if (address === undefined || address === "") return false;
  const client = new MongoClient(address, {
    serverSelectionTimeoutMS: connectTimeoutMs,
    connectTimeoutMS: connectTimeoutMs,
  });
  try {
    await client.connect();
    await client.db("admin").command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => {});
  }
}

if (uri !== undefined && (await reachable(uri))) {
  const opened: { store: LmsStore; databaseName: string }[] = [];
  const openNamed = async (databaseName: string) => {
    const store = await MongoLmsStore.open(uri, { databaseName, connectTimeoutMs });
    opened.push({ store, databaseName });
    return store;
  };
  runStoreContract({
    name: "MongoLmsStore",
    open: () => openNamed(`lectern_test_${randomUUID().replaceAll("-", "")}`),
    reopen: async (store) => {
      const entry = opened.find((candidate) => candidate.store === store);
      if (entry === undefined) throw new Error("unknown store");
      await store.close();
      opened.splice(opened.indexOf(entry), 1);
      return openNamed(entry.databaseName);
    },
    cleanup: async () => {
      const client = new MongoClient(uri);
      try {
        for (const { store, databaseName } of opened.splice(0)) {
          await store.close().catch(() => {});
          await client.db(databaseName).dropDatabase();
        }
      } finally {
        await client.close();
      }
    },
  });
} else {
  console.warn(skipReason);
  test.skip(skipReason, () => {});
}

test("MongoLmsStore.open fails fast when no server answers", async () => {
  const started = Date.now();
  await expect(
    MongoLmsStore.open("mongodb://127.0.0.1:9/?directConnection=true", {
      databaseName: "unused",
      connectTimeoutMs: 300,
    }),
  ).rejects.toThrow();
  expect(Date.now() - started).toBeLessThan(5000);
});
