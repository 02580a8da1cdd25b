import type { Entry } from "@lectern/raft-core";
import { afterEach, describe, expect, test } from "vitest";
import { commandFormatVersion, decodeCommand } from "../../src/domain/command-codec.js";
import { CommandFromNewerVersionError } from "../../src/domain/lms-state-machine.js";
import { Cleanup, Harness, passwordHash, snapshotBytes } from "./harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const utf8 = (text: string) => new TextEncoder().encode(text);

/** A valid command as a newer build might change it, encoded by hand (this build's encoder refuses it). */
function rewritten(base: Record<string, unknown>, change: Record<string, unknown>): Uint8Array {
  return utf8(JSON.stringify({ ...base, ...change }));
}

describe("commands written by a newer build (rolling upgrade)", () => {
  const admin = { kind: "bootstrapAdmin", actor: null, idempotencyKey: "key-0001-bootstrap", at: 1_000 };
  const base = {
    v: commandFormatVersion,
    ...admin,
    userId: "admin",
    username: "admin",
    displayName: "Admin",
    passwordHash,
  };

  test("the decoder tells what a newer build may write from plain garbage", () => {
    const cases: [string, Uint8Array, boolean][] = [
      ["a newer format version", rewritten(base, { v: commandFormatVersion + 1 }), true],
      ["a kind this build does not know", rewritten(base, { kind: "gradeWithRubric" }), true],
      ["a field this build does not know", rewritten(base, { rubricId: "r1" }), true],
      ["an older or odd version", rewritten(base, { v: "one" }), false],
      ["a kind no build would name", rewritten(base, { kind: "drop tables" }), false],
      ["a prototype key", utf8(JSON.stringify(base).replace(/}$/, ',"__proto__":{"x":1}}')), false],
      ["a bad value of a known field", rewritten(base, { userId: "../etc" }), false],
      ["not JSON", utf8("{nope"), false],
    ];
    // The unchanged command is valid: each case fails only for its change.
    expect(decodeCommand(rewritten(base, {})).ok).toBe(true);
    for (const [name, bytes, newer] of cases) {
      const decoded = decodeCommand(bytes);
      expect(decoded.ok, name).toBe(false);
      if (!decoded.ok) expect(decoded.error.fromNewerVersion, name).toBe(newer);
    }
  });

  test("the state machine stops before applying anything of a batch with such an entry", async () => {
    const h = await Harness.memory(cleanup);
    const valid = h.entry(
      h.command("bootstrapAdmin", null, { userId: "admin", username: "admin", displayName: "Admin", passwordHash }),
    );
    const before = await snapshotBytes(h.store);
    const newer: Entry = { index: valid.index + 1, term: 1, type: "normal", data: rewritten(base, { kind: "grade2" }) };
    const error = await h.machine.apply([valid, newer]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandFromNewerVersionError);
    expect(error).toMatchObject({ index: newer.index });
    expect(String((error as Error).message)).toContain("upgrade this node");
    // Nothing of the call was applied: the earlier entry is applied again after the upgrade.
    expect(h.machine.appliedIndex()).toBe(0);
    expect(await h.store.get("users", "admin")).toBeUndefined();
    expect((await snapshotBytes(h.store)).equals(before)).toBe(true);
  });

  test("plain garbage is still applied as invalid, the same on every node of one build", async () => {
    const h = await Harness.memory(cleanup);
    const results = await h.machine.apply([
      { index: 1, term: 1, type: "normal", data: rewritten(base, { kind: "drop tables" }) },
      { index: 2, term: 1, type: "normal", data: rewritten(base, { userId: "../etc" }) },
    ]);
    expect(results).toMatchObject([{ status: "invalid" }, { status: "invalid" }]);
    expect(h.machine.appliedIndex()).toBe(2);
  });
});
