"""Internal: the two clients, their shared front half (`track()`), exit and fork hooks, API helpers."""
