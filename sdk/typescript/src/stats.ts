/** Counters since a client started; `queued` is the number held in memory now. */
export interface Stats {
  enqueued: number;
  /** Accepted by the gateway. */
  sent: number;
  /** Event sends repeated after a failure. */
  retried: number;
  /** Refused per event by the gateway. */
  rejected: number;
  /** Given up: a non-retryable error, or the retry deadline passed. */
  failed: number;
  /** Queue full, client closed, or the exit time limit. */
  dropped: number;
  /** `track()` calls refused locally, or `meter()` events that could not be built. */
  invalid: number;
  queued: number;
}

export function newStats(): Stats {
  return { enqueued: 0, sent: 0, retried: 0, rejected: 0, failed: 0, dropped: 0, invalid: 0, queued: 0 };
}
