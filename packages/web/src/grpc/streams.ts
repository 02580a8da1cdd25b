import { toApiError } from "./api-errors.js";

/** A server stream whose first message has arrived (or which ended without any). */
export interface OpenedStream<T> {
  /** Undefined when the stream ended at once. */
  readonly first: T | undefined;
  readonly rest: AsyncIterator<T>;
  /** Cancels the call on the node (idempotent). */
  cancel(): void;
}

/**
 * Opens a server stream and waits for its first message, so a failure at the start (not found,
 * not allowed, node down after every retry) surfaces before the web front sends any header.
 */
export async function readStream<T>(open: (signal: AbortSignal) => AsyncIterable<T>): Promise<OpenedStream<T>> {
  const controller = new AbortController();
  const rest = open(controller.signal)[Symbol.asyncIterator]();
  const cancel = () => controller.abort();
  try {
    const first = await rest.next();
    return { first: first.done === true ? undefined : first.value, rest, cancel };
  } catch (error) {
    cancel();
    throw error;
  }
}

/**
 * The bytes of an opened stream: `pick` turns each message into zero or more byte chunks (the first
 * message too unless `skipFirst`). Failures become ApiErrors; stopping early, finishing or failing
 * cancels the call on the node.
 */
export function streamRest<T>(
  opened: OpenedStream<T>,
  pick: (message: T) => readonly Uint8Array[],
  options: { readonly skipFirst?: boolean } = {},
): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      try {
        if (opened.first !== undefined && options.skipFirst !== true) yield* pick(opened.first);
        for (;;) {
          let next: IteratorResult<T>;
          try {
            next = await opened.rest.next();
          } catch (error) {
            throw toApiError(error);
          }
          if (next.done === true) return;
          yield* pick(next.value);
        }
      } finally {
        await opened.rest.return?.();
        opened.cancel();
      }
    },
  };
}
