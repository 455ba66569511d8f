// Sends the events of a JSON file (an array of track() inputs) through the SDK from concurrent callers,
// then flushes and prints the client's stats as JSON. Used by the end-to-end test and the benchmark.
//   node scripts/send-events.mjs EVENTS.json CALLERS   (REVOS_BASE_URL and REVOS_API_KEY set)
import { readFileSync } from "node:fs";
import { Revos } from "../dist/esm/index.js";

const [file, callersText = "8"] = process.argv.slice(2);
const events = JSON.parse(readFileSync(file, "utf8"));
const callers = Number(callersText);
const errors = [];
const revos = new Revos({ maxQueueSize: events.length + 1, onError: (failed, error) => errors.push(`${failed.length}: ${error.message}`) });

// Each caller is an async task that yields between its calls, as request handlers of a server would.
async function caller(first) {
  for (let i = first; i < events.length; i += callers) {
    revos.track(events[i]);
    if (i % 50 === first % 50) await new Promise((resolve) => setImmediate(resolve));
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: callers }, (_, c) => caller(c)));
const flushed = await revos.flush(120_000);
const seconds = (performance.now() - started) / 1000;
await revos.close();
console.log(JSON.stringify({ flushed, seconds, ...revos.stats(), errors: errors.slice(0, 5) }));
