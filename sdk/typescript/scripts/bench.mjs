// track() cost and delivery throughput, as JSON. With REVOS_BASE_URL and REVOS_API_KEY set, also sends
// EVENTS events to that gateway and reports events/s until it answered for all of them.
//   node scripts/bench.mjs [CALLS] [EVENTS]
import { NullTransport, Revos } from "../dist/esm/index.js";

const [calls = 100_000, events = 20_000] = process.argv.slice(2).map(Number);
const properties = { model: "gpt-4o", direction: "output" };

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

async function trackLatency() {
  const revos = new Revos({ apiKey: "bench", transport: new NullTransport(), maxQueueSize: calls + 10_000, flushOnExit: false });
  for (let i = 0; i < 10_000; i++) revos.track({ customer: "cust_1", type: "llm.tokens", quantity: i + 1, properties });
  await revos.flush();
  const samples = new Float64Array(calls);
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    const before = process.hrtime.bigint();
    revos.track({ customer: "cust_1", type: "llm.tokens", quantity: i + 1, properties });
    samples[i] = Number(process.hrtime.bigint() - before) / 1000;
  }
  const elapsed = (performance.now() - started) / 1000;
  await revos.close();
  samples.sort();
  return {
    calls,
    p50_us: Number(percentile(samples, 0.5).toFixed(2)),
    p99_us: Number(percentile(samples, 0.99).toFixed(2)),
    max_us: Number(samples[samples.length - 1].toFixed(1)),
    calls_per_s: Math.round(calls / elapsed),
  };
}

async function delivery() {
  const revos = new Revos({ maxQueueSize: events + 1, flushOnExit: false });
  const started = performance.now();
  for (let i = 0; i < events; i++) revos.track({ customer: "bench", type: "llm.tokens" });
  const delivered = await revos.flush(300_000);
  const seconds = (performance.now() - started) / 1000;
  const { sent } = revos.stats();
  await revos.close();
  return { events, seconds: Number(seconds.toFixed(3)), events_per_s: Math.round(sent / seconds), all_delivered: delivered && sent === events };
}

const report = { track: await trackLatency() };
if (process.env.REVOS_BASE_URL && process.env.REVOS_API_KEY) report.delivery = await delivery();
console.log(JSON.stringify(report));
