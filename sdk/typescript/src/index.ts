/** Revos TypeScript SDK: meter usage with one line, delivered in batches that survive outages. */

export { Revos, type MeterSpec } from "./client.js";
export type { RevosOptions, Config, Overflow } from "./config.js";
export { resolveConfig } from "./config.js";
export {
  RevosError,
  InvalidEvent,
  DeliveryError,
  ApiError,
  EventRejected,
  EventDropped,
  isRetryable,
} from "./errors.js";
export type { TrackInput, Event, Item, Quantity, PropertyValue } from "./event.js";
export type { Stats } from "./stats.js";
export { HttpTransport, NullTransport, type Transport, type EventResult } from "./transport.js";
export { Backoff, parseRetryAfter } from "./backoff.js";
export { checkEvent, type Refusal } from "./validation.js";
export type {
  Money,
  Grant,
  GrantOptions,
  Balance,
  CheckRequest,
  CheckResult,
  Hold,
  BurnRule,
  BurnTableVersion,
} from "./api.js";
export { VERSION } from "./version.js";
