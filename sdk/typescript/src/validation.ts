/**
 * The gateway's rules for one usage event (`POST /v1/events`), with its codes and in its order.
 *
 * `checkEvent` takes an event as it travels on the wire (a parsed JSON object) and the time it is
 * received, and answers the refusal the gateway would answer, or undefined when it would accept it. The
 * shared case list `tests/contract/usage_events.json` holds this module, the gateway and the Python SDK
 * together. A few exotic spellings the gateway also reads (`"1_000"`, ISO week dates) are refused here:
 * the SDK never accepts what the gateway refuses, and sends plain RFC 3339 and plain decimals.
 */

export const MAX_IDENTIFIER = 200;
export const MAX_PROPERTIES = 50;
export const MAX_PROPERTY_KEY = 100;
export const MAX_PROPERTY_VALUE = 1000;
export const QUANTITY_SCALE = 9;
/** Digits allowed before the decimal point of a quantity (Avro decimal(38, 9)). */
export const QUANTITY_INTEGER_DIGITS = 38 - QUANTITY_SCALE;
export const LATE_WINDOW_MS = 35 * 24 * 3600 * 1000;
export const FUTURE_SKEW_MS = 5 * 60 * 1000;
export const EVENT_FIELDS: ReadonlySet<string> = new Set([
  "id",
  "customer",
  "type",
  "timestamp",
  "quantity",
  "properties",
]);

/** Why the gateway would refuse an event: its stable code and a readable message. */
export interface Refusal {
  code: string;
  message: string;
}

class Refused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// Python's str.isprintable(): every character outside the "Other" and "Separator" categories, plus space.
const NON_PRINTING = /(?! )[\p{C}\p{Z}]/u;
// Strings that cannot travel as UTF-8 JSON (the gateway refuses the whole request holding one).
const LONE_SURROGATE = /\p{Cs}/u;
const DECIMAL = /^\s*([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?\s*$/;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)$/;
const INT64_LIMIT = 2n ** 63n;
const UINT64_MAX = 2n ** 64n - 1n;

function codePoints(value: string, limit: number): number {
  // UTF-16 length bounds the count from above: count exactly only when it might matter.
  if (value.length <= limit) return value.length;
  let count = 0;
  for (const _ of value) count++;
  return count;
}

function identifier(raw: unknown, field: string): string {
  const code = `invalid_${field}`;
  if (typeof raw !== "string" || raw.length === 0 || raw.trim() === "") {
    throw new Refused(code, `${field} must be a non-empty string`);
  }
  if (codePoints(raw, MAX_IDENTIFIER) > MAX_IDENTIFIER) {
    throw new Refused(code, `${field} is longer than ${MAX_IDENTIFIER} characters`);
  }
  if (raw.includes("\u0000")) throw new Refused(code, `${field} must not contain NUL characters`);
  if (raw.startsWith(" ") || raw.endsWith(" ") || raw !== raw.trim()) {
    throw new Refused(code, `${field} must not start or end with white space`);
  }
  if (NON_PRINTING.test(raw)) {
    throw new Refused(code, `${field} must not contain control or other non-printing characters`);
  }
  return raw;
}

/** Milliseconds since the epoch of an RFC 3339 time with an offset; throws Refused. */
export function parseTimestamp(raw: unknown): number {
  if (typeof raw !== "string") throw new Refused("invalid_timestamp", "timestamp must be an RFC 3339 string");
  const m = TIMESTAMP.exec(raw);
  if (m === null) {
    throw new Refused(
      "invalid_timestamp",
      `timestamp is not RFC 3339 with a time zone offset (e.g. 2026-11-22T10:00:00Z): ${JSON.stringify(raw).slice(0, 60)}`,
    );
  }
  const [year, month, day, hour, minute = "0", second = "0"] = m.slice(1, 7).map(Number) as number[];
  const fraction = m[7] ?? "";
  const zone = m[8] as string;
  const date = new Date(0);
  date.setUTCFullYear(year!, month! - 1, day!);
  date.setUTCHours(hour!, Number(minute), Number(second), 0);
  if (
    year! < 1 ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month! - 1 ||
    date.getUTCDate() !== day ||
    hour! > 23 ||
    Number(minute) > 59 ||
    Number(second) > 59
  ) {
    throw new Refused("invalid_timestamp", `timestamp is not a valid date and time: ${raw.slice(0, 60)}`);
  }
  const local = date.getTime();
  let offset = 0;
  if (zone !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (minutes > 59 || hours > 23) throw new Refused("invalid_timestamp", `timestamp offset is out of range: ${zone}`);
    offset = (zone.startsWith("-") ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  return local - offset + Number(`0.${fraction || "0"}`) * 1000;
}

function inWindow(millis: number, now: number): void {
  if (millis < now - LATE_WINDOW_MS) {
    throw new Refused("timestamp_out_of_window", "timestamp is more than 35 days in the past");
  }
  if (millis > now + FUTURE_SKEW_MS) {
    throw new Refused("timestamp_out_of_window", "timestamp is more than 5 minutes in the future");
  }
}

/** Checks a quantity as the gateway reads it (a decimal string or a JSON number); throws Refused. */
export function checkQuantity(raw: unknown, field = "quantity"): void {
  let text: string;
  if (typeof raw === "string") text = raw;
  else if (typeof raw === "number" || typeof raw === "bigint") text = String(raw);
  else throw new Refused("invalid_decimal", `${field} must be a decimal string or number`);
  const m = DECIMAL.exec(text);
  if (m === null) throw new Refused("invalid_decimal", `${field} is not a decimal: ${JSON.stringify(text).slice(0, 60)}`);
  const [, sign, whole = "", fractionPart, onlyFraction, exponentText] = m;
  const fraction = fractionPart ?? onlyFraction ?? "";
  const exponent = Number(exponentText ?? "0") - fraction.length;
  if (exponent < -QUANTITY_SCALE) {
    throw new Refused("invalid_decimal", `${field} has more than ${QUANTITY_SCALE} decimal places`);
  }
  const coefficient = (whole + fraction).replace(/^0+/, "");
  if (coefficient !== "" && coefficient.length + exponent > QUANTITY_INTEGER_DIGITS) {
    throw new Refused("invalid_decimal", `${field} is too large`);
  }
  if (sign === "-" && coefficient !== "") throw new Refused("negative_decimal", `${field} must not be negative`);
}

function propertyValueOk(value: unknown): boolean {
  switch (typeof value) {
    case "string":
      return codePoints(value, MAX_PROPERTY_VALUE) <= MAX_PROPERTY_VALUE;
    case "boolean":
      return true;
    case "number": {
      if (!Number.isFinite(value)) return false; // JSON has no NaN or Infinity: it would travel as null
      if (!Number.isInteger(value) || value < 2 ** 62) return true;
      // Whole numbers travel without an exponent below 1e21; the gateway reads those as integers, and an
      // integer from 2**63 up to 2**64 - 1 does not fit its 64-bit properties (larger ones read as doubles).
      const asInteger = value < 1e21 ? BigInt(String(value)) : 0n;
      return asInteger < INT64_LIMIT || asInteger > UINT64_MAX;
    }
    default:
      return false;
  }
}

function checkProperties(raw: unknown): void {
  if (raw === null || raw === undefined) return;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new Refused("invalid_type", "properties must be a JSON object");
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_PROPERTIES) {
    throw new Refused("invalid_properties", `properties has more than ${MAX_PROPERTIES} entries`);
  }
  for (const [key, value] of entries) {
    if (key.includes("\u0000") || (typeof value === "string" && value.includes("\u0000"))) {
      throw new Refused("invalid_properties", "properties must not contain NUL characters");
    }
    if (key.length === 0 || codePoints(key, MAX_PROPERTY_KEY) > MAX_PROPERTY_KEY) {
      throw new Refused("invalid_properties", `properties keys must be 1 to ${MAX_PROPERTY_KEY} characters`);
    }
    if (!propertyValueOk(value)) {
      throw new Refused(
        "invalid_properties",
        `properties.${key} must be a string, number or boolean (flat, no nesting)`,
      );
    }
    if (LONE_SURROGATE.test(key) || (typeof value === "string" && LONE_SURROGATE.test(value))) {
      throw new Refused("invalid_properties", `properties.${key} holds a lone surrogate (not valid UTF-8)`);
    }
  }
}

function check(event: unknown, now: number): void {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new Refused("invalid_type", "event must be a JSON object");
  }
  const raw = event as Record<string, unknown>;
  for (const key in raw) {
    if (!EVENT_FIELDS.has(key)) {
      const unknown = Object.keys(raw).filter((k) => !EVENT_FIELDS.has(k)).sort();
      throw new Refused("unknown_field", `event has unknown field(s): ${unknown.join(", ")}`);
    }
  }
  if (raw.timestamp !== undefined && raw.timestamp !== null) inWindow(parseTimestamp(raw.timestamp), now);
  if (raw.quantity !== undefined) checkQuantity(raw.quantity);
  identifier(raw.id, "id");
  identifier(raw.customer, "customer");
  identifier(raw.type, "type");
  checkProperties(raw.properties);
}

/** The gateway's answer to `event` (a wire object) received at `now` (ms): a refusal, or undefined. */
export function checkEvent(event: unknown, now: number = Date.now()): Refusal | undefined {
  try {
    check(event, now);
    return undefined;
  } catch (error) {
    if (error instanceof Refused) return { code: error.code, message: error.message };
    throw error;
  }
}
