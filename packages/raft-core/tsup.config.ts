import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", level: "src/level.ts", "sim/index": "src/sim/index.ts", "sim/cli": "src/sim/cli.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
});
