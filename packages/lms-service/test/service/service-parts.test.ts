import { status } from "@grpc/grpc-js";
import {
  EntryTooLargeError,
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  ProposalDroppedError,
  ReadFailedError,
  StoppedError,
} from "@lectern/raft-core";
import { describe, expect, it } from "vitest";
import { AuthenticationError } from "../../src/auth/tokens.js";
import { MalformedCommandError } from "../../src/domain/command-codec.js";
import { conflict, forbidden, invalid, notFound } from "../../src/domain/results.js";
import { LmsCallError } from "../../src/service/call-error.js";
import {
  checkIdempotencyKey,
  derivedIdempotencyKey,
  maxPageItemBytes,
  paginate,
} from "../../src/service/call-helpers.js";
import { rejectionError, toCallError } from "../../src/service/error-mapping.js";
import { normalizeContentType, sanitizeFileName } from "../../src/service/file-service.js";
import { dueAtToDomain, toAssignment } from "../../src/service/proto-mapping.js";
import { monotonicStamper } from "../../src/service/service-context.js";
import { recordableAnswer } from "../../src/service/tutor-service.js";
import { TutorUnavailableError } from "../../src/tutor/tutor-errors.js";

describe("file names from clients", () => {
  it.each([
    ["../../../etc/passwd", "passwd"],
    ["..\\..\\windows\\system32\\cmd.exe", "cmd.exe"],
    ["/absolute/path/report.pdf", "report.pdf"],
    ["..", "file"],
    ["", "file"],
    ["...hidden", "hidden"],
    ['quote"d\u0000name\n.txt', "quotedname.txt"],
    ["résumé 2026.pdf", "résumé 2026.pdf"],
  ])("%j becomes the display name %j (no path, no control characters)", (raw, expected) => {
    const name = sanitizeFileName(raw);
    expect(name).toBe(expected);
    expect(name).not.toMatch(/[/\\]/);
    expect([...name].every((char) => char.charCodeAt(0) >= 0x20)).toBe(true);
  });

  it("cuts long names to 255 characters without splitting a surrogate pair", () => {
    const name = sanitizeFileName(`${"a".repeat(254)}😀tail`);
    expect(name.length).toBeLessThanOrEqual(255);
    expect(name).toBe("a".repeat(254));
  });

  it("keeps a plain MIME type and replaces anything else", () => {
    expect(normalizeContentType("Application/PDF; charset=binary")).toBe("application/pdf");
    expect(normalizeContentType("")).toBe("application/octet-stream");
    expect(normalizeContentType("text/html<script>")).toBe("application/octet-stream");
  });
});

describe("errors as gRPC statuses", () => {
  it("maps every retryable Raft error to UNAVAILABLE with a stable lectern-error code", () => {
    const cases: [Error, string][] = [
      [new NotLeaderError("n2"), "NOT_LEADER"],
      [new ProposalDroppedError(7), "LEADER_CHANGED"],
      [new OutcomeUnknownError("timeout"), "OUTCOME_UNKNOWN"],
      [new OverloadedError("queue"), "OVERLOADED"],
      [new StoppedError(), "STOPPED"],
      [new ReadFailedError("lost leadership"), "READ_FAILED"],
    ];
    for (const [error, code] of cases) {
      const mapped = toCallError(error);
      expect(mapped.grpcCode, code).toBe(status.UNAVAILABLE);
      expect(mapped.lecternCode).toBe(code);
    }
    expect(toCallError(new EntryTooLargeError(10, 5)).grpcCode).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("maps auth, tutor and codec errors, and hides anything unexpected", () => {
    expect(toCallError(new AuthenticationError("expired")).grpcCode).toBe(status.UNAUTHENTICATED);
    const tutor = toCallError(new TutorUnavailableError("no model server"));
    expect([tutor.grpcCode, tutor.lecternCode]).toEqual([status.UNAVAILABLE, "TUTOR_UNAVAILABLE"]);
    expect(toCallError(new MalformedCommandError("title", "is missing")).grpcCode).toBe(status.INVALID_ARGUMENT);
    const internal = toCallError(new Error("secret path /data/x"));
    expect(internal.grpcCode).toBe(status.INTERNAL);
    expect(internal.message).not.toContain("/data/x");
    const own = new LmsCallError(status.NOT_FOUND, "no course");
    expect(toCallError(own)).toBe(own);
  });

  it("maps domain rejections by their status", () => {
    expect(rejectionError(forbidden("no")).grpcCode).toBe(status.PERMISSION_DENIED);
    expect(rejectionError(notFound("no")).grpcCode).toBe(status.NOT_FOUND);
    expect(rejectionError(invalid("no")).grpcCode).toBe(status.INVALID_ARGUMENT);
    expect(rejectionError(conflict("taken")).grpcCode).toBe(status.FAILED_PRECONDITION);
    expect(rejectionError(conflict("taken"), status.ALREADY_EXISTS).grpcCode).toBe(status.ALREADY_EXISTS);
    const reused = conflict("this idempotency key was used for a different request; use a new key");
    expect(rejectionError(reused, status.ALREADY_EXISTS).grpcCode).toBe(status.INVALID_ARGUMENT);
  });
});

describe("request helpers", () => {
  it("pages with a token until the end", () => {
    const items = Array.from({ length: 7 }, (_, i) => i);
    const first = paginate(items, 3, "");
    expect(first).toEqual({ page: [0, 1, 2], nextPageToken: "3" });
    const second = paginate(items, 3, first.nextPageToken);
    const third = paginate(items, 3, second.nextPageToken);
    expect(third).toEqual({ page: [6], nextPageToken: "" });
    expect(paginate(items, 0, "").page).toHaveLength(7);
    expect(() => paginate(items, 501, "")).toThrow(/page_size/);
    expect(() => paginate(items, 3, "-1")).toThrow(/page_token/);
  });

  it("ends a page early rather than pass maxPageItemBytes, but never gives an empty one", () => {
    // JSON of each item: 600,002 bytes, so three fit in 2 MiB and a fourth would not.
    const big = Array.from({ length: 8 }, (_, i) => String(i).repeat(600_000));
    const pages: string[][] = [];
    let token = "";
    do {
      const { page, nextPageToken } = paginate(big, 500, token);
      pages.push(page);
      token = nextPageToken;
    } while (token !== "");
    expect(pages.map((page) => page.length)).toEqual([3, 3, 2]);
    expect(pages.flat()).toEqual(big);
    // An item larger than the whole budget still goes, alone.
    const huge = ["x".repeat(maxPageItemBytes + 1), "y"];
    expect(paginate(huge, 500, "")).toEqual({ page: [huge[0]], nextPageToken: "1" });
  });

  it("checks idempotency keys and derives per-part keys the domain accepts", () => {
    expect(() => checkIdempotencyKey("short")).toThrow(/idempotency_key/);
    expect(() => checkIdempotencyKey("has spaces in it, too many")).toThrow(/idempotency_key/);
    const key = "k".repeat(128);
    expect(checkIdempotencyKey(key)).toBe(key);
    const derived = derivedIdempotencyKey(key, "o26214400");
    expect(derived.length).toBeLessThanOrEqual(128);
    expect(derived).toMatch(/^[A-Za-z0-9_.:-]{8,128}$/);
    expect(derivedIdempotencyKey(key, "start")).toBe(derivedIdempotencyKey(key, "start"));
    expect(derivedIdempotencyKey(key, "start")).not.toBe(derivedIdempotencyKey(`${key.slice(1)}x`, "start"));
  });

  it("stamps monotonic times even when the wall clock steps back", () => {
    const times = [1000, 1005, 900, 1010];
    const stamp = monotonicStamper(() => times.shift() ?? 0);
    expect([stamp(), stamp(), stamp(), stamp()]).toEqual([1000, 1005, 1005, 1010]);
  });

  it("keeps 'no due date' as 0 for clients while no submission is ever late against it", () => {
    const dueAt = dueAtToDomain(0);
    expect(dueAt).toBeGreaterThan(Date.now() * 1000);
    const record = {
      assignmentId: "a",
      courseId: "c",
      title: "t",
      description: "",
      dueAt,
      maxPoints: 10,
      createdBy: "u",
      createdAt: 1,
    };
    expect(toAssignment(record).dueAtMs).toBe(0);
    expect(dueAtToDomain(1234)).toBe(1234);
  });

  it("cleans a model's answer so the log's text rules accept it", () => {
    expect(recordableAnswer("ok\u0007 line\n\ttab\u001b[0m")).toBe("ok line\n\ttab[0m");
    expect(recordableAnswer("x\uD800y")).toBe("xy");
    expect(recordableAnswer("a".repeat(40_000))).toHaveLength(32_000);
  });
});
