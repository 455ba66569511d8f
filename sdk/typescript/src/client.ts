/** `Revos`: track() that never throws or waits, background delivery, flush/close, meter() and the API helpers. */

import { Api, type Balance, type BurnRule, type BurnTableVersion, type CheckRequest, type CheckResult, type Grant, type GrantOptions, type Hold, type Money } from "./api.js";
import { type Config, type RevosOptions, resolveConfig } from "./config.js";
import { Batcher } from "./delivery.js";
import { EventDropped, InvalidEvent, RevosError } from "./errors.js";
import { type Event, IdFactory, type Item, type Quantity, type PropertyValue, type TrackInput, encodeEvent, eventOf } from "./event.js";
import { type Stats, newStats } from "./stats.js";
import { HttpTransport, type Transport } from "./transport.js";

type NodeProcess = {
  on(event: "beforeExit", listener: () => void): unknown;
  off(event: "beforeExit", listener: () => void): unknown;
};

/** How `meter()` turns a successful call into an event: values, or functions of the result and the arguments. */
export interface MeterSpec<A extends unknown[], R> {
  type: string | ((result: R, args: A) => string);
  customer: string | ((result: R, args: A) => string);
  quantity?: Quantity | ((result: R, args: A) => Quantity);
  properties?: Record<string, PropertyValue> | ((result: R, args: A) => Record<string, PropertyValue>);
}

function nodeProcess(): NodeProcess | undefined {
  const proc = (globalThis as { process?: Partial<NodeProcess> }).process;
  return typeof proc?.on === "function" && typeof proc.off === "function" ? (proc as NodeProcess) : undefined;
}

function defaultOnError(events: Event[], error: RevosError): void {
  console.warn(`revos: ${events.length} event(s) not delivered: ${error.message}`);
}

export class Revos {
  readonly config: Config;
  private readonly counters: Stats = newStats();
  private readonly ids = new IdFactory();
  private readonly batcher: Batcher;
  private readonly transport: Transport;
  private readonly onError: (events: Event[], error: RevosError) => void;
  private readonly api: Api;
  private closed = false;
  private closing: Promise<boolean> | undefined;
  private readonly exitHook: (() => void) | undefined;

  constructor(options: RevosOptions = {}) {
    this.config = resolveConfig(options);
    this.onError = options.onError ?? defaultOnError;
    this.transport = options.transport ?? new HttpTransport(this.config, options.fetch);
    this.batcher = new Batcher(this.config, this.transport, this.counters, (items, error) => this.report(items, error));
    this.api = new Api(this.config, options.fetch);
    const proc = this.config.flushOnExit ? nodeProcess() : undefined;
    if (proc !== undefined) {
      // beforeExit fires when a Node process has nothing left to do: deliver what is left, then let it end.
      this.exitHook = () => {
        if (!this.closed) void this.close();
      };
      proc.on("beforeExit", this.exitHook);
    }
  }

  /**
   * Validates the event, gives it an id and queues it; returns the id, or undefined when the event was
   * refused (reported to onError as an InvalidEvent with the gateway's code, counted `invalid`) or
   * dropped (queue full or client closed). Never throws, never waits, never touches the network.
   */
  track(input: TrackInput): string | undefined {
    const item = this.encode(input);
    if (item === undefined) return undefined;
    if (this.closed) {
      this.batcher.drop([item], "the client is closed");
      return undefined;
    }
    if (!this.batcher.offer(item)) {
      this.batcher.drop([item], `the queue is full (maxQueueSize ${this.config.maxQueueSize})`);
      return undefined;
    }
    return item.id;
  }

  /** As track(); with `overflow: "wait"`, a full queue is waited on for up to `waitTimeoutMs` before dropping. */
  async trackAsync(input: TrackInput): Promise<string | undefined> {
    if (this.config.overflow === "wait" && !this.closed && !this.batcher.hasRoom()) {
      await this.batcher.waitForRoom(this.config.waitTimeoutMs);
    }
    return this.track(input);
  }

  /**
   * Wraps an async (or sync) function: each time it returns, one event is tracked; nothing when it
   * throws. The spec's functions receive the result and the arguments. A spec that fails is counted
   * `invalid` and reported; the result is returned all the same.
   */
  meter<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, spec: MeterSpec<A, Awaited<R>>): (...args: A) => Promise<Awaited<R>> {
    return async (...args: A): Promise<Awaited<R>> => {
      const result = await fn(...args);
      let input: TrackInput;
      try {
        const pick = <T>(value: T | ((r: Awaited<R>, a: A) => T)): T =>
          typeof value === "function" ? (value as (r: Awaited<R>, a: A) => T)(result, args) : value;
        input = { type: pick(spec.type), customer: pick(spec.customer) };
        if (spec.quantity !== undefined) input.quantity = pick(spec.quantity);
        if (spec.properties !== undefined) input.properties = pick(spec.properties);
      } catch (error) {
        this.counters.invalid++;
        this.safeOnError([], new InvalidEvent("meter_failed", `meter() could not build its event: ${String(error)}`));
        return result;
      }
      this.track(input);
      return result;
    };
  }

  /**
   * Sends everything tracked so far and resolves true once each event is resolved (sent, rejected or
   * failed), or false after `timeoutMs`. Serverless: `await revos.flush()` before returning.
   */
  flush(timeoutMs = 30_000): Promise<boolean> {
    return this.batcher.flush(timeoutMs);
  }

  /** Flushes for at most `timeoutMs` (default exitTimeoutMs), drops what is left, and stops the client. */
  close(timeoutMs: number = this.config.exitTimeoutMs): Promise<boolean> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    if (this.exitHook !== undefined) nodeProcess()?.off("beforeExit", this.exitHook);
    this.closing = (async () => {
      const delivered = await this.batcher.flush(timeoutMs);
      if (!delivered) this.batcher.abandon(`the exit time limit (${timeoutMs} ms) passed before delivery`);
      await this.transport.close?.();
      return delivered;
    })();
    return this.closing;
  }

  /** Counters since start; `queued` is what is held in memory now. */
  stats(): Stats {
    return { ...this.counters, queued: this.batcher.queued };
  }

  /** Grants credits (an id is always sent, so a retry cannot grant twice). Needs an admin key. */
  grantCredits(customer: string, amount: Money, options: GrantOptions = {}): Promise<Grant> {
    return this.api.grantCredits(customer, amount, options);
  }

  /** The customer's balance, decimals as strings. */
  getBalance(customer: string): Promise<Balance> {
    return this.api.getBalance(customer);
  }

  /** `POST /v1/check`: may the customer spend `credits` (and use `feature`) now? With `hold`, reserves them. */
  check(request: CheckRequest): Promise<CheckResult> {
    return this.api.check(request);
  }

  /** Releases a hold before it is used or expires. */
  releaseHold(holdId: string): Promise<Hold> {
    return this.api.releaseHold(holdId);
  }

  /** Publishes a new version of a burn table. Needs an admin key. */
  publishBurnTable(name: string, rules: BurnRule[], effectiveAt?: Date | string): Promise<BurnTableVersion> {
    return this.api.publishBurnTable(name, rules, effectiveAt);
  }

  private encode(input: TrackInput): Item | undefined {
    try {
      return encodeEvent(input, this.ids, Date.now());
    } catch (error) {
      this.counters.invalid++;
      const invalid = error instanceof InvalidEvent ? error : new InvalidEvent("invalid_event", String(error));
      const event = typeof input === "object" && input !== null ? input : ({} as TrackInput);
      this.safeOnError(
        [
          {
            id: typeof event.id === "string" ? event.id : "",
            customer: String(event.customer),
            type: String(event.type),
            timestamp: event.timestamp instanceof Date ? undefined : event.timestamp,
            quantity: String(event.quantity ?? 1),
            properties: event.properties ?? {},
          },
        ],
        invalid,
      );
      return undefined;
    }
  }

  private report(items: readonly Item[], error: RevosError): void {
    this.safeOnError(items.map(eventOf), error);
  }

  private safeOnError(events: Event[], error: RevosError): void {
    try {
      this.onError(events, error);
    } catch (callbackError) {
      // The host's callback must not break delivery.
      console.warn(`revos: onError threw: ${String(callbackError)}`);
    }
  }
}


