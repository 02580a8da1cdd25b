import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { LmsStateMachine } from "../../src/domain/lms-state-machine.js";
import { FileStore, FileStoreError } from "../../src/store/file-store.js";
import { Cleanup, Harness, seedSchool } from "../domain/harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
async function* chunksOf(...parts: Uint8Array[]) {
  yield* parts;
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FileStoreError) return error.code;
    throw error;
  }
  return "stored";
}

describe("FileStore", () => {
  test("stores by hash, reads back, and leaves no temporary file", async () => {
    const dir = await cleanup.tempDir();
    const files = await FileStore.open(dir);
    const bytes = new TextEncoder().encode("hello world");
    await files.store(sha(bytes), bytes.byteLength, chunksOf(bytes.subarray(0, 5), bytes.subarray(5)));
    expect(await files.list()).toEqual([sha(bytes)]);
    expect(await readFile(files.pathOf(sha(bytes)), "utf8")).toBe("hello world");
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    // Storing again is harmless.
    await files.store(sha(bytes), bytes.byteLength, chunksOf(bytes));
    expect(await files.list()).toEqual([sha(bytes)]);
  });

  test("a hash mismatch, a size mismatch and an oversize file are refused and store nothing", async () => {
    const dir = await cleanup.tempDir();
    const files = await FileStore.open(dir, { maxFileBytes: 10 });
    const bytes = new TextEncoder().encode("0123456789");
    expect(await code(files.store("0".repeat(64), 10, chunksOf(bytes)))).toBe("FILE_HASH_MISMATCH");
    expect(await code(files.store(sha(bytes), 9, chunksOf(bytes)))).toBe("FILE_SIZE_MISMATCH");
    const big = new Uint8Array(11);
    expect(await code(files.store(sha(big), undefined, chunksOf(big)))).toBe("FILE_TOO_LARGE");
    expect(await code(files.store(sha(big), 11, chunksOf(big)))).toBe("FILE_TOO_LARGE");
    expect(await files.list()).toEqual([]);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });

  test("the default limit is 25 MiB and the error says what to do", async () => {
    const files = await FileStore.open(await cleanup.tempDir());
    expect(files.maxFileBytes).toBe(25 * 1024 * 1024);
    const error = await files.store("a".repeat(64), 26 * 1024 * 1024, chunksOf()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileStoreError);
    expect((error as Error).message).toMatch(/limit.*upload a smaller file/);
  });

  test("only a 64-hex-digit hash reaches a path: path tricks are refused", async () => {
    const dir = await cleanup.tempDir();
    const files = await FileStore.open(dir);
    for (const trick of ["../../etc/passwd", "/etc/passwd", "..", `${"a".repeat(63)}/`, "A".repeat(64), ""]) {
      expect(() => files.pathOf(trick)).toThrow(FileStoreError);
      expect(await code(files.store(trick, 1, chunksOf(new Uint8Array(1))))).toBe("INVALID_FILE_HASH");
      expect(await code(files.openRead(trick))).toBe("INVALID_FILE_HASH");
    }
    expect(files.pathOf("a".repeat(64)).startsWith(join(dir, "sha256"))).toBe(true);
  });
});

describe("uploads through the state machine", () => {
  test("a client file name with path tricks is only display metadata", async () => {
    const h = await Harness.memory(cleanup);
    const { s1 } = await seedSchool(h);
    const bytes = new TextEncoder().encode("root:x:0:0");
    const hash = await h.upload(s1, "up1", bytes, "../../etc/passwd");
    expect(await h.files.list()).toEqual([hash]);
    expect(h.files.pathOf(hash)).toContain(join("sha256", hash.slice(0, 2), hash));
    expect(await h.store.get("fileOwners", `${hash}/s1`)).toMatchObject({ name: "../../etc/passwd" });
    const all = await readdir(h.files.directory, { recursive: true });
    expect(all.some((name) => name.includes("passwd"))).toBe(false);
  });

  test("a hash mismatch on commit is refused; the upload stays open and nothing is stored", async () => {
    const h = await Harness.memory(cleanup);
    const { s1 } = await seedSchool(h);
    await h.ok("startUpload", s1, { uploadId: "up1" });
    await h.ok("appendUploadChunk", s1, { uploadId: "up1", offset: 0, data: Buffer.from("abc").toString("base64") });
    const wrong = await h.run("commitUpload", s1, {
      uploadId: "up1",
      sha256: "f".repeat(64),
      size: 3,
      name: "a",
      mime: "text/plain",
    });
    expect(wrong).toMatchObject({ status: "invalid", message: expect.stringContaining("SHA-256") });
    expect(await h.files.list()).toEqual([]);
    expect(await h.store.get("uploads", "up1")).toMatchObject({ state: "open" });
    expect(await h.store.get("files", "f".repeat(64))).toBeUndefined();
  });

  test("chunks past the file limit, at the wrong offset or from another user are refused", async () => {
    const h = await Harness.memory(cleanup);
    const { s1, s2 } = await seedSchool(h);
    // A machine over the same store with a 4-byte file limit.
    const small = new Harness(
      new LmsStateMachine({ store: h.store, files: h.files, maxFileBytes: 4 }),
      h.store,
      h.files,
    );
    small.index = h.index;
    small.clockMs = h.clockMs;
    await small.ok("startUpload", s1, { uploadId: "up1" });
    const data = Buffer.from("abc").toString("base64");
    await small.ok("appendUploadChunk", s1, { uploadId: "up1", offset: 0, data });
    const tooBig = await small.run("appendUploadChunk", s1, { uploadId: "up1", offset: 3, data });
    expect(tooBig).toMatchObject({ status: "invalid", message: expect.stringContaining("4-byte limit") });
    const wrongOffset = await small.run("appendUploadChunk", s1, { uploadId: "up1", offset: 0, data: "YQ==" });
    expect(wrongOffset).toMatchObject({ status: "conflict", message: expect.stringContaining("expects offset 3") });
    // Another user's upload answers like a missing one (lms.proto's NOT_FOUND for hidden objects).
    expect(await small.run("appendUploadChunk", s2, { uploadId: "up1", offset: 3, data: "YQ==" })).toEqual({
      status: "not-found",
      message: "no upload up1",
    });
    expect(await small.store.get("uploads", "up1")).toMatchObject({ receivedBytes: 3, chunkCount: 1 });
  });

  test("commit deletes the chunks; abort does too", async () => {
    const h = await Harness.memory(cleanup);
    const { s1 } = await seedSchool(h);
    await h.upload(s1, "up1", new Uint8Array(10_000).fill(7), "x.bin", 1000);
    expect(await h.store.list("uploadChunks", "up1/")).toEqual([]);
    await h.ok("startUpload", s1, { uploadId: "up2" });
    await h.ok("appendUploadChunk", s1, { uploadId: "up2", offset: 0, data: "YQ==" });
    await h.ok("abortUpload", s1, { uploadId: "up2" });
    expect(await h.store.list("uploadChunks", "up2/")).toEqual([]);
    expect((await h.run("appendUploadChunk", s1, { uploadId: "up2", offset: 1, data: "YQ==" })).status).toBe(
      "conflict",
    );
  });
});
