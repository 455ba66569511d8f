// Batching, backoff, retries, splitting, rejections, the bounded queue, flush/close and meter() (no I/O).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, DeliveryError, EventDropped, EventRejected, InvalidEvent, Revos, parseRetryAfter } from "../dist/esm/index.js";
import { FakeTransport, eventually, http, options } from "./helpers.mjs";

const event = (i, extra = {}) => ({ customer: "cust_1", type: "llm.tokens", quantity: i + 1, ...extra });

test("a batch closes at maxBatchEvents, and grows to maxBacklogEvents while more are queued", async () => {
  const transport = new FakeTransport();
  const { options: opts } = options({ transport, maxBatchEvents: 100, maxBacklogEvents: 100 });
  const revos = new Revos(opts);
  for (let i = 0; i < 250; i++) revos.track(event(i));
  assert.ok(await revos.flush(5000));
  assert.deepEqual(transport.batches.map((b) => b.length), [100, 100, 50]);

  const backlog = new FakeTransport();
  const grows = new Revos(options({ transport: backlog, maxBatchEvents: 100, maxBacklogEvents: 1000 }).options);
  for (let i = 0; i < 1500; i++) grows.track(event(i));
  assert.ok(await grows.flush(5000));
  assert.deepEqual(backlog.batches.map((b) => b.length), [100, 1000, 400]);
  assert.equal(grows.stats().sent, 1500);
});

test("a batch closes maxBatchWaitMs after its first event, not before", async () => {
  const transport = new FakeTransport();
  const revos = new Revos(options({ transport, maxBatchWaitMs: 150 }).options);
  const started = Date.now();
  revos.track(event(0));
  revos.track(event(1));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(transport.batches.length, 0);
  await eventually(() => transport.batches.length === 1, { what: "the timed batch" });
  assert.ok(Date.now() - started >= 140);
  assert.equal(transport.batches[0].length, 2);
});

test("a batch closes before its body would pass maxBatchBytes", async () => {
  const transport = new FakeTransport();
  const revos = new Revos(options({ transport, maxBatchBytes: 2000 }).options);
  for (let i = 0; i < 40; i++) revos.track(event(i, { properties: { pad: "x".repeat(200) } }));
  assert.ok(await revos.flush(5000));
  assert.ok(transport.batches.length > 1);
  assert.equal(transport.batches.flat().length, 40);
  for (const batch of transport.batches) assert.ok(batch.length * 260 < 2000 + 300, `batch of ${batch.length}`);
});

test("full jitter: delays lie in [0, min(cap, base*2^(n-1))); Retry-After is a floor", () => {
  const high = new Backoff(0.5, 30, 300, () => 0.999999);
  assert.deepEqual([1, 2, 3, 7, 8, 100].map((n) => high.ceiling(n)), [0.5, 1, 2, 30, 30, 30]);
  const low = new Backoff(0.5, 30, 300, () => 0);
  assert.equal(low.delay(3), 0);
  assert.equal(low.delay(3, 7), 7);
  assert.equal(low.delay(3, 10_000), 300);
  assert.ok(high.delay(2, 0.1) > 0.99);
  const spread = new Backoff(1, 30);
  const samples = Array.from({ length: 2000 }, () => spread.delay(4));
  assert.ok(Math.min(...samples) < 1 && Math.max(...samples) > 7 && Math.max(...samples) < 8);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(parseRetryAfter("3"), 3);
  assert.equal(parseRetryAfter(" 1.5 "), 1.5);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  const now = Date.parse("2026-11-22T10:00:00Z");
  assert.equal(parseRetryAfter("Sun, 22 Nov 2026 10:00:30 GMT", now), 30);
  assert.equal(parseRetryAfter("Sun, 22 Nov 2026 09:00:00 GMT", now), 0);
});

test("network errors, 408, 429 and 5xx are retried until delivered; Retry-After is honoured", async () => {
  const transport = new FakeTransport([http(500), http(503), http(408), http(429, "rate_limited", 0.3), new DeliveryError0()]);
  const { errors, options: opts } = options({ transport });
  const revos = new Revos(opts);
  for (let i = 0; i < 10; i++) revos.track(event(i));
  const started = Date.now();
  assert.ok(await revos.flush(5000));
  assert.ok(Date.now() - started >= 290, "the 429's Retry-After was waited out");
  assert.equal(transport.batches.length, 6);
  assert.deepEqual(revos.stats(), { enqueued: 10, sent: 10, retried: 50, rejected: 0, failed: 0, dropped: 0, invalid: 0, queued: 0 });
  assert.equal(errors.length, 0);
});

function DeliveryError0() {
  return http(undefined, "connect_error");
}

test("other 4xx fail the batch without retry; events rejected one by one go to onError with their code", async () => {
  const reject = (items) => items.map((item, i) => (i === 0 ? { id: item.id, accepted: false, code: "negative_decimal", message: "no" } : { id: item.id, accepted: true }));
  const transport = new FakeTransport([reject, http(401, "invalid_api_key")]);
  const { errors, options: opts } = options({ transport, maxBatchEvents: 5 });
  const revos = new Revos(opts);
  for (let i = 0; i < 10; i++) revos.track(event(i));
  assert.ok(await revos.flush(5000));
  const stats = revos.stats();
  assert.equal(stats.sent, 4);
  assert.equal(stats.rejected, 1);
  assert.equal(stats.failed, 5);
  assert.equal(stats.retried, 0);
  assert.ok(errors[0].error instanceof EventRejected && errors[0].error.code === "negative_decimal");
  assert.equal(errors[0].events[0].quantity, "1");
  assert.equal(errors[1].error.status, 401);
  assert.equal(errors[1].events.length, 5);
});

test("a 413 splits the batch until it fits; events without a result are resent", async () => {
  const transport = new FakeTransport([http(413, "body_too_large"), http(413, "body_too_large"), "ok", "ok", (items) => [{ id: items[0].id, accepted: true }]]);
  const revos = new Revos(options({ transport, maxBatchEvents: 8 }).options);
  for (let i = 0; i < 8; i++) revos.track(event(i));
  assert.ok(await revos.flush(5000));
  assert.deepEqual(transport.batches.map((b) => b.length), [8, 4, 2, 2, 4, 3]);
  assert.equal(revos.stats().sent, 8);
});

test("a batch failing past retryDeadlineMs is given up", async () => {
  const transport = new FakeTransport(Array.from({ length: 1000 }, () => http(503)));
  const { errors, options: opts } = options({ transport, retryDeadlineMs: 100 });
  const revos = new Revos(opts);
  revos.track(event(0));
  assert.ok(await revos.flush(5000));
  assert.equal(revos.stats().failed, 1);
  assert.equal(errors[0].error.status, 503);
});

test("a full queue drops (counted, reported); trackAsync with overflow wait waits for room", async () => {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const transport = new FakeTransport([async (items) => { await gate; return items.map((item) => ({ id: item.id, accepted: true })); }]);
  const { errors, options: opts } = options({ transport, maxQueueSize: 5, maxBatchEvents: 2, overflow: "wait", waitTimeoutMs: 2000 });
  const revos = new Revos(opts);
  for (let i = 0; i < 7; i++) assert.ok(revos.track(event(i)), `event ${i}`); // 2 in flight, 5 queued
  assert.equal(revos.track(event(7)), undefined);
  assert.equal(revos.stats().dropped, 1);
  assert.ok(errors[0].error instanceof EventDropped);
  const waited = revos.trackAsync(event(8));
  setTimeout(release, 50);
  assert.ok(await waited);
  assert.ok(await revos.flush(5000));
  assert.equal(revos.stats().sent, 8);
});

test("close() delivers what it can in time, then drops the rest; track() after close drops", async () => {
  const transport = new FakeTransport(Array.from({ length: 1000 }, () => http(503)));
  const { errors, options: opts } = options({ transport, backoffBaseMs: 50 });
  const revos = new Revos(opts);
  for (let i = 0; i < 3; i++) revos.track(event(i));
  assert.equal(await revos.close(200), false);
  assert.equal(revos.stats().dropped, 3);
  assert.equal(revos.track(event(9)), undefined);
  assert.equal(revos.stats().dropped, 4);
  assert.ok(errors.every((e) => e.error instanceof EventDropped));
});

test("track() never throws: a malformed call is reported with the gateway's code and counted invalid", () => {
  const { errors, options: opts } = options({ transport: new FakeTransport() });
  const revos = new Revos(opts);
  for (const bad of [null, undefined, "x", 5, {}, { customer: "c" }, event(0, { quantity: Number.NaN }), event(0, { timestamp: new Date("nope") }), event(0, { properties: { big: 1n } })]) {
    assert.equal(revos.track(bad), undefined);
  }
  assert.equal(revos.stats().invalid, 9);
  assert.ok(errors.every((e) => e.error instanceof InvalidEvent && typeof e.error.code === "string"));
  assert.equal(errors[5].error.code, "invalid_type");
  assert.equal(errors[6].error.code, "invalid_decimal");
  void revos.close(10);
});

test("ids are unique and kept when given; bigint and Date inputs go on the wire as text", async () => {
  const seen = [];
  const record = (items) => {
    seen.push(...items.map((item) => JSON.parse(item.json)));
    return items.map((item) => ({ id: item.id, accepted: true }));
  };
  const transport = new FakeTransport(Array.from({ length: 20 }, () => record));
  const revos = new Revos(options({ transport }).options);
  const ids = new Set(Array.from({ length: 1000 }, (_, i) => revos.track(event(i))));
  assert.equal(ids.size, 1000);
  const at = new Date(Date.now() - 3600_000);
  assert.equal(revos.track(event(0, { id: "mine", quantity: 10n ** 20n, timestamp: at })), "mine");
  assert.ok(await revos.flush(5000));
  const mine = seen.find((e) => e.id === "mine");
  assert.equal(mine.quantity, "100000000000000000000");
  assert.equal(mine.timestamp, at.toISOString());
  assert.equal(seen.length, 1001);
});

test("meter() tracks once per success, computed from the result; nothing on failure; a failing spec is invalid", async () => {
  const transport = new FakeTransport();
  const sent = [];
  transport.script = Array.from({ length: 10 }, () => (items) => { sent.push(...items.map((item) => JSON.parse(item.json))); return items.map((item) => ({ id: item.id, accepted: true })); });
  const revos = new Revos(options({ transport }).options);
  const research = revos.meter(async (topic) => {
    if (topic === "fail") throw new Error("boom");
    return { customer: "cust_9", pages: topic.length };
  }, { type: "research.completed", customer: (r) => r.customer, quantity: (r) => r.pages, properties: (_r, [topic]) => ({ topic }) });
  assert.deepEqual(await research("abc"), { customer: "cust_9", pages: 3 });
  await assert.rejects(research("fail"), /boom/);
  const broken = revos.meter(async () => 1, { type: "x", customer: () => { throw new Error("no customer"); } });
  assert.equal(await broken(), 1);
  assert.ok(await revos.flush(5000));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].customer, "cust_9");
  assert.equal(sent[0].quantity, 3);
  assert.deepEqual(sent[0].properties, { topic: "abc" });
  assert.equal(revos.stats().invalid, 1);
});
