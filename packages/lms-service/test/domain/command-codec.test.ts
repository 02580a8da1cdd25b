import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  decodeCommand,
  encodeCommand,
  MalformedCommandError,
  requestFingerprint,
} from "../../src/domain/command-codec.js";
import type { LmsCommand } from "../../src/domain/commands.js";
import { maxCommandBytes, maxTitleChars, maxUploadChunkBytes } from "../../src/domain/limits.js";
import { passwordHash } from "./harness.js";

const alice = { userId: "alice", role: "instructor" } as const;
const course: LmsCommand = {
  kind: "createCourse",
  actor: alice,
  idempotencyKey: "key-00000001",
  at: 1_700_000_000_000,
  courseId: "c1",
  title: "Algebra",
  description: "Linear\nequations",
};

const utf8 = (text: string) => new TextEncoder().encode(text);
const raw = (value: object) => utf8(JSON.stringify({ v: 1, ...value }));

function problemOf(value: object): string {
  const decoded = decodeCommand(raw(value));
  if (decoded.ok) throw new Error("expected a malformed command");
  expect(decoded.error).toBeInstanceOf(MalformedCommandError);
  expect(decoded.error.code).toBe("MALFORMED_COMMAND");
  return `${decoded.error.field}: ${decoded.error.problem}`;
}

describe("command codec", () => {
  test("round trip, canonical bytes", () => {
    const bytes = encodeCommand(course);
    expect(decodeCommand(bytes)).toEqual({ ok: true, command: course });
    const reordered = Object.fromEntries(Object.entries(course).reverse()) as unknown as LmsCommand;
    expect(Buffer.from(encodeCommand(reordered)).equals(Buffer.from(bytes))).toBe(true);
  });

  test("malformed input is a typed error, never a throw (table)", () => {
    const cases: [string, Uint8Array, string][] = [
      ["not JSON", utf8("{nope"), "not UTF-8 JSON"],
      ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), "not UTF-8 JSON"],
      ["an array", utf8("[1]"), "must be a JSON object"],
      ["no version", utf8(JSON.stringify(course)), "must be 1"],
      ["oversized", new Uint8Array(maxCommandBytes + 1), "above the"],
    ];
    for (const [name, bytes, expected] of cases) {
      const decoded = decodeCommand(bytes);
      expect(decoded.ok, name).toBe(false);
      if (!decoded.ok) expect(decoded.error.message, name).toContain(expected);
    }
  });

  test("every field is checked (table)", () => {
    const cases: [object, string][] = [
      [{ ...course, kind: "dropDatabase" }, "kind: names no command"],
      [{ ...course, extra: 1 }, "extra: is not a field of createCourse"],
      [Object.assign(JSON.parse('{"__proto__":{"polluted":true}}'), course), "__proto__: is not a field"],
      [{ ...course, actor: null }, "actor: is required"],
      [{ ...course, actor: { userId: "alice", role: "root" } }, "actor: role must be"],
      [{ ...course, actor: { userId: "a/b", role: "student" } }, "actor: userId must be an id"],
      [{ ...course, idempotencyKey: "short" }, "idempotencyKey"],
      [{ ...course, at: -1 }, "at:"],
      [{ ...course, at: 1.5 }, "at:"],
      [{ ...course, courseId: "../etc" }, "courseId: must be an id"],
      [{ ...course, courseId: { $gt: "" } }, "courseId: must be an id"],
      [{ ...course, title: "" }, "title: must have at least 1"],
      [{ ...course, title: "   " }, "title: must not be blank"],
      [{ ...course, title: "x".repeat(maxTitleChars + 1) }, "title: must have at most"],
      [{ ...course, title: "a\nb" }, "title: must not contain control characters"],
      [{ ...course, description: "nul\u0000" }, "description: must not contain control characters"],
      [{ ...course, description: "\ud800" }, "description: must be well-formed Unicode"],
      [{ ...course, title: undefined }, "title: is missing"],
      [
        {
          kind: "grade",
          actor: alice,
          idempotencyKey: "key-00000002",
          at: 1,
          assignmentId: "a1",
          studentId: "s1",
          points: 1.234,
          feedback: "",
        },
        "points: must have at most two decimals",
      ],
      [
        {
          kind: "grade",
          actor: alice,
          idempotencyKey: "key-00000002",
          at: 1,
          assignmentId: "a1",
          studentId: "s1",
          points: -1,
          feedback: "",
        },
        "points: must be a number",
      ],
      [
        {
          kind: "appendUploadChunk",
          actor: alice,
          idempotencyKey: "key-00000003",
          at: 1,
          uploadId: "u1",
          offset: 0,
          data: "YQ",
        },
        "data: must be non-empty padded base64",
      ],
      [
        {
          kind: "appendUploadChunk",
          actor: alice,
          idempotencyKey: "key-00000003",
          at: 1,
          uploadId: "u1",
          offset: 0,
          data: "YR==",
        },
        "data: must be canonical base64",
      ],
      [
        {
          kind: "appendUploadChunk",
          actor: alice,
          idempotencyKey: "key-00000003",
          at: 1,
          uploadId: "u1",
          offset: 0,
          data: Buffer.alloc(maxUploadChunkBytes + 3).toString("base64"),
        },
        "data: must decode to at most",
      ],
      [
        {
          kind: "commitUpload",
          actor: alice,
          idempotencyKey: "key-00000004",
          at: 1,
          uploadId: "u1",
          sha256: "ABC",
          size: 1,
          name: "x",
          mime: "text/plain",
        },
        "sha256:",
      ],
      [
        {
          kind: "commitUpload",
          actor: alice,
          idempotencyKey: "key-00000004",
          at: 1,
          uploadId: "u1",
          sha256: "a".repeat(64),
          size: 1,
          name: "x",
          mime: "text/html; charset=x",
        },
        "mime:",
      ],
      [
        {
          kind: "submit",
          actor: alice,
          idempotencyKey: "key-00000005",
          at: 1,
          submissionId: "s",
          assignmentId: "a1",
          fileHashes: ["a".repeat(64), "a".repeat(64)],
          comment: "",
        },
        "fileHashes: must not repeat",
      ],
      [
        {
          kind: "submit",
          actor: alice,
          idempotencyKey: "key-00000005",
          at: 1,
          submissionId: "s",
          assignmentId: "a1",
          fileHashes: Array.from({ length: 11 }, (_, i) => i.toString(16).repeat(64)),
          comment: "",
        },
        "fileHashes: must have from 0 to 10",
      ],
      [
        {
          kind: "registerStudent",
          actor: null,
          idempotencyKey: "key-00000006",
          at: 1,
          userId: "u",
          username: "Ann",
          displayName: "A",
          passwordHash,
        },
        "username:",
      ],
      [
        {
          kind: "registerStudent",
          actor: null,
          idempotencyKey: "key-00000006",
          at: 1,
          userId: "u",
          username: "ann",
          displayName: "A",
          passwordHash: "plain",
        },
        "passwordHash:",
      ],
    ];
    for (const [value, expected] of cases) expect(problemOf(value)).toContain(expected);
  });

  test("an anonymous command may come without an actor", () => {
    const register: LmsCommand = {
      kind: "registerStudent",
      actor: null,
      idempotencyKey: "key-00000007",
      at: 5,
      userId: "u1",
      username: "ann.lee",
      displayName: "Ann",
      passwordHash,
    };
    expect(decodeCommand(encodeCommand(register))).toEqual({ ok: true, command: register });
  });

  test("encode refuses an invalid command (the node never proposes one)", () => {
    expect(() => encodeCommand({ ...course, title: "" })).toThrow(MalformedCommandError);
  });

  test("decode never throws on arbitrary bytes or JSON", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        expect(decodeCommand(bytes).ok).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decoded = decodeCommand(utf8(JSON.stringify(value) ?? "null"));
        expect(typeof decoded.ok).toBe("boolean");
      }),
    );
  });

  test("the fingerprint ignores stamped fields and sees client fields", () => {
    const retried = { ...course, courseId: "c2", at: 9, idempotencyKey: "key-99999999" } as LmsCommand;
    expect(requestFingerprint(retried)).toBe(requestFingerprint(course));
    expect(requestFingerprint({ ...course, title: "Other" } as LmsCommand)).not.toBe(requestFingerprint(course));
  });
});
