/** Typed helpers for grants, balances, checks with holds, and burn tables. Money is decimal strings. */

import { Backoff } from "./backoff.js";
import type { Config } from "./config.js";
import { ApiError, isRetryable } from "./errors.js";
import { clientHeaders, errorFromResponse, transportError } from "./transport.js";

/** Money in: a decimal string ("12.5"), a bigint, or a whole number. Non-integer numbers are refused. */
export type Money = string | bigint | number;

export interface GrantOptions {
  /** Idempotency key; generated when omitted, so a retry cannot grant twice. */
  id?: string;
  /** -1000..1000; higher burns first. */
  priority?: number;
  effectiveAt?: Date | string;
  expiresAt?: Date | string;
  reason?: string;
}

export interface Grant {
  grantId: string;
  customer: string;
  /** Decimal string. */
  amount: string;
  /** "pending" when the answer came before the grant was applied. */
  status: string | undefined;
  raw: Record<string, unknown>;
}

export interface Balance {
  customer: string;
  /** Credits of grants spendable now minus debt, a decimal string. */
  balance: string;
  debt: string;
  grants: Record<string, unknown>[];
  asOf: string | undefined;
  raw: Record<string, unknown>;
}

export interface CheckRequest {
  customer: string;
  feature?: string;
  /** Credits the call may spend; default 0. */
  credits?: Money;
  /** Reserve `credits` until the usage event `eventId` is charged, released, or `ttlSeconds` pass (default 60). */
  hold?: { eventId?: string; ttlSeconds?: number };
}

export interface Hold {
  holdId: string;
  credits: string;
  expiresAt: string;
  eventId: string | undefined;
  status?: string | undefined;
}

export interface CheckResult {
  allowed: boolean;
  /** "ok", "insufficient_credits", "feature_not_entitled", "feature_disabled", "allowance_exhausted", "hold_timeout". */
  reason: string;
  balance: string;
  onHold: string | undefined;
  remaining: string | undefined;
  /** Present when a hold was asked for and placed. */
  hold: Hold | undefined;
  asOf: string | undefined;
  /** Upper bound on the answer's staleness, in ms. */
  lagMs: number | undefined;
  raw: Record<string, unknown>;
}

export interface BurnRule {
  type: string;
  creditsPerUnit: Money;
  match?: Record<string, string | number | boolean>;
  costPerUnit?: Money;
}

export interface BurnTableVersion {
  name: string;
  version: number;
  effectiveAt: string | undefined;
  raw: Record<string, unknown>;
}

const MAX_ATTEMPTS = 4;
const DECIMAL_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The API's text form of an amount; throws TypeError for floats and malformed strings. */
export function money(name: string, value: Money): string {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new TypeError(`${name} must be a decimal string, a bigint or a whole number, not ${value} (floats are inexact)`);
    }
    return String(value);
  }
  if (typeof value === "string" && DECIMAL_TEXT.test(value.trim())) return value.trim();
  throw new TypeError(`${name} must be a decimal string such as "12.5", got ${JSON.stringify(value)}`);
}

function time(value: Date | string | undefined): string | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

function text(value: unknown): string {
  return value === undefined || value === null ? "" : String(value);
}

function optionalText(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

function segment(name: string, value: string): string {
  if (typeof value !== "string" || value.length === 0) throw new TypeError(`${name} must be a non-empty string`);
  return encodeURIComponent(value);
}

function hold(raw: Record<string, unknown>): Hold {
  return {
    holdId: text(raw.hold_id),
    credits: text(raw.credits),
    expiresAt: text(raw.expires_at),
    eventId: optionalText(raw.event_id),
    status: optionalText(raw.status),
  };
}

interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  /** Resending after an unclear failure is safe. */
  idempotent: boolean;
}

export class Api {
  private readonly backoff: Backoff;
  private readonly fetch: typeof fetch;

  constructor(
    private readonly config: Config,
    fetchImpl?: typeof fetch,
  ) {
    this.backoff = new Backoff(config.backoffBaseMs / 1000, config.backoffMaxMs / 1000, config.maxRetryAfterMs / 1000);
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
  }

  async grantCredits(customer: string, amount: Money, options: GrantOptions = {}): Promise<Grant> {
    const body: Record<string, unknown> = {
      id: options.id ?? `gr_${crypto.randomUUID().replaceAll("-", "")}`,
      amount: money("amount", amount),
    };
    if (options.priority !== undefined) body.priority = options.priority;
    if (options.effectiveAt !== undefined) body.effective_at = time(options.effectiveAt);
    if (options.expiresAt !== undefined) body.expires_at = time(options.expiresAt);
    if (options.reason !== undefined) body.reason = options.reason;
    const raw = await this.run({ method: "POST", path: `/v1/customers/${segment("customer", customer)}/grants`, body, idempotent: true });
    return { grantId: text(raw.grant_id), customer: text(raw.customer ?? customer), amount: text(raw.amount), status: optionalText(raw.status), raw };
  }

  async getBalance(customer: string): Promise<Balance> {
    const raw = await this.run({ method: "GET", path: `/v1/customers/${segment("customer", customer)}/balance`, idempotent: true });
    return {
      customer: text(raw.customer ?? customer),
      balance: text(raw.balance),
      debt: text(raw.debt ?? "0"),
      grants: Array.isArray(raw.grants) ? (raw.grants as Record<string, unknown>[]) : [],
      asOf: optionalText(raw.as_of),
      raw,
    };
  }

  async check(request: CheckRequest): Promise<CheckResult> {
    const body: Record<string, unknown> = { customer: request.customer };
    if (request.feature !== undefined) body.feature = request.feature;
    if (request.credits !== undefined) body.credits = money("credits", request.credits);
    if (request.hold !== undefined) {
      const asked: Record<string, unknown> = {};
      if (request.hold.eventId !== undefined) asked.event_id = request.hold.eventId;
      if (request.hold.ttlSeconds !== undefined) asked.ttl_seconds = request.hold.ttlSeconds;
      body.hold = asked;
    }
    // A check with a hold reserves credits: resend it only when the server surely did not act on it.
    const raw = await this.run({ method: "POST", path: "/v1/check", body, idempotent: request.hold === undefined });
    return {
      allowed: raw.allowed === true,
      reason: text(raw.reason),
      balance: text(raw.balance),
      onHold: optionalText(raw.on_hold),
      remaining: optionalText(raw.remaining),
      hold: raw.hold && typeof raw.hold === "object" ? hold(raw.hold as Record<string, unknown>) : undefined,
      asOf: optionalText(raw.as_of),
      lagMs: typeof raw.lag_ms === "number" ? raw.lag_ms : undefined,
      raw,
    };
  }

  async releaseHold(holdId: string): Promise<Hold> {
    return hold(await this.run({ method: "DELETE", path: `/v1/holds/${segment("holdId", holdId)}`, idempotent: true }));
  }

  async publishBurnTable(name: string, rules: BurnRule[], effectiveAt?: Date | string): Promise<BurnTableVersion> {
    if (!Array.isArray(rules) || rules.length === 0) throw new TypeError("a burn table needs at least one rule");
    const body: Record<string, unknown> = {
      rules: rules.map((rule) => {
        const out: Record<string, unknown> = { type: rule.type, credits_per_unit: money("creditsPerUnit", rule.creditsPerUnit) };
        if (rule.match !== undefined && Object.keys(rule.match).length > 0) out.match = rule.match;
        if (rule.costPerUnit !== undefined) out.cost_per_unit = money("costPerUnit", rule.costPerUnit);
        return out;
      }),
    };
    if (effectiveAt !== undefined) body.effective_at = time(effectiveAt);
    const raw = await this.run({ method: "PUT", path: `/v1/burn-tables/${segment("name", name)}`, body, idempotent: false });
    return { name: text(raw.name ?? name), version: Number(raw.version ?? 0), effectiveAt: optionalText(raw.effective_at), raw };
  }

  /** Sends `call`, retrying transient failures with backoff; throws ApiError. */
  private async run(call: Call): Promise<Record<string, unknown>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(call);
      } catch (error) {
        const retry =
          error instanceof ApiError &&
          (call.idempotent ? isRetryable(error) : error.code === "connect_error" || error.status === 429 || error.status === 503);
        if (!retry || attempt >= MAX_ATTEMPTS) throw error;
        const seconds = this.backoff.delay(attempt, error.retryAfter);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      }
    }
  }

  private async once(call: Call): Promise<Record<string, unknown>> {
    if (!this.config.apiKey) throw new ApiError("the API helpers need an API key: pass apiKey or set REVOS_API_KEY", { code: "missing_api_key" });
    const headers: Record<string, string> = clientHeaders(this.config.apiKey);
    const init: RequestInit = { method: call.method, headers };
    if (call.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(call.body);
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.config.requestTimeoutMs);
    init.signal = controller.signal;
    try {
      let response: Response;
      let body: string;
      try {
        response = await this.fetch(this.config.baseUrl + call.path, init);
        if (response.status >= 400) throw await errorFromResponse(response, ApiError);
        body = await response.text();
      } catch (error) {
        if (error instanceof ApiError) throw error;
        throw transportError(error, ApiError, timedOut);
      }
      try {
        return JSON.parse(body) as Record<string, unknown>;
      } catch {
        throw new ApiError("the API answered with a non-JSON body", { status: response.status });
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
