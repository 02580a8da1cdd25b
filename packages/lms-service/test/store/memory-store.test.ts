import { MemoryLmsStore } from "../../src/store/memory-store.js";
import { runStoreContract } from "./contract.js";

runStoreContract({
  name: "MemoryLmsStore (reference)",
  open: async () => new MemoryLmsStore(),
  // A memory store has nothing to reopen: it is its own restart.
  reopen: async (store) => store,
  cleanup: async () => {},
});
