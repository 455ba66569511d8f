"""The typed API helpers (grants, balance, burn tables) against a real local server."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from revos_sdk import ApiError, AsyncRevos, BurnRule, Revos
from sdk_fault_server import API_KEY, FAST, FaultServer


@pytest.fixture
def api(server: FaultServer) -> FaultServer:
    seen: list[dict[str, Any] | None] = []

    def grant(body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        seen.append(body)
        assert body is not None
        return 201, {**body, "customer": "cust 1"}

    def balance(_: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        return 200, {
            "customer": "cust 1",
            "balance": "1234.567890123456789",
            "grants": [{"id": "g1", "amount": "10.10", "priority": 1}],
            "as_of": "2026-01-01T00:00:00Z",
        }

    def burn(body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        seen.append(body)
        return 200, {"name": "default", "version": 3, "effective_at": "2026-01-01T00:00:00+00:00"}

    server.routes[("POST", "/v1/customers/cust%201/grants")] = grant
    server.routes[("GET", "/v1/customers/cust%201/balance")] = balance
    server.routes[("PUT", "/v1/burn-tables/default")] = burn
    server.seen = seen  # type: ignore[attr-defined]
    return server


def client(server: FaultServer) -> Revos:
    return Revos(api_key=API_KEY, base_url=server.url, **FAST)


def test_grant_credits_sends_exact_decimals_and_survives_a_503(api: FaultServer) -> None:
    api.faults.append("503:0.05")
    with client(api) as revos:
        grant = revos.grant_credits(
            "cust 1",
            Decimal("10.50"),
            priority=2,
            reason="promo",
            expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        )
    [body] = api.seen  # type: ignore[attr-defined]
    assert body["amount"] == "10.50" and body["priority"] == 2 and body["expires_at"].startswith("2027-01-01")
    assert grant.amount == Decimal("10.50") and grant.id == body["id"] and grant.customer == "cust 1"


def test_get_balance_parses_money_exactly(api: FaultServer) -> None:
    with client(api) as revos:
        balance = revos.get_balance("cust 1")
    assert balance.balance == Decimal("1234.567890123456789")
    assert balance.grants[0].amount == Decimal("10.10") and balance.as_of is not None


def test_publish_burn_table_is_not_resent_after_an_ambiguous_failure(api: FaultServer) -> None:
    rules = [BurnRule("llm.tokens", Decimal("0.002"), {"model": "gpt-4o"}, cost_per_unit="0.0001")]
    with client(api) as revos:
        api.faults.append("500")
        with pytest.raises(ApiError) as failure:
            revos.publish_burn_table("default", rules)
        assert failure.value.status == 500
        api.faults.append("503:0.05")  # 503 means "not processed": safe to resend.
        version = revos.publish_burn_table("default", rules)
    assert version.version == 3
    [body] = api.seen  # type: ignore[attr-defined]
    assert body["rules"] == [
        {
            "type": "llm.tokens",
            "credits_per_unit": "0.002",
            "match": {"model": "gpt-4o"},
            "cost_per_unit": "0.0001",
        }
    ]


def test_errors_carry_the_gateway_code(api: FaultServer) -> None:
    with client(api) as revos, pytest.raises(ApiError) as failure:
        revos.get_balance("nobody")
    assert failure.value.status == 404 and failure.value.code == "not_found"


def test_money_must_not_be_a_float(api: FaultServer) -> None:
    with client(api) as revos, pytest.raises(ValueError, match="Decimal"):
        revos.grant_credits("cust 1", 10.5)  # type: ignore[arg-type]


async def test_async_helpers(api: FaultServer) -> None:
    async with AsyncRevos(api_key=API_KEY, base_url=api.url, **FAST) as revos:
        balance = await revos.get_balance("cust 1")
        grant = await revos.grant_credits("cust 1", "5")
        version = await revos.publish_burn_table("default", [BurnRule("research.completed", 50)])
    assert balance.balance == Decimal("1234.567890123456789")
    assert grant.amount == Decimal(5) and version.version == 3
