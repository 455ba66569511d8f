"""`revos tenant create` and `revos tenant key`: admin actions recorded like any other, then awaited in
their projection."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.writes import Writer
from pipeline.admin import audit
from pipeline.admin.actions import create_tenant, issue_key, issued_trail
from pipeline.admin.keys import ADMIN as ADMIN_SCOPE
from pipeline.admin.keys import SCOPES
from pipeline.codec import default_codec
from pipeline.settings import Settings
from projections.db import create_pool
from projections.outbox import open_publisher

FIND_KEY = "SELECT 1 FROM api_keys WHERE key_id = $1"
FIND_TENANT = "SELECT 1 FROM tenants WHERE tenant_id = $1"


async def create_tenant_and_wait(name: str, settings: Settings, timeout: float) -> dict[str, Any]:
    """Record a new tenant and its first key, then wait up to `timeout` s for a worker to apply them."""
    made = create_tenant(name, actor="cli", now=datetime.now(UTC))
    codec = default_codec()
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        t, k = made.tenant, made.key
        trail = [
            audit.record(tenant_id=t.tenant_id, actor="cli", action="tenant.create", target=f"tenant:{t.tenant_id}",
                         before=None, after={"tenant_id": t.tenant_id, "name": t.name}, request_id=None,
                         now=t.occurred_at),
            issued_trail(k, None),
        ]  # fmt: skip
        async with open_publisher(settings, pool) as publisher:
            writer = Writer(publisher, codec, pool, timeout)
            records = [writer.to_tenant(made.tenant), writer.to_tenant(made.key)]
            ready = await writer.write(records, trail, FIND_KEY, made.key.key_id)
    finally:
        await pool.close()
    if not ready:
        print(
            f"revos: tenant recorded, but no worker applied it within {timeout:.0f}s; "
            "the key works once a worker is running",
            file=sys.stderr,
        )
    return {
        "tenant_id": made.tenant.tenant_id,
        "name": made.tenant.name,
        "api_key": made.secret,
        "key_id": made.key.key_id,
        "key_prefix": made.key.prefix,
    }


async def issue_key_and_wait(
    tenant_id: str, settings: Settings, timeout: float, scope: str = ADMIN_SCOPE
) -> dict[str, Any] | None:
    """Record a new key of an existing tenant (an operator's way back in); None if there is no such tenant."""
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        if await pool.fetchval(FIND_TENANT, tenant_id) is None:
            return None
        issued = issue_key(tenant_id, actor="cli", now=datetime.now(UTC), scope=scope)
        k = issued.record
        trail = issued_trail(k, None)
        codec = default_codec()
        async with open_publisher(settings, pool) as publisher:
            writer = Writer(publisher, codec, pool, timeout)
            applied = await writer.write([writer.to_tenant(k)], [trail], FIND_KEY, k.key_id)
        if not applied:
            print(f"revos: key recorded, but no worker applied it within {timeout:.0f}s", file=sys.stderr)
    finally:
        await pool.close()
    return {"tenant_id": tenant_id, "api_key": issued.secret, "key_id": k.key_id, "key_prefix": k.prefix,
            "scope": k.scope}  # fmt: skip


def _tenant_key(args: argparse.Namespace, settings: Settings) -> int:
    result = asyncio.run(issue_key_and_wait(args.tenant_id, settings, args.timeout, args.scope))
    if result is None:
        print(f"revos: no tenant {args.tenant_id}", file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


def _tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    result = asyncio.run(create_tenant_and_wait(args.name, settings, args.timeout))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


def add_commands(sub: Any) -> None:
    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="tenant_command", required=True
    )
    create = tenant.add_parser("create", help="create a tenant and print its first API key (shown once)")
    create.add_argument("name")
    create.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the key to be usable"
    )
    create.set_defaults(handler=_tenant_create)
    key = tenant.add_parser("key", help="issue another API key of an existing tenant (printed once)")
    key.add_argument("tenant_id")
    key.add_argument(
        "--scope",
        choices=SCOPES,
        default=ADMIN_SCOPE,
        help="admin (every route, the default) or ingest (usage events, entitlement checks, balances)",
    )
    key.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the key to be usable")
    key.set_defaults(handler=_tenant_key)
