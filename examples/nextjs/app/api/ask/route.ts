// The billed AI route: reserve credits with a hold, answer, then track the tokens and the outcome.
import { randomUUID } from "node:crypto";
import { NextResponse } from "next/server";
import { complete } from "../../../lib/model";
import { revos } from "../../../lib/revos";

export const dynamic = "force-dynamic";

/** Credits reserved before answering: enough for the longest answer this route gives. */
const ESTIMATE = "20";

function error(status: number, code: string, message: string) {
  return NextResponse.json({ error: { code, message } }, { status });
}

export async function POST(request: Request) {
  const body = (await request.json().catch(() => null)) as { customer?: unknown; prompt?: unknown } | null;
  const customer = typeof body?.customer === "string" ? body.customer : "";
  const prompt = typeof body?.prompt === "string" ? body.prompt.slice(0, 4000) : "";
  if (!customer || !prompt) return error(400, "invalid_request", 'send {"customer", "prompt"}');

  // 1. Check credits and hold them; the hold ends when the tokens event below is charged.
  const tokensEventId = `tok_${randomUUID()}`;
  const check = await revos.check({ customer, credits: ESTIMATE, hold: { eventId: tokensEventId, ttlSeconds: 120 } });
  if (!check.allowed) return error(402, check.reason, `not enough credits (balance ${check.balance})`);

  // 2. Answer.
  let completion;
  try {
    completion = await complete(prompt);
  } catch (failure) {
    await revos.releaseHold(check.hold!.holdId);
    return error(502, "model_failed", String(failure));
  }

  // 3. Meter: the tokens (against the hold) and the outcome. track() never throws and never waits.
  const tokens = completion.inputTokens + completion.outputTokens;
  revos.track({ id: tokensEventId, customer, type: "llm.tokens", quantity: tokens, properties: { model: completion.model } });
  const outcomeEventId = revos.track({ customer, type: "answer.completed", properties: { model: completion.model } });

  // A serverless function may be frozen once it answers: deliver first. (On Vercel, `after(() =>
  // revos.flush())` from next/server hands the flush to waitUntil and answers sooner.)
  await revos.flush(5000);
  return NextResponse.json({ answer: completion.answer, tokens, tokensEventId, outcomeEventId, hold: check.hold });
}
