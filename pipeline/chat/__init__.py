"""Chat: the conversation fold, socket frames, model completions and SSE, leases, rate limits, widget tokens and tool signing."""
