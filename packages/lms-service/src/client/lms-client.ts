import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import {
  type ChannelCredentials,
  Client,
  type ClientReadableStream,
  credentials,
  type CallOptions as GrpcCallOptions,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import * as lms from "../gen/lms.js";
import {
  AssignmentServiceService,
  AuthServiceService,
  ClusterServiceService,
  CourseContentServiceService,
  CourseServiceService,
  type DeepPartial,
  type DownloadFileResponse,
  type FileRef,
  FileServiceService,
  TutorServiceService,
  type UploadFileResponse,
} from "../gen/lms.js";
import { clientChannelOptions } from "../transport/grpc-options.js";
import { fileChunkMaxBytes } from "../transport/limits.js";
import {
  backoffMs,
  defaultInitialBackoffMs,
  defaultMaxAttempts,
  defaultMaxBackoffMs,
  isConnectionFailure,
  isRetryable,
  leaderAddressHint,
  leaderHintDelayMs,
} from "./retry-policy.js";

/** Per-attempt deadline of a call that gives none. */
export const defaultCallTimeoutMs = 15_000;
/** How long a node whose connection just failed is tried only after the others. */
export const unreachableForMs = 1_000;

export interface LmsClientOptions {
  /** Every node's gRPC address (`host:port`); calls start at the first. */
  readonly addresses: readonly string[];
  /** Bearer token sent with every call (from AuthService.Login); see {@link LmsClient.withToken}. */
  readonly token?: string;
  readonly maxAttempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Deadline of one attempt. */
  readonly callTimeoutMs?: number;
  /** Default: plaintext. */
  readonly credentials?: ChannelCredentials;
  /** Uniform in [0, 1) for backoff jitter. */
  readonly random?: () => number;
  /** Told about every failed attempt that will be retried (for logs and tests). */
  readonly onRetry?: (retry: RetryEvent) => void;
}

/** One failed attempt that the client retries. */
export interface RetryEvent {
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly failedAddress: string;
  readonly nextAddress: string;
  readonly error: unknown;
  /** True when the next address came from the `lectern-leader-address` hint. */
  readonly followedLeaderHint: boolean;
}

/** Options of one call. */
export interface LmsCallOptions {
  /** Aborting stops the call and its retries. */
  readonly signal?: AbortSignal;
  /** Deadline of each attempt. */
  readonly timeoutMs?: number;
}

/** The shape of a method in a ts-proto service definition. */
interface MethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: never) => Buffer;
  readonly responseDeserialize: (value: Buffer) => unknown;
}

type RequestOf<D> = D extends { requestSerialize: (value: infer R) => Buffer } ? R : never;
type ResponseOf<D> = D extends { responseDeserialize: (value: Buffer) => infer R } ? R : never;

/** Typed promise methods for a service's unary RPCs. Requests may leave fields out (proto defaults). */
export type UnaryApi<S> = {
  [K in keyof S as S[K] extends { requestStream: false; responseStream: false } ? K : never]: (
    request?: DeepPartial<RequestOf<S[K]>>,
    options?: LmsCallOptions,
  ) => Promise<ResponseOf<S[K]>>;
};

/** Async iterables for a service's server-streaming RPCs. */
export type ServerStreamApi<S> = {
  [K in keyof S as S[K] extends { requestStream: false; responseStream: true } ? K : never]: (
    request?: DeepPartial<RequestOf<S[K]>>,
    options?: LmsCallOptions,
  ) => AsyncIterable<ResponseOf<S[K]>>;
};

export type AuthApi = UnaryApi<typeof AuthServiceService>;
export type CoursesApi = UnaryApi<typeof CourseServiceService>;
export type AssignmentsApi = UnaryApi<typeof AssignmentServiceService> &
  ServerStreamApi<typeof AssignmentServiceService>;
export type CourseContentApi = UnaryApi<typeof CourseContentServiceService>;
export type TutorApi = UnaryApi<typeof TutorServiceService> & ServerStreamApi<typeof TutorServiceService>;
export type ClusterApi = UnaryApi<typeof ClusterServiceService>;

/**
 * A file to upload, given as bytes or as a local file (the web front spools uploads to disk); the
 * client hashes it first and sends it in chunks of at most 1 MiB, from the start on every retry.
 */
export type UploadInput = {
  readonly name: string;
  readonly contentType?: string;
  /** Default: a fresh key, kept for every retry of this upload. */
  readonly idempotencyKey?: string;
} & ({ readonly data: Uint8Array; readonly path?: undefined } | { readonly path: string; readonly data?: undefined });

export interface FilesApi {
  upload(file: UploadInput, options?: LmsCallOptions): Promise<UploadFileResponse>;
  download(
    request: DeepPartial<lms.DownloadFileRequest>,
    options?: LmsCallOptions,
  ): AsyncIterable<DownloadFileResponse>;
  /** The whole file and its metadata. */
  downloadAll(fileId: string, options?: LmsCallOptions): Promise<{ readonly file: FileRef; readonly data: Buffer }>;
}

/** What ts-proto generates for each message: building a full message from a partial one. */
interface MessageBuilder {
  fromPartial(object: object): object;
}

/** The request message of a method, found by ts-proto's naming (`register` -> `RegisterRequest`). */
function requestBuilder(method: string): MessageBuilder {
  const special: Record<string, string> = { upload: "UploadFileRequest", download: "DownloadFileRequest" };
  const name = special[method] ?? `${method[0].toUpperCase()}${method.slice(1)}Request`;
  const builder = (lms as unknown as Record<string, MessageBuilder | undefined>)[name];
  if (builder === undefined || typeof builder.fromPartial !== "function") {
    throw new Error(`LmsClient: no request message ${name} for method ${method}`);
  }
  return builder;
}

/** The connections to every node, shared by clients that differ only in their token. */
class NodeConnections {
  readonly clients: Client[];
  /** The node the last successful call went to. */
  preferred = 0;
  /**
   * Per node, until when (ms since the epoch) it counts as unreachable: a call to it just failed
   * below the LMS (refused or reset connection), so retries go to the others first instead of
   * spending a backoff on a node that is down.
   */
  readonly unreachableUntil: number[];

  constructor(
    readonly addresses: readonly string[],
    channelCredentials: ChannelCredentials,
  ) {
    if (addresses.length === 0) throw new Error("LmsClient: give at least one node address");
    this.clients = addresses.map((address) => new Client(address, channelCredentials, clientChannelOptions()));
    this.unreachableUntil = addresses.map(() => 0);
  }

  /** The node after `index` to try next: the first not marked unreachable, else simply the next. */
  nextAfter(index: number, nowMs: number): number {
    const count = this.clients.length;
    for (let step = 1; step < count; step++) {
      const candidate = (index + step) % count;
      if (this.unreachableUntil[candidate] <= nowMs) return candidate;
    }
    return (index + 1) % count;
  }

  indexOf(address: string): number {
    return this.addresses.indexOf(address);
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}

interface RetrySettings {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly callTimeoutMs: number;
  readonly random: () => number;
  readonly onRetry: ((retry: RetryEvent) => void) | undefined;
}

/**
 * A client of an LMS cluster. It keeps one channel per node and sends each call to the node that
 * last answered; when a node is down or not able to serve (UNAVAILABLE, a reset connection) it
 * follows the `lectern-leader-address` hint or tries the next node, with bounded, jittered
 * retries. Writes are resent with the SAME idempotency key (filled in once per call when the
 * request has none), so a retried write is applied exactly once.
 *
 * @example
 * const client = new LmsClient({ addresses: ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"] });
 * const { token } = await client.auth.login({ username: "ada", password: "correct horse battery" });
 * const ada = client.withToken(token);
 * const { course } = await ada.courses.createCourse({ title: "Distributed systems" });
 */
export class LmsClient {
  readonly auth: AuthApi;
  readonly courses: CoursesApi;
  readonly assignments: AssignmentsApi;
  readonly content: CourseContentApi;
  readonly files: FilesApi;
  readonly tutor: TutorApi;
  readonly cluster: ClusterApi;
  private readonly connections: NodeConnections;
  private readonly settings: RetrySettings;

  constructor(options: LmsClientOptions);
  constructor(options: LmsClientOptions, shared: { connections: NodeConnections; settings: RetrySettings });
  constructor(
    private readonly options: LmsClientOptions,
    shared?: { connections: NodeConnections; settings: RetrySettings },
  ) {
    this.connections =
      shared?.connections ??
      new NodeConnections(options.addresses, options.credentials ?? credentials.createInsecure());
    this.settings = shared?.settings ?? {
      maxAttempts: options.maxAttempts ?? defaultMaxAttempts,
      initialBackoffMs: options.initialBackoffMs ?? defaultInitialBackoffMs,
      maxBackoffMs: options.maxBackoffMs ?? defaultMaxBackoffMs,
      callTimeoutMs: options.callTimeoutMs ?? defaultCallTimeoutMs,
      random: options.random ?? Math.random,
      onRetry: options.onRetry,
    };
    this.auth = this.api(AuthServiceService) as AuthApi;
    this.courses = this.api(CourseServiceService) as CoursesApi;
    this.assignments = this.api(AssignmentServiceService) as AssignmentsApi;
    this.content = this.api(CourseContentServiceService) as CourseContentApi;
    this.tutor = this.api(TutorServiceService) as TutorApi;
    this.cluster = this.api(ClusterServiceService) as ClusterApi;
    const download = this.api(FileServiceService).download as FilesApi["download"];
    this.files = {
      upload: (file, callOptions) => this.upload(file, callOptions),
      download,
      downloadAll: async (fileId, callOptions) => {
        let file: FileRef | undefined;
        const parts: Buffer[] = [];
        for await (const message of download({ fileId }, callOptions)) {
          if (message.part?.$case === "header") file = message.part.value.file;
          else if (message.part?.$case === "chunk") parts.push(Buffer.from(message.part.value));
        }
        if (file === undefined) throw new Error("the download ended without a header");
        return { file, data: Buffer.concat(parts) };
      },
    };
  }

  /** A client for another user (or none) over the same connections. */
  withToken(token: string | undefined): LmsClient {
    return new LmsClient({ ...this.options, token }, { connections: this.connections, settings: this.settings });
  }

  /** The token sent with every call, if any. */
  get token(): string | undefined {
    return this.options.token;
  }

  /** Closes every channel (all clients made by `withToken` share them). */
  close(): void {
    this.connections.close();
  }

  private api(service: Record<string, MethodDefinition>): Record<string, unknown> {
    const methods: Record<string, unknown> = {};
    for (const [name, definition] of Object.entries(service)) {
      if (definition.requestStream) continue; // Upload has its own method.
      const builder = requestBuilder(name);
      methods[name] = definition.responseStream
        ? (request: object = {}, callOptions: LmsCallOptions = {}) =>
            this.serverStream(definition, this.prepare(builder, request), callOptions)
        : (request: object = {}, callOptions: LmsCallOptions = {}) =>
            this.unary(definition, this.prepare(builder, request), callOptions);
    }
    return methods;
  }

  /** The full request, with a fresh idempotency key when the message has one and none was given. */
  private prepare(builder: MessageBuilder, request: object): object {
    const full = builder.fromPartial(request) as { idempotencyKey?: string };
    if (full.idempotencyKey === "") full.idempotencyKey = newIdempotencyKey();
    return full;
  }

  private metadata(): Metadata {
    const metadata = new Metadata();
    if (this.options.token !== undefined) metadata.set("authorization", `Bearer ${this.options.token}`);
    return metadata;
  }

  private callOptions(options: LmsCallOptions): GrpcCallOptions {
    return { deadline: Date.now() + (options.timeoutMs ?? this.settings.callTimeoutMs) };
  }

  /**
   * Runs `attempt` against nodes until it succeeds, fails for good, or the attempts run out.
   * `mayRetry` lets streaming calls refuse a retry once they have handed data to the caller.
   */
  private async withRetries<T>(
    options: LmsCallOptions,
    attempt: (client: Client) => Promise<T>,
    mayRetry: () => boolean = () => true,
  ): Promise<T> {
    const { connections, settings } = this;
    for (let attemptNumber = 1; ; attemptNumber++) {
      const index = connections.preferred;
      try {
        const result = await attempt(connections.clients[index]);
        connections.preferred = index;
        connections.unreachableUntil[index] = 0;
        return result;
      } catch (error) {
        const aborted = options.signal?.aborted === true;
        if (isConnectionFailure(error)) connections.unreachableUntil[index] = Date.now() + unreachableForMs;
        if (attemptNumber >= settings.maxAttempts || !mayRetry() || !isRetryable(error, aborted)) throw error;
        const hinted = leaderAddressHint(error);
        const hintedIndex = hinted === undefined ? -1 : connections.indexOf(hinted);
        const followHint = hintedIndex !== -1 && hintedIndex !== index;
        // Move on only if no other call has already moved the preference.
        if (connections.preferred === index) {
          connections.preferred = followHint ? hintedIndex : connections.nextAfter(index, Date.now());
        }
        settings.onRetry?.({
          attempt: attemptNumber,
          failedAddress: connections.addresses[index],
          nextAddress: connections.addresses[connections.preferred],
          error,
          followedLeaderHint: followHint,
        });
        const delay = followHint
          ? leaderHintDelayMs
          : backoffMs(attemptNumber, settings.initialBackoffMs, settings.maxBackoffMs, settings.random);
        await sleep(delay, options.signal);
      }
    }
  }

  private unary(definition: MethodDefinition, request: object, options: LmsCallOptions): Promise<unknown> {
    return this.withRetries(
      options,
      (client) =>
        new Promise((resolve, reject) => {
          const call = client.makeUnaryRequest(
            definition.path,
            definition.requestSerialize as (value: object) => Buffer,
            definition.responseDeserialize,
            request,
            this.metadata(),
            this.callOptions(options),
            (error: ServiceError | null, response?: unknown) => (error === null ? resolve(response) : reject(error)),
          );
          abortWith(options.signal, () => call.cancel());
        }),
    );
  }

  /** Retries only while nothing was yielded: a half-read stream is the caller's to restart. */
  private async *serverStream(
    definition: MethodDefinition,
    request: object,
    options: LmsCallOptions,
  ): AsyncGenerator<unknown> {
    let yielded = false;
    const buffered: unknown[] = [];
    let stream: ClientReadableStream<unknown> | undefined;
    const open = () =>
      this.withRetries(
        options,
        async (client) => {
          stream = client.makeServerStreamRequest(
            definition.path,
            definition.requestSerialize as (value: object) => Buffer,
            definition.responseDeserialize,
            request,
            this.metadata(),
            this.callOptions(options),
          );
          abortWith(options.signal, () => stream?.cancel());
          // Wait for the first message (or the end) so errors before any data can be retried.
          const iterator = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
          const first = await iterator.next();
          if (!first.done) buffered.push(first.value);
          return iterator;
        },
        () => !yielded,
      );
    const iterator = await open();
    let finished = false;
    try {
      for (const message of buffered) {
        yielded = true;
        yield message;
      }
      for (;;) {
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          return;
        }
        yield next.value;
      }
    } finally {
      // A reader that stops early (break, throw) must not leave the node streaming to nobody.
      if (!finished) stream?.cancel();
    }
  }

  private async upload(file: UploadInput, options: LmsCallOptions = {}): Promise<UploadFileResponse> {
    const source = file.path === undefined ? bytesSource(file.data) : await fileSource(file.path);
    const header: lms.UploadFileHeader = {
      idempotencyKey: file.idempotencyKey ?? newIdempotencyKey(),
      name: file.name,
      contentType: file.contentType ?? "application/octet-stream",
      sizeBytes: source.size,
      sha256: source.sha256,
    };
    const definition = FileServiceService.upload;
    return this.withRetries(
      options,
      (client) =>
        new Promise<UploadFileResponse>((resolve, reject) => {
          const call = client.makeClientStreamRequest(
            definition.path,
            definition.requestSerialize,
            definition.responseDeserialize,
            this.metadata(),
            this.callOptions(options),
            (error: ServiceError | null, response?: UploadFileResponse) =>
              error === null && response !== undefined ? resolve(response) : reject(error),
          );
          abortWith(options.signal, () => call.cancel());
          void (async () => {
            try {
              if (!call.write({ part: { $case: "header", value: header } })) await once(call, "drain");
              for await (const chunk of source.chunks()) {
                if (!call.write({ part: { $case: "chunk", value: chunk } })) await once(call, "drain");
              }
              call.end();
            } catch {
              // The call failed while sending; its callback reports why.
            }
          })();
        }),
    );
  }
}

/** What an upload sends: its size and hash up front, and its bytes again for every attempt. */
interface UploadSource {
  readonly size: number;
  readonly sha256: string;
  chunks(): AsyncIterable<Uint8Array>;
}

function bytesSource(data: Uint8Array): UploadSource {
  return {
    size: data.byteLength,
    sha256: createHash("sha256").update(data).digest("hex"),
    async *chunks() {
      for (let offset = 0; offset < data.byteLength; offset += fileChunkMaxBytes) {
        yield data.subarray(offset, offset + fileChunkMaxBytes);
      }
    },
  };
}

async function fileSource(path: string): Promise<UploadSource> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: fileChunkMaxBytes }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return {
    size,
    sha256: hash.digest("hex"),
    chunks: () => createReadStream(path, { highWaterMark: fileChunkMaxBytes }) as AsyncIterable<Buffer>,
  };
}

/** A fresh idempotency key (a UUID: 36 characters from lms.proto's alphabet). */
export function newIdempotencyKey(): string {
  return randomUUID();
}

function abortWith(signal: AbortSignal | undefined, cancel: () => void): void {
  if (signal === undefined) return;
  if (signal.aborted) cancel();
  else signal.addEventListener("abort", cancel, { once: true });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
