"""Odd input gets a 400 JSON error with a stable code, never a 500 (found by probing the API)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
from e2e_stack import Stack, eventually


def cursor(*position: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


BEYOND_INT64 = 2**63
AT = "2026-01-01T00:00:00+00:00"
NUL_ID = "id\x00"


async def test_odd_query_values_path_parameters_and_bodies_get_400s(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    probes: list[tuple[str, str, dict[str, Any], str]] = [
        # `²` is a digit to str.isdigit(), not to int().
        ("GET", "/v1/customers/c1/charges?limit=\u00b2", {}, "invalid_limit"),
        ("GET", "/v1/customers/c1/ledger?limit=\u00b2", {}, "invalid_limit"),
        ("GET", "/v1/audit?limit=\u00b2", {}, "invalid_limit"),
        ("GET", "/v1/conversations?limit=\u00b2", {}, "invalid_limit"),
        ("GET", "/v1/audit?cursor=\u00b2", {}, "invalid_cursor"),
        # Cursors past what a PostgreSQL bigint holds.
        ("GET", f"/v1/audit?cursor={BEYOND_INT64}", {}, "invalid_cursor"),
        ("GET", f"/v1/customers/c1/ledger?cursor={cursor(BEYOND_INT64)}", {}, "invalid_cursor"),
        ("GET", f"/v1/customers/c1/alerts?cursor={cursor(BEYOND_INT64, '1')}", {}, "invalid_cursor"),
        # NUL characters, which PostgreSQL text cannot hold, in cursors, paths and queries.
        ("GET", f"/v1/customers/c1/charges?cursor={cursor(AT, NUL_ID)}", {}, "invalid_cursor"),
        ("GET", f"/v1/conversations?cursor={cursor(AT, NUL_ID)}", {}, "invalid_cursor"),
        ("GET", "/v1/customers/a%00b/balance", {}, "invalid_characters"),
        ("GET", "/v1/conversations/a%00b", {}, "invalid_characters"),
        ("GET", "/v1/burn-tables/t%00", {}, "invalid_characters"),
        ("GET", "/v1/conversations?agent_id=%00", {}, "invalid_characters"),
        ("GET", "/v1/audit?action=a%00", {}, "invalid_characters"),
        # Bodies that are JSON but not an object.
        ("POST", "/v1/keys", {"content": b"[]"}, "invalid_type"),
        ("POST", "/v1/keys", {"content": b"1"}, "invalid_type"),
        ("POST", f"/v1/keys/{tenant['key_id']}/revoke", {"content": b"[1]"}, "invalid_type"),
        ("POST", f"/v1/keys/{tenant['key_id']}/rotate", {"content": b'"x"'}, "invalid_type"),
        # A trailing newline that `re.match` with `$` lets through.
        ("POST", "/v1/widget/sessions",
         {"json": {"agent_id": "agt_x", "visitor_id": "v1\n"}, "headers": {"Origin": "https://shop.example"}},
         "invalid_visitor_id"),
    ]  # fmt: skip
    async with stack.client(tenant["api_key"]) as api:
        made = await api.put("/v1/customers/c1", json={})
        assert made.status_code in (200, 201, 202), made.text

        async def known() -> bool:
            return (await api.get("/v1/customers/c1/ledger")).status_code == 200

        await eventually(known, what="the customer to be known")
        wrong = []
        for method, path, options, code in probes:
            try:
                answer = await api.request(method, path, **options)
            except httpx.TransportError as exc:  # a 500 that takes the connection down with it
                wrong.append(f"{method} {path!r}: {exc!r}")
                continue
            body = answer.json() if answer.headers.get("content-type") == "application/json" else None
            got = body["error"]["code"] if body and "error" in body else None
            if answer.status_code != 400 or got != code or not body["error"]["message"]:
                wrong.append(f"{method} {path!r}: {answer.status_code} {answer.text[:200]}")
    assert wrong == [], "\n".join(wrong)


async def test_nul_in_body_strings_gets_400s(stack: Stack) -> None:
    """PostgreSQL text and jsonb cannot hold NUL: a body string with one is refused before it is stored."""
    tenant = await stack.create_tenant()
    origin = {"Origin": "https://shop.example"}
    probes: list[tuple[str, str, dict[str, Any], str]] = [
        # Found by fuzzing: the widget's session issuance took the agent id to SQL as it came.
        ("POST", "/v1/widget/sessions", {"json": {"agent_id": "agt_\x00"}, "headers": origin}, "invalid_agent_id"),
        ("POST", "/v1/widget/sessions", {"json": {"agent_id": "\x00"}, "headers": origin}, "invalid_agent_id"),
        ("POST", "/v1/customers/c1/grants", {"json": {"amount": "1", "id": "g\x00"}}, "invalid_id"),
        ("POST", "/v1/customers/c1/grants", {"json": {"amount": "1", "reason": "\x00"}}, "invalid_reason"),
        ("PUT", "/v1/customers/c1", {"json": {"burn_table": "t\x00"}}, "invalid_burn_table"),
        ("PUT", "/v1/customers/c1", {"json": {"metadata": {"k": "\x00"}}}, "invalid_properties"),
        ("PUT", "/v1/customers/c1", {"json": {"metadata": {"\x00": "v"}}}, "invalid_properties"),
        ("PUT", "/v1/burn-tables/t",
         {"json": {"rules": [{"type": "a\x00", "credits_per_unit": "1"}]}}, "invalid_type"),
        ("PUT", "/v1/burn-tables/t",
         {"json": {"rules": [{"type": "a", "match": {"k": "\x00"}, "credits_per_unit": "1"}]}}, "invalid_properties"),
        ("POST", "/v1/check", {"json": {"customer": "c\x00", "feature": "f"}}, "invalid_customer"),
        ("POST", "/v1/check", {"json": {"customer": "c1", "feature": "f\x00"}}, "invalid_feature"),
        ("PUT", "/v1/customers/c1/entitlements/f",
         {"json": {"kind": "metered", "event_type": "e\x00", "allowance": "1", "period": "day"}},
         "invalid_event_type"),
    ]  # fmt: skip
    async with stack.client(tenant["api_key"]) as api:
        wrong = []
        for method, path, options, code in probes:
            try:
                answer = await api.request(method, path, **options)
            except httpx.TransportError as exc:
                wrong.append(f"{method} {path} {options}: {exc!r}")
                continue
            body = answer.json() if answer.headers.get("content-type") == "application/json" else None
            got = body["error"]["code"] if body and "error" in body else None
            if answer.status_code != 400 or got != code:
                wrong.append(f"{method} {path} {options}: {answer.status_code} {answer.text[:200]}")
    assert wrong == [], "\n".join(wrong)
