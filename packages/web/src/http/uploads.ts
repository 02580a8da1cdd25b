import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyRequest } from "fastify";
import type { SpooledFile } from "../lms-api.js";
import { formatBytes } from "../views/format.js";
import type { FormBody } from "./forms.js";
import { maxFieldChars } from "./forms.js";
import { badRequest, HttpError } from "./http-error.js";

/** Default largest upload, like the service's default file limit. */
export const defaultMaxUploadBytes = 25 * 1024 * 1024;
/** Most plain fields an upload form may carry. */
export const maxUploadFormFields = 20;
/** Longest file name kept; the service sanitises it again and never uses it as a path. */
export const maxFileNameChars = 255;

/** A multipart form whose (single) file has been spooled to disk and hashed. */
export interface SpooledForm {
  readonly fields: FormBody;
  /** Absent when the form's file input was left empty. */
  readonly file: SpooledFile | undefined;
  /** Removes the temporary file; safe to call more than once. */
  cleanup(): Promise<void>;
}

/**
 * Reads a multipart form, streaming its file to a private temporary folder while computing the
 * SHA-256 and size, so a large upload never sits in memory. Over `maxFileBytes` the temporary file
 * is removed and a 413 {@link HttpError} explains the limit.
 */
export async function spoolMultipartForm(
  request: FastifyRequest,
  options: { maxFileBytes: number; tempRoot?: string },
): Promise<SpooledForm> {
  if (!request.isMultipart()) throw badRequest("This form must be sent as multipart/form-data.");
  const folder = await mkdtemp(join(options.tempRoot ?? tmpdir(), "lectern-upload-"));
  const cleanup = () => rm(folder, { recursive: true, force: true });
  const fields: FormBody = {};
  let file: SpooledFile | undefined;
  try {
    const parts = request.parts({
      limits: { fileSize: options.maxFileBytes, files: 1, fields: maxUploadFormFields, fieldSize: maxFieldChars },
    });
    for await (const part of parts) {
      if (part.type === "field") {
        fields[part.fieldname] = typeof part.value === "string" ? part.value : String(part.value);
        continue;
      }
      if (part.filename === "") {
        part.file.resume(); // An empty file input still sends an empty part.
        continue;
      }
      const target = join(folder, "upload");
      const hash = createHash("sha256");
      let sizeBytes = 0;
      const measure = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          sizeBytes += chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(part.file, measure, createWriteStream(target, { flags: "wx", mode: 0o600 }));
      if (part.file.truncated) throw tooLarge(options.maxFileBytes);
      file = {
        path: target,
        name: part.filename.slice(0, maxFileNameChars),
        contentType: part.mimetype || "application/octet-stream",
        sizeBytes,
        sha256: hash.digest("hex"),
      };
    }
  } catch (error) {
    await cleanup();
    if (isFileTooLarge(error)) throw tooLarge(options.maxFileBytes);
    throw error;
  }
  return { fields, file, cleanup };
}

function isFileTooLarge(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "FST_REQ_FILE_TOO_LARGE";
}

function tooLarge(maxFileBytes: number): HttpError {
  return new HttpError(
    413,
    "File too large",
    `Files can be at most ${formatBytes(maxFileBytes)}. Choose a smaller file and try again.`,
  );
}
