/**
 * The batcher: a bounded queue drained by one delivery loop on the running event loop. A batch closes at
 * `maxBatchEvents` (up to `maxBacklogEvents` while more are queued), before `maxBatchBytes`, or
 * `maxBatchWaitMs` after the first event; it is retried with full-jitter backoff, split on 413, and each
 * of its events ends sent, rejected, failed or dropped.
 */

import { Backoff } from "./backoff.js";
import type { Config } from "./config.js";
import { DeliveryError, EventDropped, EventRejected, type RevosError, isRetryable } from "./errors.js";
import { type Item, eventOf } from "./event.js";
import type { Stats } from "./stats.js";
import type { Transport } from "./transport.js";

/** Bytes of `{"events":[` and `]}` around a batch's events. */
const ENVELOPE = 13;

type Timer = ReturnType<typeof setTimeout>;

function unref(timer: Timer): void {
  (timer as { unref?: () => void }).unref?.();
}

function ref(timer: Timer): void {
  (timer as { ref?: () => void }).ref?.();
}

export class Batcher {
  private queue: Item[] = [];
  private head = 0;
  private running = false;
  private batchTimer: Timer | undefined;
  private sleepTimer: Timer | undefined;
  private wake: (() => void) | undefined;
  private flushing = 0;
  private idleWaiters: Array<() => void> = [];
  private roomWaiters: Array<() => void> = [];
  /** Set when close() ran out of time: everything still held is dropped. */
  private abandoned = false;
  private readonly backoff: Backoff;

  constructor(
    private readonly config: Config,
    private readonly transport: Transport,
    private readonly stats: Stats,
    private readonly report: (items: readonly Item[], error: RevosError) => void,
  ) {
    this.backoff = new Backoff(config.backoffBaseMs / 1000, config.backoffMaxMs / 1000, config.maxRetryAfterMs / 1000);
  }

  /** Events queued and not yet taken into a batch. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** True when nothing is queued or being delivered. */
  get idle(): boolean {
    return !this.running && this.queued === 0;
  }

  hasRoom(): boolean {
    return this.queued < this.config.maxQueueSize;
  }

  /** Queues `item` if there is room; never waits, never throws. */
  offer(item: Item): boolean {
    if (this.queued >= this.config.maxQueueSize) return false;
    this.queue.push(item);
    this.stats.enqueued++;
    if (!this.running) {
      if (this.queued >= this.config.maxBatchEvents || this.flushing > 0) this.start();
      else if (this.batchTimer === undefined) {
        this.batchTimer = setTimeout(() => this.start(), this.config.maxBatchWaitMs);
        unref(this.batchTimer);
      }
    }
    return true;
  }

  /** Resolves when there is room in the queue, or false after `timeoutMs`. */
  waitForRoom(timeoutMs: number): Promise<boolean> {
    if (this.hasRoom()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.roomWaiters = this.roomWaiters.filter((waiter) => waiter !== done);
        resolve(false);
      }, timeoutMs);
      this.roomWaiters.push(done);
    });
  }

  /** Sends everything queued now; resolves true once all of it is resolved, false after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.idle) return true;
    this.flushing++;
    if (this.sleepTimer !== undefined) ref(this.sleepTimer);
    if (!this.running) this.start();
    let timer: Timer | undefined;
    try {
      return await Promise.race([
        new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.flushing--;
    }
  }

  /** Gives up on everything still held (the exit time limit): counted dropped and reported. */
  abandon(reason: string): void {
    this.abandoned = true;
    const left = this.take(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    this.drop(left, reason);
    this.wake?.();
  }

  drop(items: readonly Item[], reason: string): void {
    if (items.length === 0) return;
    this.stats.dropped += items.length;
    this.report(items, new EventDropped(reason));
  }

  private start(): void {
    if (this.batchTimer !== undefined) {
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
    }
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.queued > 0 && !this.abandoned) {
        const limit = this.queued > this.config.maxBatchEvents ? this.config.maxBacklogEvents : this.config.maxBatchEvents;
        await this.deliver(this.take(limit, this.config.maxBatchBytes - ENVELOPE), Date.now());
      }
    } finally {
      this.running = false;
      this.stats.queued = this.queued;
      if (this.queued === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  private take(count: number, bytes: number): Item[] {
    const out: Item[] = [];
    let size = 0;
    while (this.head < this.queue.length && out.length < count) {
      const item = this.queue[this.head] as Item;
      if (out.length > 0 && size + item.size + 1 > bytes) break;
      out.push(item);
      size += item.size + 1;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const waiters = this.roomWaiters.splice(0, out.length);
    for (const resolve of waiters) resolve();
    return out;
  }

  private async deliver(batch: Item[], started: number): Promise<void> {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (this.abandoned) return this.drop(pending, "the exit time limit passed before delivery");
      let retryAfter: number | undefined;
      try {
        const results = await this.transport.send(pending, this.config.requestTimeoutMs);
        pending = this.settle(pending, results);
        if (pending.length === 0) return;
      } catch (caught) {
        const error =
          caught instanceof DeliveryError
            ? caught
            : new DeliveryError(`the transport failed: ${String(caught)}`, { retryable: false });
        if (error.status === 413 && pending.length > 1) {
          const half = Math.ceil(pending.length / 2);
          await this.deliver(pending.slice(0, half), started);
          return this.deliver(pending.slice(half), started);
        }
        if (!isRetryable(error) || Date.now() - started >= this.config.retryDeadlineMs) {
          this.stats.failed += pending.length;
          return this.report(pending, error);
        }
        retryAfter = error.retryAfter;
      }
      if (this.abandoned) return this.drop(pending, "the exit time limit passed before delivery");
      this.stats.retried += pending.length;
      await this.sleep(this.backoff.delay(attempt, retryAfter) * 1000);
    }
  }

  /** Counts the results; returns the events without one (to resend). */
  private settle(pending: Item[], results: readonly { id: string; accepted: boolean; code?: string | undefined; message?: string | undefined }[]): Item[] {
    const byId = new Map(results.map((result) => [result.id, result]));
    const missing: Item[] = [];
    for (const item of pending) {
      const result = byId.get(item.id);
      if (result === undefined) missing.push(item);
      else if (result.accepted) this.stats.sent++;
      else {
        this.stats.rejected++;
        this.report([item], new EventRejected(item.id, result.code ?? "rejected", result.message ?? "rejected"));
      }
    }
    return missing;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(this.sleepTimer);
        this.sleepTimer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.sleepTimer = setTimeout(done, ms);
      // An idle backoff must not keep a process alive; a flush or close waiting on it must.
      if (this.flushing === 0) unref(this.sleepTimer);
    });
  }
}

export { eventOf };
