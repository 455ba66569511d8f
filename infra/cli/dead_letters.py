"""`revos dlq list|show|replay`: inspect dead letters and re-produce their original records."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.codec import default_codec
from pipeline.dead_letters import replay_refusal as limit_reached
from pipeline.publishing import Publisher
from pipeline.settings import Settings
from projections import dead_letters
from projections.db import create_pool
from projections.outbox import open_publisher


def _json(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, bytes | memoryview):
            return bytes(obj).hex()
        raise TypeError

    return orjson.dumps(value, default=default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    value = datetime.fromisoformat(raw)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        rows = await dead_letters.list_dead_letters(
            pool, since=_since(args.since), code=args.code, limit=args.limit
        )
    finally:
        await pool.close()
    if args.json:
        print(_json(rows))
        return 0
    print(f"{'ID':<28} {'CODE':<22} {'STAGE':<16} {'SOURCE':<24} {'REPLAYS':>7}  LAST FAILED")
    for r in rows:
        source = (
            f"{r['source_topic']}[{r['source_partition']}]@{r['source_offset']}" if r["source_topic"] else "-"
        )
        print(
            f"{r['dead_letter_id']:<28} {r['code']:<22} {r['stage']:<16} {source:<24} {r['replays']:>7}  "
            f"{r['last_failed_at'].isoformat()}"
        )
    print(f"{len(rows)} dead letter(s)")
    return 0


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    pool = await create_pool(settings.dsn, max_size=1)
    try:
        row = await dead_letters.get(pool, args.id)
    finally:
        await pool.close()
    if row is None:
        print(f"revos: no dead letter {args.id}", file=sys.stderr)
        return 1
    print(_json(row))
    return 0


def replay_refusal(row: dict[str, Any]) -> str | None:
    """Why a dead letter must not be replayed, or None when it may be."""
    if row["source_topic"] is None:
        return "rejected at the gateway before reaching a topic; fix the input and send it again"
    return limit_reached(replay_count=row["replay_count"], replays=row["replays"])


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    pool = await create_pool(settings.dsn, max_size=2)
    try:
        ids = args.ids
        if args.all:
            ids = [
                i
                for i in await dead_letters.all_ids(pool, args.code)
                if (row := await dead_letters.get(pool, i)) is not None and row["replays"] == 0
            ]
        rows = [(i, await dead_letters.get(pool, i)) for i in ids]
        if args.dry_run:
            return await _replay_rows(rows, None, all_requested=args.all)
        async with open_publisher(settings, pool) as publisher:
            return await _replay_rows(rows, publisher, all_requested=args.all)
    finally:
        await pool.close()


async def _replay_rows(
    rows: list[tuple[str, dict[str, Any] | None]], publisher: Publisher | None, *, all_requested: bool
) -> int:
    """Replay `rows` through `publisher`, or only say what would be replayed (None: a dry run)."""
    replayed = refused = 0
    for dead_letter_id, row in rows:
        if row is None:
            print(f"{dead_letter_id}: not found", file=sys.stderr)
            refused += 1
            continue
        reason = replay_refusal(row)
        if reason is not None:
            print(f"{dead_letter_id}: refused: {reason}", file=sys.stderr)
            refused += 1
            continue
        print(f"{dead_letter_id}: {'replaying' if publisher else 'would replay'} to {row['source_topic']}")
        if publisher is None:
            continue
        # The original first, then the note that it was replayed: a crash between them only replays again.
        await publisher.publish([dead_letters.original_again(row)])
        note = dead_letters.replay_note(
            default_codec(), row, target_topic=row["source_topic"], actor="cli", now=datetime.now(UTC)
        )
        await publisher.publish([note])
        replayed += 1
    print(f"{replayed} replayed, {refused} refused" + ("" if publisher else " (dry run)"))
    return 1 if refused and not replayed and not all_requested else 0


def add_commands(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="inspect and replay dead letters").add_subparsers(
        dest="dlq_command", required=True
    )

    listing = dlq.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--since", help="RFC 3339 time; only dead letters that failed since")
    listing.add_argument("--code", help="only this error code, e.g. unpriced")
    listing.add_argument("--limit", type=int, default=1000)
    listing.set_defaults(handler=lambda a, s: asyncio.run(_list(a, s)))

    show = dlq.add_parser("show", help="show one dead letter with its original record")
    show.add_argument("id")
    show.set_defaults(handler=lambda a, s: asyncio.run(_show(a, s)))

    replay = dlq.add_parser("replay", help="re-produce original records to their source topics")
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("ids", nargs="*", default=[], metavar="ID")
    target.add_argument("--all", action="store_true", help="every dead letter not yet replayed")
    replay.add_argument("--code", help="with --all: only this error code")
    replay.add_argument("--dry-run", action="store_true")
    replay.set_defaults(handler=lambda a, s: asyncio.run(_replay(a, s)))
