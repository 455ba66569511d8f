"""`revos user create` and `revos user reset-password`: dashboard accounts made or rescued by an operator,
recorded like any other admin write, then awaited in their projection. A password is read from standard
input with `--password-stdin`; otherwise one is generated and printed once."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.dashboard.passwords import hashed
from gateway.writes import Writer
from pipeline.admin import users
from pipeline.codec import default_codec
from pipeline.errors import ValidationError
from pipeline.settings import Settings
from projections import login_sessions
from projections import users as store
from projections.db import create_pool
from projections.outbox import open_publisher

FIND_TENANT = "SELECT 1 FROM tenants WHERE tenant_id = $1"
ACTOR = "cli"


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set, and whether it was generated (and must be shown)."""
    if args.password_stdin:
        return users.password(sys.stdin.readline().rstrip("\n")), False
    return secrets.token_urlsafe(18), True


async def create_user(tenant_id: str, email: str, password: str, settings: Settings, timeout: float) -> str:
    """Record a new user of the tenant; its id once a worker applied it. Raises ValidationError for an
    unknown tenant or a taken email."""
    address = users.email(email)
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        if await pool.fetchval(FIND_TENANT, tenant_id) is None:
            raise ValidationError(f"no tenant {tenant_id}", code="tenant_not_found", field="tenant")
        if await pool.fetchval(store.EMAIL_TAKEN, address) is not None:
            raise ValidationError(f"{address} already has an account", code="email_taken", field="email")
        user = users.new_user(tenant_id, address, await hashed(password), by=ACTOR, now=datetime.now(UTC))
        async with open_publisher(settings, pool) as publisher:
            writer = Writer(publisher, default_codec(), pool, timeout)
            await writer.publish([writer.to_tenant(user)], [users.user_trail(user, None)])
            found = await writer.wait_value(store.CREATED, address)
    finally:
        await pool.close()
    if found is None:
        print(f"revos: user recorded, but no worker applied it within {timeout:.0f}s", file=sys.stderr)
    elif found != user.user_id:
        raise ValidationError(f"{address} already has an account", code="email_taken", field="email")
    return user.user_id


async def reset_password(email: str, password: str, settings: Settings, timeout: float) -> str:
    """Record a new password for the user of `email` and end every session of theirs."""
    address = users.email(email)
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        user = await store.by_email(pool, address)
        if user is None:
            raise ValidationError(f"no user with the email {address}", code="user_not_found", field="email")
        changed, trail = users.password_changed(
            user.tenant_id,
            user.user_id,
            await hashed(password),
            by=ACTOR,
            now=datetime.now(UTC),
            request_id=None,
        )
        async with open_publisher(settings, pool) as publisher:
            writer = Writer(publisher, default_codec(), pool, timeout)
            applied = await writer.write(
                [writer.to_tenant(changed)], [trail], store.PASSWORD_SET, user.user_id, changed.event_id
            )
        await login_sessions.end_others(pool, user.user_id, keep_token="")
    finally:
        await pool.close()
    if not applied:
        print(f"revos: password recorded, but no worker applied it within {timeout:.0f}s", file=sys.stderr)
    return user.user_id


def _print(result: dict[str, Any]) -> int:
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = _password(args)
    user_id = asyncio.run(create_user(args.tenant_id, args.email, password, settings, args.timeout))
    shown = {"password": password} if generated else {}
    return _print(
        {"user_id": user_id, "tenant_id": args.tenant_id, "email": users.email(args.email), **shown}
    )


def _user_reset(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = _password(args)
    user_id = asyncio.run(reset_password(args.email, password, settings, args.timeout))
    return _print(
        {
            "user_id": user_id,
            "email": users.email(args.email),
            **({"password": password} if generated else {}),
        }
    )


def add_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="manage dashboard users").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser(
        "create", help="add a dashboard user to a tenant (a generated password is printed once)"
    )
    create.add_argument("tenant_id")
    create.add_argument("email")
    reset = user.add_parser("reset-password", help="set a user's password and sign them out everywhere")
    reset.add_argument("email")
    for command, handler in ((create, _user_create), (reset, _user_reset)):
        command.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        command.add_argument(
            "--timeout", type=float, default=30.0, help="seconds to wait for a worker to apply it"
        )
        command.set_defaults(handler=handler)
