"""Internal: the sans-IO batching engine and its thread and asyncio shells, retries, ledger, spool."""
