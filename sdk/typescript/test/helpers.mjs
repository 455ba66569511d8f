// Shared test helpers: a fake transport that records batches, and waiting for a condition with a deadline.
import { DeliveryError } from "../dist/esm/index.js";

export class FakeTransport {
  constructor(script = []) {
    this.script = script; // per call: "ok", an Error to throw, or a function (items) => results
    this.batches = [];
  }

  async send(items) {
    this.batches.push(items.map((item) => item.id));
    const step = this.script.shift() ?? "ok";
    if (step instanceof Error) throw step;
    if (typeof step === "function") return step(items);
    return items.map((item) => ({ id: item.id, accepted: true }));
  }
}

export function http(status, code, retryAfter) {
  return new DeliveryError(`HTTP ${status}`, { status, code, retryAfter });
}

export async function eventually(condition, { timeoutMs = 10_000, everyMs = 5, what = "the condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A client that never reports to the console, with fast timings; its errors are collected. */
export function options(extra = {}) {
  const errors = [];
  return {
    errors,
    options: {
      apiKey: "k",
      flushOnExit: false,
      backoffBaseMs: 5,
      backoffMaxMs: 20,
      onError: (events, error) => errors.push({ events, error }),
      ...extra,
    },
  };
}
