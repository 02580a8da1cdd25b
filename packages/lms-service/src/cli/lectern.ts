#!/usr/bin/env node
import { exitOnBootstrapFailure, runBootstrapAdmin } from "../node/bootstrap-admin.js";
import { exitOnStartFailure, startNode } from "../node/main.js";
import { parseLecternArgs } from "./lectern-args.js";
import { exitOnUsageError } from "./usage-error.js";

/**
 * The `lectern` command for operators (package.json "bin"):
 *
 *   lectern node [--id n1] [--peers n1=127.0.0.1:7001,...] [--data-dir DIR] [--listen HOST:PORT] ...
 *   lectern bootstrap-admin --username admin
 *
 * Flags override the environment variables of the same settings (see `lectern node --help`); the
 * node starts exactly as `node dist/node/main.js` starts it. A command line it cannot run exits
 * with code 2 and says why.
 */
function runLectern(argv: readonly string[]): void {
  let invocation: ReturnType<typeof parseLecternArgs>;
  try {
    invocation = parseLecternArgs(argv, process.env);
  } catch (error) {
    exitOnUsageError(error);
  }
  switch (invocation.command) {
    case "help":
      process.stdout.write(invocation.text);
      return;
    case "node":
      startNode(invocation.env).catch(exitOnStartFailure);
      return;
    case "bootstrap-admin":
      runBootstrapAdmin(invocation.request, invocation.env).catch(exitOnBootstrapFailure);
      return;
  }
}

runLectern(process.argv.slice(2));
