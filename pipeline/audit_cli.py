"""`revos audit verify`: recompute every tenant's hash chain and name the first broken entry."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pipeline.settings import Settings
from projections import audit
from projections.db import create_pool


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        results = await audit.verify(pool, args.tenant)
    finally:
        await pool.close()
    broken = 0
    for tenant_id, first_bad, count in results:
        if first_bad is None:
            print(f"{tenant_id}: ok ({count} entries)")
        else:
            broken += 1
            print(
                f"{tenant_id}: BROKEN at seq {first_bad['seq']} (audit id {first_bad['audit_id']}, "
                f"{first_bad['action']} on {first_bad['target']}); entries from there on cannot be trusted"
            )
    if not results:
        print("no audit entries" + (f" for tenant {args.tenant}" if args.tenant else ""))
    return 1 if broken else 0


def add_commands(sub: Any) -> None:
    group = sub.add_parser("audit", help="verify the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    verify = group.add_parser(
        "verify", help="recompute the hash chains; exit 1 naming the first broken entry"
    )
    verify.add_argument("--tenant", help="only this tenant")
    verify.set_defaults(handler=lambda a, s: asyncio.run(_verify(a, s)))
