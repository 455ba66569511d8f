// Against a local server that fails on purpose (500s, 429 with Retry-After, timeouts, dropped connections,
// downtime): every event arrives, and an id arrives twice only from a batch the server processed but
// never answered.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { gunzipSync } from "node:zlib";
import { test } from "node:test";
import { Revos } from "../dist/esm/index.js";
import { eventually } from "./helpers.mjs";

/** POST /v1/events with a scripted fault per request: "ok", 500, 429, "hang", "drop-before", "drop-after". */
function faultServer(faults) {
  const state = { received: new Map(), unanswered: new Set(), requests: 0, retryAfterAt: undefined, retriedAt: undefined };
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const fault = faults.shift() ?? "ok";
      state.requests++;
      if (state.retryAfterAt !== undefined && state.retriedAt === undefined) state.retriedAt = Date.now();
      if (fault === "drop-before") return request.socket.destroy();
      if (fault === "hang") return; // never answers: the client's request timeout ends it
      if (fault === 500) return response.writeHead(500, { "content-type": "application/json" }).end('{"error":{"code":"unavailable","message":"boom"}}');
      if (fault === 429) {
        state.retryAfterAt = Date.now();
        return response.writeHead(429, { "retry-after": "1" }).end('{"error":{"code":"rate_limited","message":"slow down"}}');
      }
      const body = Buffer.concat(chunks);
      const raw = request.headers["content-encoding"] === "gzip" ? gunzipSync(body) : body;
      const { events } = JSON.parse(raw.toString("utf8"));
      for (const event of events) state.received.set(event.id, (state.received.get(event.id) ?? 0) + 1);
      if (fault === "drop-after") {
        for (const event of events) state.unanswered.add(event.id);
        return request.socket.destroy();
      }
      const results = events.map((event) => ({ id: event.id, status: "accepted" }));
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ accepted: events.length, rejected: 0, results }));
    });
  });
  return { server, state };
}

function listen(server, port = 0) {
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server.address().port)));
}

test("every event arrives through 500s, a 429 with Retry-After, timeouts and dropped connections", async () => {
  const faults = [500, "drop-after", 429, "hang", "drop-before", 500, "ok", "drop-after", "ok", 500];
  const { server, state } = faultServer(faults);
  const port = await listen(server);
  const errors = [];
  const revos = new Revos({
    apiKey: "k", baseUrl: `http://127.0.0.1:${port}`, flushOnExit: false, backoffBaseMs: 10, backoffMaxMs: 50,
    requestTimeoutMs: 300, maxBatchEvents: 50, maxBacklogEvents: 50, onError: (events, error) => errors.push(error),
  });
  const ids = [];
  for (let i = 0; i < 500; i++) ids.push(revos.track({ customer: `cust_${i % 7}`, type: "llm.tokens", quantity: i + 1 }));
  try {
    assert.ok(await revos.flush(20_000), "flush delivered everything");
    assert.deepEqual(errors, []);
    assert.deepEqual(new Set(state.received.keys()), new Set(ids));
    const duplicates = [...state.received].filter(([, n]) => n > 1).map(([id]) => id);
    assert.ok(duplicates.length > 0, "a processed but unanswered batch was resent");
    for (const id of duplicates) assert.ok(state.unanswered.has(id), `${id} arrived twice without a lost answer`);
    assert.ok(state.retriedAt - state.retryAfterAt >= 950, "Retry-After: 1 was honoured");
    const stats = revos.stats();
    assert.equal(stats.sent, 500);
    assert.ok(stats.retried >= 7 * 50);
  } finally {
    await revos.close(100);
    server.closeAllConnections();
    server.close();
  }
});

test("events tracked while the server is down are delivered when it comes back", async () => {
  const { server, state } = faultServer([]);
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve)); // down: connections are refused
  const revos = new Revos({ apiKey: "k", baseUrl: `http://127.0.0.1:${port}`, flushOnExit: false, backoffBaseMs: 50, backoffMaxMs: 200, maxBatchWaitMs: 10 });
  const ids = [];
  for (let i = 0; i < 300; i++) ids.push(revos.track({ customer: "cust_1", type: "llm.tokens" }));
  try {
    await eventually(() => revos.stats().retried > 0, { what: "a refused connection to be retried" });
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(revos.stats().sent, 0);
    await listen(server, port); // back up
    assert.ok(await revos.flush(15_000));
    assert.deepEqual(new Set(state.received.keys()), new Set(ids));
    assert.equal(revos.stats().sent, 300);
    assert.equal(revos.stats().failed + revos.stats().dropped, 0);
  } finally {
    await revos.close(100);
    server.closeAllConnections();
    server.close();
  }
});
