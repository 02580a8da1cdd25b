#!/usr/bin/env node
// Shim so the bin links before the first build; the CLI itself lives in dist/.
import("../dist/sim/cli.js")
  .then((m) => m.main(process.argv.slice(2)))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 2;
    },
  );
