// The shared case list (tests/contract/usage_events.json): the SDK answers what the gateway answers.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Revos, checkEvent } from "../dist/esm/index.js";
import { FakeTransport, options } from "./helpers.mjs";

const file = new URL("../../../tests/contract/usage_events.json", import.meta.url);
const { cases } = JSON.parse(readFileSync(file, "utf8"));

function concrete(item, now) {
  const event = structuredClone(item.event);
  if (event && typeof event === "object" && !Array.isArray(event)) {
    if (event.id === "ID") event.id = "ev_1";
    if (item.timestamp_offset_seconds !== undefined) {
      event.timestamp = new Date(now + item.timestamp_offset_seconds * 1000).toISOString();
    }
  }
  return event;
}

test("the case list covers every usage-event code", () => {
  const codes = new Set(cases.map((c) => c.code));
  for (const code of [null, "invalid_type", "unknown_field", "invalid_timestamp", "timestamp_out_of_window",
    "invalid_decimal", "negative_decimal", "invalid_id", "invalid_customer", "invalid_properties"]) {
    assert.ok(codes.has(code), code);
  }
});

for (const item of cases) {
  test(`checkEvent: ${item.name}`, () => {
    const now = Date.now();
    assert.equal(checkEvent(concrete(item, now), now)?.code ?? null, item.code);
  });
}

test("track() refuses exactly the cases the gateway refuses, with its code", () => {
  const { errors, options: opts } = options({ transport: new FakeTransport() });
  const revos = new Revos(opts);
  for (const item of cases) {
    const event = concrete(item, Date.now());
    if (event === null || typeof event !== "object" || Array.isArray(event)) continue;
    if (!("id" in event)) continue; // track() gives an id to an event without one
    errors.length = 0;
    const id = revos.track(event);
    if (item.code === null) assert.equal(id, event.id ?? id, item.name);
    else {
      assert.equal(id, undefined, item.name);
      assert.equal(errors[0]?.error.code, item.code, item.name);
    }
  }
  void revos.close(10);
});
