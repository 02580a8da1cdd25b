import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { type ServerReadableStream, status } from "@grpc/grpc-js";
import { mimePattern, sha256Pattern } from "../domain/identifiers.js";
import { maxFileNameChars, maxUploadChunkBytes } from "../domain/limits.js";
import { fileAccess } from "../domain/queries.js";
import type { FileServiceServer, UploadFileHeader, UploadFileRequest, UploadFileResponse } from "../gen/lms.js";
import { fileChunkMaxBytes } from "../transport/limits.js";
import { invalidArgument, LmsCallError } from "./call-error.js";
import {
  authenticate,
  type Caller,
  checkIdempotencyKey,
  clientStream,
  derivedIdempotencyKey,
  propose,
  queried,
  readBarrier,
  serverStream,
  stamp,
} from "./call-helpers.js";
import { toFileRef } from "./proto-mapping.js";
import type { LmsServiceContext } from "./service-context.js";

/** Bytes per chunk of a download. */
export const downloadChunkBytes = 256 * 1024;
const fallbackFileName = "file";
const fallbackContentType = "application/octet-stream";

/**
 * A display name from whatever the client sent: the last path segment only, control characters
 * and quotes removed, at most {@link maxFileNameChars} characters. It is stored as metadata and
 * never becomes a path (files live under their SHA-256).
 */
export function sanitizeFileName(raw: string): string {
  const lastSegment = raw.split(/[/\\]/).pop() ?? "";
  let name = "";
  for (const char of lastSegment) {
    const unit = char.codePointAt(0) ?? 0;
    if (unit < 0x20 || unit === 0x7f || char === '"') continue;
    name += char;
  }
  name = name.trim().replace(/^\.+/, "");
  if (name.length > maxFileNameChars) name = name.slice(0, maxFileNameChars);
  // Slicing may split a surrogate pair; drop a dangling half.
  name = name.replace(/[\uD800-\uDBFF]$/, "");
  return name === "" ? fallbackFileName : name;
}

/** A lower-case `type/subtype` without parameters, or application/octet-stream. */
export function normalizeContentType(raw: string): string {
  const type = raw.split(";")[0].trim().toLowerCase();
  return mimePattern.test(type) ? type : fallbackContentType;
}

function tooLarge(context: LmsServiceContext, bytes: number): LmsCallError {
  return new LmsCallError(
    status.RESOURCE_EXHAUSTED,
    `the file is larger than this cluster's ${context.maxFileBytes}-byte upload limit (got at least ${bytes} bytes): upload a smaller file`,
    "FILE_TOO_LARGE",
  );
}

/** What the upload stream delivered, spooled to a local temp file. */
interface SpooledUpload {
  readonly header: UploadFileHeader;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Reads the whole upload stream into a spool file, hashing as it goes, and checks the size limit
 * (as soon as it is passed), chunk sizes and the client's hash. Nothing is proposed before the
 * file is known to be acceptable, so a refused upload changes nothing in the cluster.
 */
async function spool(
  context: LmsServiceContext,
  call: ServerReadableStream<UploadFileRequest, UploadFileResponse>,
  path: string,
): Promise<SpooledUpload> {
  const hash = createHash("sha256");
  const handle = await open(path, "wx", 0o600);
  let header: UploadFileHeader | undefined;
  let size = 0;
  try {
    for await (const message of call as AsyncIterable<UploadFileRequest>) {
      const part = message.part;
      if (part === undefined) throw invalidArgument("part", "must be a header or a chunk");
      if (part.$case === "header") {
        if (header !== undefined) throw invalidArgument("header", "must be sent once, first");
        header = part.value;
        if (header.sizeBytes > context.maxFileBytes) throw tooLarge(context, header.sizeBytes);
        continue;
      }
      if (header === undefined) throw invalidArgument("header", "must come before the first chunk");
      const chunk = part.value;
      if (chunk.byteLength > fileChunkMaxBytes)
        throw invalidArgument("chunk", `must be at most ${fileChunkMaxBytes} bytes`);
      size += chunk.byteLength;
      if (size > context.maxFileBytes) throw tooLarge(context, size);
      hash.update(chunk);
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  if (header === undefined) throw invalidArgument("header", "is missing: send an UploadFileHeader first");
  const sha256 = hash.digest("hex");
  if (header.sizeBytes !== 0 && header.sizeBytes !== size) {
    throw invalidArgument("size_bytes", `says ${header.sizeBytes} bytes, but ${size} arrived`);
  }
  if (header.sha256 !== "" && header.sha256 !== sha256) {
    throw invalidArgument("sha256", `does not match the content (the node computed ${sha256}); nothing was stored`);
  }
  return { header, path, size, sha256 };
}

/** The spool file in pieces of the domain's chunk size (the last one shorter). */
async function* spoolChunks(path: string): AsyncGenerator<Buffer> {
  const stream = createReadStream(path, { highWaterMark: maxUploadChunkBytes });
  let pending: Buffer = Buffer.alloc(0);
  for await (const data of stream as AsyncIterable<Buffer>) {
    pending = pending.byteLength === 0 ? data : Buffer.concat([pending, data]);
    while (pending.byteLength >= maxUploadChunkBytes) {
      yield pending.subarray(0, maxUploadChunkBytes);
      pending = pending.subarray(maxUploadChunkBytes);
    }
  }
  if (pending.byteLength > 0) yield pending;
}

/**
 * Replicates a spooled file: startUpload, one appendUploadChunk per piece, commitUpload. Each
 * command's idempotency key derives from the client's key and the piece's offset, so a retried
 * upload (on any node) replays what was already applied and continues.
 */
async function replicate(context: LmsServiceContext, caller: Caller, upload: SpooledUpload, clientKey: string) {
  const keyFor = (part: string) => derivedIdempotencyKey(clientKey, part);
  const { uploadId } = await propose(context, {
    kind: "startUpload",
    ...stamp(context, caller.actor, keyFor("start")),
    uploadId: randomUUID(),
  });
  let offset = 0;
  for await (const piece of spoolChunks(upload.path)) {
    await propose(context, {
      kind: "appendUploadChunk",
      ...stamp(context, caller.actor, keyFor(`o${offset}`)),
      uploadId,
      offset,
      data: piece.toString("base64"),
    });
    offset += piece.byteLength;
  }
  const name = sanitizeFileName(upload.header.name);
  const mime = normalizeContentType(upload.header.contentType);
  await propose(context, {
    kind: "commitUpload",
    ...stamp(context, caller.actor, keyFor("commit")),
    uploadId,
    sha256: upload.sha256,
    size: upload.size,
    name,
    mime,
  });
  return toFileRef({ sha256: upload.sha256, name, mime, size: upload.size });
}

/** FileService: uploads (client stream) and downloads (server stream). */
export function fileService(context: LmsServiceContext, spoolDirectory: string): FileServiceServer {
  return {
    upload: clientStream(context, async (call) => {
      const caller = await authenticate(context, call.metadata);
      await mkdir(spoolDirectory, { recursive: true });
      const path = join(spoolDirectory, `${randomUUID()}.upload`);
      try {
        const upload = await spool(context, call, path);
        const clientKey = checkIdempotencyKey(upload.header.idempotencyKey);
        if (upload.header.sha256 !== "" && !sha256Pattern.test(upload.header.sha256)) {
          throw invalidArgument("sha256", "must be 64 lower-case hex digits");
        }
        return { file: await replicate(context, caller, upload, clientKey) };
      } finally {
        await rm(path, { force: true });
      }
    }),

    download: serverStream(context, async (request, call) => {
      const caller = await authenticate(context, call.metadata);
      if (!sha256Pattern.test(request.fileId)) throw invalidArgument("file_id", "must be a file id (a SHA-256)");
      await readBarrier(context, request.consistency);
      const file = queried(await fileAccess(context.store, caller.actor, request.fileId));
      if (!(await context.files.has(file.sha256))) {
        // A node that installed a snapshot copies the files it names from its peers afterwards
        // (files/missing-file-fetcher.ts); until then another node can serve the file.
        throw new LmsCallError(
          status.UNAVAILABLE,
          `file ${file.sha256} is not yet copied to this node; retry shortly, or ask another node`,
          "FILE_NOT_YET_COPIED",
        );
      }
      const stream = createReadStream(context.files.pathOf(file.sha256), { highWaterMark: downloadChunkBytes });
      try {
        call.write({ part: { $case: "header", value: { file: toFileRef(file) } } });
        for await (const data of stream as AsyncIterable<Buffer>) {
          if (call.cancelled) return;
          if (!call.write({ part: { $case: "chunk", value: data } })) await once(call, "drain");
        }
      } finally {
        stream.destroy();
      }
    }),
  };
}
