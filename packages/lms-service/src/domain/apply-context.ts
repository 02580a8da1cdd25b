import type { FileStore } from "../store/file-store.js";
import type { WriteLayer } from "./apply-transaction.js";
import type { CommandOf, LmsCommandKind } from "./commands.js";
import type { UserRecord } from "./records.js";
import type { Accepted, LmsResult, OkValues, Rejection } from "./results.js";
import { forbidden } from "./results.js";

/** What a command handler works with. */
export interface ApplyContext {
  /** Reads see earlier commands of the batch; writes are dropped if the handler rejects. */
  readonly tx: WriteLayer;
  /** The log index of the entry: the key of history rows. */
  readonly logIndex: number;
  /** The acting user as stored (its role, not the token's), or null for an anonymous command. */
  readonly actor: UserRecord | null;
  readonly files: FileStore;
  readonly maxFileBytes: number;
}

export type Handler<K extends LmsCommandKind> = (context: ApplyContext, command: CommandOf<K>) => Promise<LmsResult<K>>;

/** The ok result of a command. */
export function accepted<K extends LmsCommandKind>(kind: K, value: OkValues[K]): Accepted<K> {
  return { status: "ok", kind, value, replayed: false };
}

/** True for a rejection (of a check helper that returns a record or a rejection). */
export function isRejection(value: unknown): value is Rejection {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as { status?: unknown; message?: unknown };
  return typeof candidate.message === "string" && rejectionStatuses.has(candidate.status);
}

const rejectionStatuses = new Set<unknown>(["not-found", "forbidden", "conflict", "invalid"]);

/** The actor, or forbidden when the command came without one. */
export function signedIn(context: ApplyContext): UserRecord | Rejection {
  return context.actor ?? forbidden("sign in first");
}
