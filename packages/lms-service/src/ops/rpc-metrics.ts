import { ServerInterceptingCall, type ServerInterceptor, status } from "@grpc/grpc-js";
import type { MetricSample } from "./prometheus-text.js";

/** Distinct (method, code) pairs kept; the method set is fixed by the proto files, so this is a guard. */
export const maxRpcSeries = 1_024;

const codeNames: ReadonlyMap<number, string> = new Map(
  Object.entries(status)
    .filter(([, value]) => typeof value === "number")
    .map(([name, value]) => [value as number, name]),
);

/**
 * Counts finished gRPC calls by full method name and status code, for every service on the server
 * (the Raft peer stream included), through a server interceptor.
 *
 * @example
 * const rpcs = new RpcCounts();
 * const server = new Server({ ...nodeServerOptions(), interceptors: [rpcs.interceptor()] });
 */
export class RpcCounts {
  private readonly counts = new Map<string, { method: string; code: string; count: number }>();
  private overflow = 0;

  /** Records one finished call. */
  record(method: string, code: number): void {
    const codeName = codeNames.get(code) ?? String(code);
    const key = `${method} ${codeName}`;
    const entry = this.counts.get(key);
    if (entry !== undefined) entry.count++;
    else if (this.counts.size < maxRpcSeries) this.counts.set(key, { method, code: codeName, count: 1 });
    else this.overflow++;
  }

  /** How many calls ended with `code` (a gRPC status number) on `method`. */
  count(method: string, code: number): number {
    return this.counts.get(`${method} ${codeNames.get(code) ?? String(code)}`)?.count ?? 0;
  }

  /** One sample per (method, code), plus calls not counted because of {@link maxRpcSeries}. */
  samples(): MetricSample[] {
    const samples: MetricSample[] = [...this.counts.values()].map(({ method, code, count }) => ({
      labels: { method, code },
      value: count,
    }));
    if (this.overflow > 0) samples.push({ labels: { method: "other", code: "other" }, value: this.overflow });
    return samples;
  }

  /** A grpc-js server interceptor that records each call's final status. */
  interceptor(): ServerInterceptor {
    return (methodDescriptor, call) =>
      new ServerInterceptingCall(call, {
        sendStatus: (statusObject, next) => {
          this.record(methodDescriptor.path, statusObject.code);
          next(statusObject);
        },
      });
  }
}
