import { FileStoreError } from "../../store/file-store.js";
import { type ApplyContext, accepted, type Handler, isRejection, signedIn } from "../apply-context.js";
import type { WriteLayer } from "../apply-transaction.js";
import { key, prefix } from "../keys.js";
import type { UploadRecord } from "../records.js";
import { conflict, invalid, notFound, type Rejection } from "../results.js";

/** Most chunk entries one upload may have (so a file is never a million one-byte entries). */
export const maxChunksPerUpload = 1024;
/** Chunks read per step while assembling a committed file. */
const assembleBatchChunks = 8;

/** The actor's open upload, or why not. */
async function openUpload(context: ApplyContext, uploadId: string): Promise<UploadRecord | Rejection> {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  const upload = await context.tx.get("uploads", uploadId);
  // Another user's upload answers like a missing one: its id tells nobody else anything.
  if (upload === undefined || upload.ownerId !== actor.userId) return notFound(`no upload ${uploadId}`);
  if (upload.state !== "open") return conflict(`upload ${uploadId} is ${upload.state}`);
  return upload;
}

/** Deletes every chunk record of an upload (on commit or abort). */
async function deleteChunks(tx: WriteLayer, upload: UploadRecord): Promise<void> {
  const chunks = await tx.list("uploadChunks", prefix(upload.uploadId), { limit: upload.chunkCount });
  for (const chunk of chunks) tx.delete("uploadChunks", chunk.key);
}

/** Any signed-in user opens an upload they own. */
export const startUpload: Handler<"startUpload"> = async (context, command) => {
  const actor = signedIn(context);
  if (isRejection(actor)) return actor;
  if ((await context.tx.get("uploads", command.uploadId)) !== undefined) {
    return conflict(`upload ${command.uploadId} exists`);
  }
  context.tx.put("uploads", command.uploadId, {
    uploadId: command.uploadId,
    ownerId: actor.userId,
    startedAt: command.at,
    state: "open",
    receivedBytes: 0,
    chunkCount: 0,
  });
  return accepted("startUpload", { uploadId: command.uploadId });
};

/**
 * Appends a chunk at exactly the bytes received so far (a chunk for another offset is a conflict
 * whose message names the expected offset, so a client can resume); refuses past the file limit.
 */
export const appendUploadChunk: Handler<"appendUploadChunk"> = async (context, command) => {
  const upload = await openUpload(context, command.uploadId);
  if (isRejection(upload)) return upload;
  if (command.offset !== upload.receivedBytes) {
    return conflict(`upload ${upload.uploadId} expects offset ${upload.receivedBytes}, not ${command.offset}`);
  }
  if (upload.chunkCount >= maxChunksPerUpload) return invalid(`an upload has at most ${maxChunksPerUpload} chunks`);
  const chunkBytes = Buffer.byteLength(command.data, "base64");
  const receivedBytes = upload.receivedBytes + chunkBytes;
  if (receivedBytes > context.maxFileBytes) {
    return invalid(`the file is larger than the ${context.maxFileBytes}-byte limit: upload a smaller file`);
  }
  context.tx.put("uploadChunks", key(upload.uploadId, upload.chunkCount), {
    offset: command.offset,
    data: command.data,
  });
  context.tx.put("uploads", upload.uploadId, { ...upload, receivedBytes, chunkCount: upload.chunkCount + 1 });
  return accepted("appendUploadChunk", { uploadId: upload.uploadId, receivedBytes });
};

/** The upload's chunks in order, read a few at a time (memory stays at a few chunks). */
async function* chunkBytes(tx: WriteLayer, upload: UploadRecord): AsyncGenerator<Uint8Array> {
  let startAfter: string | undefined;
  for (;;) {
    const page = await tx.list("uploadChunks", prefix(upload.uploadId), { startAfter, limit: assembleBatchChunks });
    for (const chunk of page) yield Buffer.from(chunk.value.data, "base64");
    if (page.length < assembleBatchChunks) return;
    startAfter = page[page.length - 1].key;
  }
}

/**
 * Seals an upload: the bytes must add up to `size` and hash to `sha256`. The file is written
 * durably to the file store before this command's batch (and so the applied index) is committed.
 */
export const commitUpload: Handler<"commitUpload"> = async (context, command) => {
  const upload = await openUpload(context, command.uploadId);
  if (isRejection(upload)) return upload;
  if (command.size !== upload.receivedBytes) {
    return invalid(`upload ${upload.uploadId} holds ${upload.receivedBytes} bytes, not ${command.size}`);
  }
  if (command.size > context.maxFileBytes) {
    return invalid(`the file is larger than the ${context.maxFileBytes}-byte limit: upload a smaller file`);
  }
  try {
    await context.files.store(command.sha256, command.size, chunkBytes(context.tx, upload));
  } catch (error) {
    if (error instanceof FileStoreError && error.code !== "FILE_NOT_FOUND") return invalid(error.message);
    throw error; // A disk failure is not the command's fault: it stops the node.
  }
  const { tx } = context;
  await deleteChunks(tx, upload);
  tx.put("uploads", upload.uploadId, {
    ...upload,
    state: "committed",
    sha256: command.sha256,
    size: command.size,
    name: command.name,
    mime: command.mime,
    finishedAt: command.at,
  });
  if ((await tx.get("files", command.sha256)) === undefined) {
    tx.put("files", command.sha256, { sha256: command.sha256, size: command.size, storedAt: command.at });
  }
  tx.put("fileOwners", key(command.sha256, upload.ownerId), {
    sha256: command.sha256,
    userId: upload.ownerId,
    name: command.name,
    mime: command.mime,
    size: command.size,
    uploadId: upload.uploadId,
    uploadedAt: command.at,
  });
  return accepted("commitUpload", { uploadId: upload.uploadId, sha256: command.sha256, size: command.size });
};

/** Drops an open upload and its chunks. */
export const abortUpload: Handler<"abortUpload"> = async (context, command) => {
  const upload = await openUpload(context, command.uploadId);
  if (isRejection(upload)) return upload;
  await deleteChunks(context.tx, upload);
  context.tx.put("uploads", upload.uploadId, { ...upload, state: "aborted", finishedAt: command.at });
  return accepted("abortUpload", { uploadId: upload.uploadId });
};
