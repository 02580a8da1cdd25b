// A minimal etcd v3 client over gRPC (@grpc/grpc-js, hand-encoded messages): Put, linearizable
// Range and Maintenance.Status. It fails over like LmsClient (same policy from client-policy.mjs:
// bounded attempts, jittered exponential backoff, next member on a retryable error), minus leader
// hints, which etcd does not send: any member accepts writes and forwards them itself.
import { Client, credentials, status as grpcStatus } from "@grpc/grpc-js";
import { decodeFields, encodeBytesFields } from "./protobuf-wire.mjs";

const identity = (buffer) => buffer;
const putPath = "/etcdserverpb.KV/Put";
const rangePath = "/etcdserverpb.KV/Range";
const statusPath = "/etcdserverpb.Maintenance/Status";
/** Field 7 (serializable), varint 1: tag (7 << 3 | 0) = 0x38. */
const serializableTrue = Buffer.from([0x38, 0x01]);

/** Errors after which another member (or the same one later) may succeed. Puts here are idempotent. */
const retryableCodes = new Set([
  grpcStatus.UNAVAILABLE,
  grpcStatus.DEADLINE_EXCEEDED,
  grpcStatus.CANCELLED,
  grpcStatus.RESOURCE_EXHAUSTED,
  grpcStatus.INTERNAL,
  grpcStatus.UNKNOWN,
]);

function backoffMs(retry, initialMs, maxMs) {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(retry - 1, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function unaryCall(client, path, request, timeoutMs) {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      request,
      { deadline: Date.now() + timeoutMs },
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  });
}

export class EtcdKvClient {
  /**
   * @param {readonly string[]} addresses every member's client address; calls start at the first.
   * @param {{maxAttempts: number, initialBackoffMs: number, maxBackoffMs: number, callTimeoutMs: number}} policy
   * @param {object} [channelOptions] grpc-js channel options
   */
  constructor(addresses, policy, channelOptions = {}) {
    this.addresses = addresses;
    this.policy = policy;
    this.clients = addresses.map((address) => new Client(address, credentials.createInsecure(), channelOptions));
    this.preferred = 0;
  }

  async call(path, request) {
    const { maxAttempts, initialBackoffMs, maxBackoffMs, callTimeoutMs } = this.policy;
    for (let attempt = 1; ; attempt++) {
      const index = this.preferred;
      try {
        return await unaryCall(this.clients[index], path, request, callTimeoutMs);
      } catch (error) {
        if (attempt >= maxAttempts || !retryableCodes.has(error.code)) throw error;
        if (this.preferred === index) this.preferred = (index + 1) % this.clients.length;
        await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt, initialBackoffMs, maxBackoffMs)));
      }
    }
  }

  /** PutRequest { key = 1; value = 2 }. */
  put(key, value) {
    return this.call(
      putPath,
      encodeBytesFields([
        [1, key],
        [2, value],
      ]),
    );
  }

  /** RangeRequest { key = 1 } with serializable = false: a linearizable read (ReadIndex). */
  async get(key) {
    const response = decodeFields(await this.call(rangePath, encodeBytesFields([[1, key]])));
    return Number(response.get(4) ?? 0n); // count
  }

  /** RangeRequest { key = 1, serializable = 7 }: the member answers from its own state. */
  async getSerializable(key) {
    const request = Buffer.concat([encodeBytesFields([[1, key]]), serializableTrue]);
    const response = decodeFields(await this.call(rangePath, request));
    return Number(response.get(4) ?? 0n); // count
  }

  close() {
    for (const client of this.clients) client.close();
  }
}

/**
 * Maintenance.Status of one member: its member id, the leader it knows, its term and indexes.
 * (StatusResponse: header = 1 {member_id = 2}, leader = 4, raftIndex = 5, raftTerm = 6,
 * raftAppliedIndex = 7.)
 */
export async function memberStatus(address, timeoutMs) {
  const client = new Client(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  try {
    const fields = decodeFields(await unaryCall(client, statusPath, Buffer.alloc(0), timeoutMs));
    const header = decodeFields(fields.get(1) ?? Buffer.alloc(0));
    return {
      memberId: header.get(2) ?? 0n,
      leader: fields.get(4) ?? 0n,
      raftIndex: Number(fields.get(5) ?? 0n),
      raftTerm: Number(fields.get(6) ?? 0n),
      appliedIndex: Number(fields.get(7) ?? 0n),
    };
  } finally {
    client.close();
  }
}
