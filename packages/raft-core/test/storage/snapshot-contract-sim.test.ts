import { Prng } from "../../src/sim/prng.js";
import { SimStorage } from "../../src/sim/sim-storage.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { runSnapshotStorageContract, type SnapshotStorageHarness } from "./snapshot-contract.js";

/** Virtual time a single settle may advance before the test gives up. */
const SETTLE_LIMIT_MS = 60_000;

/**
 * SimStorage becomes durable on a virtual clock: settling runs the clock until the promise
 * settles. The storage object is the disk, so a restart reuses it. Small snapshot blocks make
 * every snapshot of the contract span several checksummed blocks.
 */
function simHarness(clock: VirtualClock, storage: SimStorage): SnapshotStorageHarness {
  return {
    storage,
    async settle<T>(promise: Promise<T>): Promise<T> {
      let settled = false;
      const observed = promise.finally(() => {
        settled = true;
      });
      observed.catch(() => undefined);
      await clock.runWhile(() => !settled, clock.now() + SETTLE_LIMIT_MS);
      if (!settled) throw new Error(`the storage promise did not settle within ${SETTLE_LIMIT_MS} virtual ms`);
      return observed;
    },
    reopen: async () => {
      await storage.close();
      return simHarness(clock, storage);
    },
    cleanup: () => storage.close(),
  };
}

let seed = 0;
runSnapshotStorageContract("SimStorage", async () => {
  seed++;
  const clock = new VirtualClock();
  return simHarness(clock, new SimStorage(clock, Prng.fromSeed(seed).fork("disk"), { snapshotBlockBytes: 4 }));
});
