/** The port a client delivers through: HTTP by default, a fake or null one in tests and benchmarks. */

import { parseRetryAfter } from "./backoff.js";
import type { Config } from "./config.js";
import { DeliveryError, type DeliveryErrorOptions } from "./errors.js";
import type { Item } from "./event.js";
import { VERSION } from "./version.js";

/** What the backend decided about one event. */
export interface EventResult {
  id: string;
  accepted: boolean;
  code?: string | undefined;
  message?: string | undefined;
}

/**
 * Delivers one batch per call. Returns a result per event it decided on, or throws a DeliveryError if the
 * request failed as a whole. Events without a result are treated as undelivered and resent, which is
 * safe because ids are idempotency keys.
 */
export interface Transport {
  send(items: readonly Item[], timeoutMs: number): Promise<EventResult[]>;
  close?(): Promise<void> | void;
}

export const EVENTS_PATH = "/v1/events";
/** Rejection codes that mean "this id was already accepted earlier": the event is delivered. */
const ALREADY_ACCEPTED = new Set(["duplicate", "duplicate_event", "already_accepted"]);
const CONNECT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** Accepts every event instantly without I/O; for benchmarks and dry runs. */
export class NullTransport implements Transport {
  async send(items: readonly Item[]): Promise<EventResult[]> {
    return items.map((item) => ({ id: item.id, accepted: true }));
  }
}

/** Headers every SDK request carries. */
export function clientHeaders(apiKey: string): Record<string, string> {
  const headers: Record<string, string> = { Authorization: `Bearer ${apiKey}`, Accept: "application/json" };
  // Browsers and some edge runtimes forbid setting User-Agent; Node accepts it.
  if (typeof (globalThis as { process?: unknown }).process === "object") headers["User-Agent"] = `revos-sdk-typescript/${VERSION}`;
  return headers;
}

/** A non-2xx answer as an error of class `cls`, carrying the gateway's stable code and Retry-After. */
export async function errorFromResponse<E extends DeliveryError>(
  response: Response,
  cls: new (message: string, options: DeliveryErrorOptions) => E,
): Promise<E> {
  let code: string | undefined;
  let message = `HTTP ${response.status}`;
  const text = await response.text().catch(() => "");
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (error && typeof error === "object") {
      if (error.code !== undefined && error.code !== null) code = String(error.code);
      if (error.message) message = String(error.message);
    }
  } catch {
    if (text) message = text.slice(0, 200);
  }
  return new cls(message, { status: response.status, code, retryAfter: parseRetryAfter(response.headers.get("retry-after")) });
}

/** A request that got no HTTP answer; `connect_error` means it surely never reached the server. */
export function transportError<E extends DeliveryError>(
  error: unknown,
  cls: new (message: string, options: DeliveryErrorOptions) => E,
  timedOut: boolean,
): E {
  if (timedOut) return new cls("the request timed out", { code: "timeout" });
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  const code = cause?.code !== undefined && CONNECT_CODES.has(cause.code) ? "connect_error" : "transport_error";
  const detail = cause?.code ?? (error instanceof Error ? error.message : String(error));
  return new cls(`${error instanceof Error ? error.name : "Error"}: ${detail}`, { code });
}

/** Per-event results from a 200 answer; a garbled answer is a retryable failure (resending is safe). */
export function resultsFromBody(items: readonly Item[], text: string): EventResult[] {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new DeliveryError("the gateway answered 200 with a non-JSON body", { code: "malformed_response" });
  }
  if (typeof payload !== "object" || payload === null) {
    throw new DeliveryError("the gateway answered 200 with an unexpected body", { code: "malformed_response" });
  }
  const body = payload as { results?: unknown; accepted?: unknown; rejected?: unknown };
  if (body.results === undefined || body.results === null) {
    if (body.accepted === items.length && !body.rejected) return items.map((item) => ({ id: item.id, accepted: true }));
    throw new DeliveryError("the gateway answered 200 without results", { code: "malformed_response" });
  }
  const results: EventResult[] = [];
  for (const raw of Array.isArray(body.results) ? body.results : []) {
    if (typeof raw !== "object" || raw === null || typeof raw.id !== "string") continue;
    const code = raw.code === undefined || raw.code === null ? undefined : String(raw.code);
    results.push({
      id: raw.id,
      accepted: raw.status === "accepted" || (code !== undefined && ALREADY_ACCEPTED.has(code)),
      code,
      message: raw.message === undefined || raw.message === null ? undefined : String(raw.message),
    });
  }
  return results;
}

async function gzip(body: string): Promise<ArrayBuffer | undefined> {
  const Stream = (globalThis as { CompressionStream?: typeof CompressionStream }).CompressionStream;
  if (Stream === undefined) return undefined;
  const compressed = new Blob([body]).stream().pipeThrough(new Stream("gzip"));
  return new Response(compressed).arrayBuffer();
}

/** Sends batches to `POST /v1/events` with the standard fetch (keep-alive where the runtime pools). */
export class HttpTransport implements Transport {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly fetch: typeof fetch;

  constructor(
    private readonly config: Pick<Config, "apiKey" | "baseUrl" | "gzipThreshold">,
    fetchImpl?: typeof fetch,
  ) {
    this.url = config.baseUrl + EVENTS_PATH;
    this.headers = { ...clientHeaders(config.apiKey), "Content-Type": "application/json" };
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
  }

  async send(items: readonly Item[], timeoutMs: number): Promise<EventResult[]> {
    let body: string | ArrayBuffer = `{"events":[${items.map((item) => item.json).join(",")}]}`;
    const headers = { ...this.headers };
    const threshold = this.config.gzipThreshold;
    if (threshold !== null && body.length > threshold) {
      const compressed = await gzip(body);
      if (compressed !== undefined) {
        body = compressed;
        headers["Content-Encoding"] = "gzip";
      }
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      let response: Response;
      try {
        response = await this.fetch(this.url, { method: "POST", headers, body, signal: controller.signal });
      } catch (error) {
        throw transportError(error, DeliveryError, timedOut);
      }
      if (response.status !== 200) throw await errorFromResponse(response, DeliveryError);
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        throw transportError(error, DeliveryError, timedOut);
      }
      return resultsFromBody(items, text);
    } finally {
      clearTimeout(timer);
    }
  }
}
