/** The SDK's errors: one root, data-carrying, classified by `isRetryable`. */

const RETRYABLE_STATUSES = new Set([408, 429]);

/** Root of every error the SDK throws or hands to `onError`. */
export class RevosError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A `track()` call was malformed; `code` is the one the gateway would have answered. Nothing was enqueued. */
export class InvalidEvent extends RevosError {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export interface DeliveryErrorOptions {
  status?: number | undefined;
  code?: string | undefined;
  retryAfter?: number | undefined;
  retryable?: boolean | undefined;
}

/** A request to Revos failed as a whole; `status` is undefined when no HTTP answer arrived. */
export class DeliveryError extends RevosError {
  readonly status: number | undefined;
  readonly code: string | undefined;
  /** Seconds the server asked us to wait (`Retry-After`). */
  readonly retryAfter: number | undefined;
  readonly retryable: boolean | undefined;

  constructor(message: string, options: DeliveryErrorOptions = {}) {
    const where = options.status === undefined ? "no response" : `HTTP ${options.status}`;
    super(`${where}${options.code ? ` [${options.code}]` : ""}: ${message}`);
    this.status = options.status;
    this.code = options.code;
    this.retryAfter = options.retryAfter;
    this.retryable = options.retryable;
  }
}

/** An API helper (grants, balances, checks, holds, burn tables) got an error answer. */
export class ApiError extends DeliveryError {}

/** The gateway refused one event; it is reported to `onError`, never retried. */
export class EventRejected extends RevosError {
  readonly eventId: string;
  readonly code: string;

  constructor(eventId: string, code: string, message: string) {
    super(`event ${JSON.stringify(eventId)} rejected [${code}]: ${message}`);
    this.eventId = eventId;
    this.code = code;
  }
}

/** The SDK gave up on an event locally (queue full, client closed, exit time limit). */
export class EventDropped extends RevosError {
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

/** True when resending the same request may succeed: no answer, 408, 429 or 5xx (or as marked). */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof DeliveryError)) return false;
  if (error.retryable !== undefined) return error.retryable;
  const status = error.status;
  return status === undefined || RETRYABLE_STATUSES.has(status) || (status >= 500 && status <= 599);
}
