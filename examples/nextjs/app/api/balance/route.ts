// The customer's balance, for the page to show it updating.
import { ApiError } from "@revos/sdk";
import { NextResponse } from "next/server";
import { revos } from "../../../lib/revos";

export const dynamic = "force-dynamic";

export async function GET(request: Request) {
  const customer = new URL(request.url).searchParams.get("customer") ?? "";
  if (!customer) return NextResponse.json({ error: { code: "invalid_customer", message: "customer is required" } }, { status: 400 });
  try {
    const balance = await revos.getBalance(customer);
    return NextResponse.json({ customer, balance: balance.balance });
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 404) return NextResponse.json({ customer, balance: "0" });
    throw failure;
  }
}
