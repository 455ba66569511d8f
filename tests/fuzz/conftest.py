"""Fuzzing fixtures: one real stack (broker, PostgreSQL, worker, gateway) for the package, a tenant with a
real API key, and a little data for the generated requests to land on."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from e2e_stack import Stack, eventually, stack_on_new_database


@pytest.fixture(scope="package")
async def fuzz_stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as stack:
        yield stack


@pytest.fixture(scope="package")
async def fuzz_tenant(fuzz_stack: Stack) -> dict[str, Any]:
    """A tenant whose customer `c1` has a burn table and credits, and an agent embeddable on shop.example."""
    tenant = await fuzz_stack.create_tenant("fuzz")
    async with fuzz_stack.client(tenant["api_key"]) as api:
        rules = {"rules": [{"type": "llm.tokens", "credits_per_unit": "0.001"}]}
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        granted = await api.post("/v1/customers/c1/grants", json={"amount": "1000", "id": "g1"})
        assert granted.status_code == 201, granted.text
        made = await api.post(
            "/v1/agents", json={"name": "Fuzz bot", "customer": "c1", "allowed_domains": ["shop.example"]}
        )
        assert made.status_code in (201, 202), made.text
        agent_id = made.json()["agent_id"]

        async def stored() -> bool:
            return (await api.get(f"/v1/agents/{agent_id}")).status_code == 200

        await eventually(stored, what="the agent to be stored")
    return {**tenant, "agent_id": agent_id}


@pytest.fixture(scope="package")
def fuzz_headers(fuzz_tenant: dict[str, Any]) -> dict[str, str]:
    """Sent with every fuzzed request: the tenant's key, and the Origin of a page the agent allows
    (operations without security ignore the key; the widget's session issuance needs an Origin)."""
    return {"Authorization": f"Bearer {fuzz_tenant['api_key']}", "Origin": "https://shop.example"}
