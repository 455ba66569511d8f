"""Tool secrets earlier versions stored in plain text are sealed in place when the stack prepares."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.assistants import model as assistants
from pipeline.assistants.tool_secrets import SecretBox
from projections.chat import assistants as store
from projections.db import create_pool, migrate

SECRET = "whsec_0123456789abcdef"


async def test_plain_text_secrets_are_sealed_in_place(database: str) -> None:
    pool = await create_pool(database, max_size=2)
    try:
        await migrate(pool)
        tool = {"name": "lookup", "url": "https://tools.example.com/x", "secret": SECRET}
        body = {"name": "Helper", "customer": "c", "tools": [tool]}
        now = datetime.now(UTC)
        r = assistants.create(body, tenant_id="ten_a", agent_id="agt_1", actor="key:k", now=now)
        async with pool.acquire() as conn:
            await store.apply(conn, r)  # as an earlier version's gateway published it: in plain text
        box = SecretBox(b"k" * 32)
        assert await store.seal_plain_secrets(pool, box) == 1
        assert await store.seal_plain_secrets(pool, box) == 0
        raw = await pool.fetchval("SELECT tools::text FROM assistants WHERE agent_id = 'agt_1'")
        assert SECRET not in raw
        loaded = await store.load(pool, "ten_a", "agt_1")
        assert loaded is not None and box.open(loaded.tools[0].secret, "ten_a/agt_1") == SECRET
    finally:
        await pool.close()
