// The AI call: any OpenAI-compatible endpoint when AI_BASE_URL is set, else a canned local answer.

export interface Completion {
  answer: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
}

/** A rough token count for the offline model: about four characters a token. */
function tokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

export async function complete(prompt: string): Promise<Completion> {
  const baseUrl = process.env.AI_BASE_URL;
  if (!baseUrl) {
    const answer = `(offline model) You asked: "${prompt.slice(0, 200)}". Revos meters this answer: its tokens and one answer.completed outcome.`;
    return { answer, model: "offline", inputTokens: tokens(prompt), outputTokens: tokens(answer) };
  }
  const model = process.env.AI_MODEL ?? "gpt-4o-mini";
  const response = await fetch(`${baseUrl.replace(/\/+$/, "")}/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.AI_API_KEY ?? ""}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content: prompt }] }),
  });
  if (!response.ok) throw new Error(`the model answered HTTP ${response.status}`);
  const body = (await response.json()) as {
    choices: { message: { content: string } }[];
    usage?: { prompt_tokens: number; completion_tokens: number };
  };
  const answer = body.choices[0]?.message.content ?? "";
  return {
    answer,
    model,
    inputTokens: body.usage?.prompt_tokens ?? tokens(prompt),
    outputTokens: body.usage?.completion_tokens ?? tokens(answer),
  };
}
