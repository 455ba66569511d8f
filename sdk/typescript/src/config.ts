/** Client options, their defaults, and the environment variables that fill them in. */

import type { Event } from "./event.js";
import type { RevosError } from "./errors.js";
import type { Transport } from "./transport.js";

export type Overflow = "drop" | "wait";

export interface RevosOptions {
  /** Sent as `Authorization: Bearer ...`; default `REVOS_API_KEY`. */
  apiKey?: string;
  /** The gateway; default `REVOS_BASE_URL`, else http://127.0.0.1:8080. */
  baseUrl?: string;
  /** A batch is sent when it holds this many events (gateway limit 1000). */
  maxBatchEvents?: number;
  /** While more events are already queued, a batch may grow to this many. */
  maxBacklogEvents?: number;
  /** ... or before its request body would exceed this many bytes (gateway limit 1 MiB). */
  maxBatchBytes?: number;
  /** ... or this many milliseconds after its first event. */
  maxBatchWaitMs?: number;
  /** Events held in memory. */
  maxQueueSize?: number;
  /** When the queue is full: "drop" (counted, reported to onError) or "wait" (`trackAsync` waits for room). */
  overflow?: Overflow;
  /** With "wait": longest a `trackAsync()` waits for room before dropping, in ms. */
  waitTimeoutMs?: number;
  /** Per HTTP request, in ms. */
  requestTimeoutMs?: number;
  /** Retry n waits a random time in [0, min(max, base * 2^(n-1))) ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A Retry-After is always honoured, up to this many ms. */
  maxRetryAfterMs?: number;
  /** A batch failing this long (ms) is given up (`failed`, onError). */
  retryDeadlineMs?: number;
  /** Request bodies larger than this many bytes are gzipped where CompressionStream exists; null disables. */
  gzipThreshold?: number | null;
  /** Time `close()` and the exit flush may spend delivering, in ms. */
  exitTimeoutMs?: number;
  /** Flush on Node's `beforeExit` (long-running servers and scripts); default true where `process` exists. */
  flushOnExit?: boolean;
  /** Receives events the SDK could not deliver (rejected, failed, dropped, invalid) with the reason. */
  onError?: (events: Event[], error: RevosError) => void;
  /** Replaces HTTP delivery (tests, benchmarks, dry runs). */
  transport?: Transport;
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch;
}

export interface Config {
  apiKey: string;
  baseUrl: string;
  maxBatchEvents: number;
  maxBacklogEvents: number;
  maxBatchBytes: number;
  maxBatchWaitMs: number;
  maxQueueSize: number;
  overflow: Overflow;
  waitTimeoutMs: number;
  requestTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxRetryAfterMs: number;
  retryDeadlineMs: number;
  gzipThreshold: number | null;
  exitTimeoutMs: number;
  flushOnExit: boolean;
}

/** The gateway's limits per request. */
export const GATEWAY_MAX_EVENTS = 1000;
export const GATEWAY_MAX_BYTES = 1 << 20;

function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = proc?.env?.[name];
  return value === "" ? undefined : value;
}

function positive(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new RangeError(`${name} must be a positive number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ""}`);
  }
  return value;
}

/** The options with defaults applied and checked; throws RangeError for a bad option. */
export function resolveConfig(options: RevosOptions = {}): Config {
  const maxBatchEvents = positive("maxBatchEvents", options.maxBatchEvents ?? 100, GATEWAY_MAX_EVENTS);
  const config: Config = {
    apiKey: options.apiKey ?? env("REVOS_API_KEY") ?? "",
    baseUrl: (options.baseUrl ?? env("REVOS_BASE_URL") ?? "http://127.0.0.1:8080").replace(/\/+$/, ""),
    maxBatchEvents,
    maxBacklogEvents: Math.max(
      maxBatchEvents,
      positive("maxBacklogEvents", options.maxBacklogEvents ?? GATEWAY_MAX_EVENTS, GATEWAY_MAX_EVENTS),
    ),
    maxBatchBytes: positive("maxBatchBytes", options.maxBatchBytes ?? 1_000_000, GATEWAY_MAX_BYTES),
    maxBatchWaitMs: positive("maxBatchWaitMs", options.maxBatchWaitMs ?? 500),
    maxQueueSize: positive("maxQueueSize", options.maxQueueSize ?? 10_000),
    overflow: options.overflow ?? "drop",
    waitTimeoutMs: positive("waitTimeoutMs", options.waitTimeoutMs ?? 1000),
    requestTimeoutMs: positive("requestTimeoutMs", options.requestTimeoutMs ?? 10_000),
    backoffBaseMs: positive("backoffBaseMs", options.backoffBaseMs ?? 500),
    backoffMaxMs: positive("backoffMaxMs", options.backoffMaxMs ?? 30_000),
    maxRetryAfterMs: positive("maxRetryAfterMs", options.maxRetryAfterMs ?? 300_000),
    retryDeadlineMs: positive("retryDeadlineMs", options.retryDeadlineMs ?? 600_000),
    gzipThreshold: options.gzipThreshold === undefined ? 16 * 1024 : options.gzipThreshold,
    exitTimeoutMs: positive("exitTimeoutMs", options.exitTimeoutMs ?? 5000),
    flushOnExit: options.flushOnExit ?? true,
  };
  if (config.overflow !== "drop" && config.overflow !== "wait") {
    throw new RangeError('overflow must be "drop" or "wait"');
  }
  return config;
}
