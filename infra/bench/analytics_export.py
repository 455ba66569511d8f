"""One export of the analytics section of `revos bench`, in a process of its own so that its peak memory is
its own: `python -m infra.bench.analytics_export DSN TENANT FORMAT MODE ROWS`.

It writes the tenant's charges (at most ROWS of them) to /dev/null as CSV (with the conversation export's
formula escaping) or JSON lines, in the order an index gives, and prints one JSON object: rows, seconds,
and the process's resident memory before the query, every 10% of the rows, and at its peak (VmHWM).
MODE `stream` reads them through a server-side cursor in a transaction, a page at a time; `fetch` reads
them all with one `fetch()` first, the baseline that holds the whole result in memory.
"""

from __future__ import annotations

import asyncio
import csv
import io
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from gateway.http.exports import FORMULA_STARTS
from gateway.http.responses import dumps

COLUMNS = (
    "customer", "event_id", "type", "quantity", "credits", "cost", "status", "burn_table",
    "burn_table_version", "event_time", "received_at", "properties",
)  # fmt: skip
# The charges of one tenant in the order of charges_by_customer (read backwards): no sort of the range.
QUERY = f"""
SELECT {", ".join(COLUMNS)} FROM charges WHERE tenant_id = $1
ORDER BY customer, event_time, event_id LIMIT $2
"""
PAGE = 1000


def status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB (VmRSS now, VmHWM its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def csv_encoder() -> Callable[[Sequence[asyncpg.Record]], bytes]:
    out = io.StringIO()
    writer = csv.writer(out)

    def encode(rows: Sequence[asyncpg.Record]) -> bytes:
        out.seek(0)
        out.truncate()
        writer.writerows([cell(row[c]) for c in COLUMNS] for row in rows)
        return out.getvalue().encode()

    return encode


def cell(value: Any) -> Any:
    """A CSV cell as the gateway's exports write it: empty for NULL, times as in JSON, formulas quoted."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return dumps(value)[1:-1].decode()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def jsonl_encoder() -> Callable[[Sequence[asyncpg.Record]], bytes]:
    def encode(rows: Sequence[asyncpg.Record]) -> bytes:
        return b"".join(
            # properties arrive as JSON text: written as they are, not parsed and encoded again.
            dumps({c: orjson.Fragment(row[c]) if c == "properties" else row[c] for c in COLUMNS}) + b"\n"
            for row in rows
        )

    return encode


def header(fmt: str) -> bytes:
    if fmt != "csv":
        return b""
    out = io.StringIO()
    csv.writer(out).writerow(COLUMNS)
    return out.getvalue().encode()


async def export(dsn: str, tenant: str, fmt: str, mode: str, limit: int) -> dict[str, Any]:
    encode = csv_encoder() if fmt == "csv" else jsonl_encoder()
    conn = await asyncpg.connect(dsn)
    try:
        before = status_kib("VmRSS")
        every = max(1, limit // 10)
        samples: list[tuple[int, int]] = []
        rows = 0
        with open("/dev/null", "wb") as sink:  # noqa: ASYNC230 - /dev/null never blocks
            sink.write(header(fmt))
            started = time.perf_counter()

            def write(page: Iterable[asyncpg.Record]) -> None:
                nonlocal rows
                page = list(page)
                sink.write(encode(page))
                for _ in page:
                    rows += 1
                    if rows % every == 0:
                        samples.append((rows, status_kib("VmRSS")))

            if mode == "stream":
                async with conn.transaction():
                    cursor = await conn.cursor(QUERY, tenant, limit)
                    while page := await cursor.fetch(PAGE):
                        write(page)
            else:
                everything = await conn.fetch(QUERY, tenant, limit)
                for start in range(0, len(everything), PAGE):
                    write(everything[start : start + PAGE])
            seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {
        "format": fmt,
        "mode": mode,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds) if seconds > 0 else None,
        "rss_before_kib": before,
        "rss_samples_kib": samples,
        "rss_peak_kib": status_kib("VmHWM"),
    }


def main(argv: list[str]) -> int:
    dsn, tenant, fmt, mode, limit = argv
    if fmt not in ("csv", "jsonl") or mode not in ("stream", "fetch"):
        print("usage: analytics_export DSN TENANT csv|jsonl stream|fetch ROWS", file=sys.stderr)
        return 2
    figures = asyncio.run(export(dsn, tenant, fmt, mode, int(limit)))
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
