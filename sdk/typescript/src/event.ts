/** Usage events: what `track()` takes, id assignment, local validation and the one wire encoding. */

import { InvalidEvent } from "./errors.js";
import { checkEvent } from "./validation.js";

/** A quantity: a whole number, a decimal string ("0.25"), or a bigint. Strings keep decimals exact. */
export type Quantity = number | string | bigint;
export type PropertyValue = string | number | boolean;

/** What `track()` takes. Only `customer` and `type` are required. */
export interface TrackInput {
  customer: string;
  type: string;
  /** Default 1; non-negative, at most 9 decimal places. */
  quantity?: Quantity;
  /** A flat map (at most 50 entries) of strings, numbers and booleans. */
  properties?: Record<string, PropertyValue>;
  /** Event time: a Date or an RFC 3339 string with an offset; default: the time of the call. */
  timestamp?: Date | string;
  /** Idempotency key, unique per tenant; generated when omitted. */
  id?: string;
}

/** An event as handed to `onError`: decimal-string quantity, wire-format timestamp. */
export interface Event {
  id: string;
  customer: string;
  type: string;
  timestamp: string | undefined;
  quantity: string;
  properties: Record<string, PropertyValue>;
}

/** One encoded event waiting for delivery. */
export interface Item {
  readonly id: string;
  readonly json: string;
  /** UTF-8 length of `json`. */
  readonly size: number;
}

const NON_ASCII = /[^\x00-\x7f]/;
const encoder = new TextEncoder();

function randomHex(bytes: number): string {
  const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  const buffer = new Uint8Array(bytes);
  if (crypto?.getRandomValues) crypto.getRandomValues(buffer);
  else for (let i = 0; i < bytes; i++) buffer[i] = Math.floor(Math.random() * 256);
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Mints event ids: a random 96-bit prefix per client plus a counter, so ids never repeat. */
export class IdFactory {
  private prefix = `ev_${randomHex(12)}_`;
  private counter = 0;

  next(): string {
    return this.prefix + (this.counter++).toString(36);
  }
}

/** The UTF-8 length of a string (its length when it is ASCII, the common case). */
export function utf8Length(text: string): number {
  return NON_ASCII.test(text) ? encoder.encode(text).length : text.length;
}

/** Validates `input` as the gateway would at `now` (ms) and encodes it; throws InvalidEvent only. */
export function encodeEvent(input: TrackInput, ids: IdFactory, now: number): Item {
  if (typeof input !== "object" || input === null) {
    throw new InvalidEvent("invalid_type", "track() takes an object: {customer, type, quantity?, ...}");
  }
  const wire: Record<string, unknown> = { ...input };
  if (wire.id === undefined) wire.id = ids.next();
  const timestamp = wire.timestamp;
  if (timestamp === undefined) wire.timestamp = new Date(now).toISOString();
  else if (timestamp instanceof Date) {
    if (Number.isNaN(timestamp.getTime())) throw new InvalidEvent("invalid_timestamp", "timestamp is an invalid Date");
    wire.timestamp = timestamp.toISOString();
  }
  if (typeof wire.quantity === "bigint") wire.quantity = String(wire.quantity);
  else if (typeof wire.quantity === "number" && !Number.isFinite(wire.quantity)) {
    throw new InvalidEvent("invalid_decimal", `quantity must be finite, got ${wire.quantity}`);
  }
  if (wire.properties === undefined) delete wire.properties;
  const refusal = checkEvent(wire, now);
  if (refusal !== undefined) throw new InvalidEvent(refusal.code, refusal.message);
  const json = JSON.stringify(wire);
  return { id: wire.id as string, json, size: utf8Length(json) };
}

/** Decodes an item back into the event handed to `onError`. */
export function eventOf(item: Item): Event {
  const raw = JSON.parse(item.json) as Record<string, unknown>;
  return {
    id: String(raw.id),
    customer: String(raw.customer),
    type: String(raw.type),
    timestamp: raw.timestamp === undefined ? undefined : String(raw.timestamp),
    quantity: raw.quantity === undefined ? "1" : String(raw.quantity),
    properties: (raw.properties as Record<string, PropertyValue> | undefined) ?? {},
  };
}
