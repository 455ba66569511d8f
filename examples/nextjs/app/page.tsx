"use client";

import { useCallback, useEffect, useState } from "react";

export default function Home() {
  const [customer, setCustomer] = useState("cust_demo");
  const [prompt, setPrompt] = useState("What does Revos do?");
  const [balance, setBalance] = useState<string>("…");
  const [answer, setAnswer] = useState<string>("");
  const [busy, setBusy] = useState(false);

  const refresh = useCallback(async () => {
    const response = await fetch(`/api/balance?customer=${encodeURIComponent(customer)}`);
    if (response.ok) setBalance((await response.json()).balance);
  }, [customer]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(refresh, 1000); // charges land within a second or so
    return () => clearInterval(timer);
  }, [refresh]);

  async function ask(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    const response = await fetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ customer, prompt }),
    });
    const body = await response.json();
    setAnswer(response.ok ? `${body.answer}\n\n(${body.tokens} tokens)` : `${body.error.code}: ${body.error.message}`);
    setBusy(false);
  }

  return (
    <main>
      <h1>Ask, and pay in credits</h1>
      <p>
        Customer <input value={customer} onChange={(e) => setCustomer(e.target.value)} /> has{" "}
        <strong data-testid="balance">{balance}</strong> credits.
      </p>
      <form onSubmit={ask}>
        <textarea rows={3} style={{ width: "100%" }} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        <button disabled={busy}>{busy ? "Thinking…" : "Ask"}</button>
      </form>
      <pre style={{ whiteSpace: "pre-wrap" }}>{answer}</pre>
    </main>
  );
}
