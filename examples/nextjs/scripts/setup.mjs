// One-time setup for the example (needs an admin key): the burn table that prices the AI route, and
// 100 credits for a customer. Safe to run again: the grant has a fixed id.
//   REVOS_API_KEY=rk_... node scripts/setup.mjs [customer]
import { Revos } from "@revos/sdk";

const customer = process.argv[2] ?? "cust_demo";
const revos = new Revos({ flushOnExit: false });
const table = await revos.publishBurnTable("default", [
  { type: "llm.tokens", creditsPerUnit: "0.01" },
  { type: "answer.completed", creditsPerUnit: "1" },
]);
await revos.grantCredits(customer, "100", { id: `example-grant-${customer}`, reason: "Next.js example" });
const { balance } = await revos.getBalance(customer);
console.log(`burn table "default" v${table.version}; ${customer} has ${balance} credits`);
await revos.close();
