/** Retry timing: exponential backoff with full jitter that never undercuts Retry-After. */

export class Backoff {
  constructor(
    /** Seconds. */
    readonly base = 0.5,
    readonly cap = 30,
    readonly maxRetryAfter = 300,
    private readonly random: () => number = Math.random,
  ) {}

  /** The upper bound of the jittered delay for retry number `attempt` (1-based), in seconds. */
  ceiling(attempt: number): number {
    // Bound the exponent so a long outage cannot overflow.
    return Math.min(this.cap, this.base * 2 ** Math.min(Math.max(attempt - 1, 0), 60));
  }

  /** Seconds before retry `attempt`: full jitter in [0, ceiling); never less than a Retry-After (capped). */
  delay(attempt: number, retryAfter?: number): number {
    const jittered = this.random() * this.ceiling(attempt);
    if (retryAfter === undefined) return jittered;
    return Math.max(Math.min(retryAfter, this.maxRetryAfter), jittered);
  }
}

/** Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); undefined if absent or garbled. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(text)) return Math.max(0, Number(text));
  if (!/[a-z]/i.test(text)) return undefined;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, (when - now) / 1000);
}
