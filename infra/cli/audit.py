"""`revos audit verify`: check every tenant's chain against the audit key and its published head, and
list every break."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from infra import audit_heads
from infra.key_files import audit_key
from pipeline.admin.audit import Seal, Verdict
from pipeline.settings import Settings
from projections import audit
from projections.db import create_pool


def report(verdicts: list[Verdict]) -> tuple[list[str], int]:
    """The lines `verify` prints, and its exit code: 1 when any chain has a break."""
    lines = []
    for v in verdicts:
        legacy = f", {v.legacy} of them legacy (unkeyed, written by an earlier version)" if v.legacy else ""
        if not v.breaks:
            lines.append(f"{v.tenant_id}: ok ({v.entries} entries{legacy})")
            continue
        lines.append(f"{v.tenant_id}: BROKEN, {len(v.breaks)} break(s) in {v.entries} entries{legacy}")
        for b in v.breaks:
            entry = f" (audit id {b.audit_id}, {b.what})" if b.audit_id else ""
            lines.append(f"  seq {b.seq}{entry}: {b.reason}")
    return lines, 1 if any(v.breaks for v in verdicts) else 0


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    seal = Seal(audit_key(settings, create=False))
    published = audit_heads.published(settings.audit_heads)
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        verdicts = await audit.verify(pool, args.tenant, seal, published)
    finally:
        await pool.close()
    lines, code = report(verdicts)
    print(
        "\n".join(lines)
        if lines
        else "no audit entries" + (f" for tenant {args.tenant}" if args.tenant else "")
    )
    return code


def add_commands(sub: Any) -> None:
    group = sub.add_parser("audit", help="verify the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    verify = group.add_parser(
        "verify",
        help="check the chains against the audit key and published heads; exit 1 listing every break",
    )
    verify.add_argument("--tenant", help="only this tenant")
    verify.set_defaults(handler=lambda a, s: asyncio.run(_verify(a, s)))
