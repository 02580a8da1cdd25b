import { MemoryStorage } from "../../src/storage/memory-storage.js";
import { runStorageContract, type StorageHarness } from "./contract.js";

/** MemoryStorage is its own disk: a restart reuses the same object (close keeps the data). */
function memoryHarness(storage: MemoryStorage): StorageHarness {
  return {
    storage,
    settle: (promise) => promise,
    reopen: async () => {
      await storage.close();
      return memoryHarness(storage);
    },
    cleanup: () => storage.close(),
  };
}

runStorageContract("MemoryStorage", async () => memoryHarness(new MemoryStorage()));
