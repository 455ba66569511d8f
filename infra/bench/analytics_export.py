"""One export of the charges for the analytics section of `revos bench`, in a process of its own so that its
peak memory is its own: `python -m infra.bench.analytics_export DSN TENANT FORMAT MODE SINCE UNTIL ROWS`.

It runs the gateway's export of the charges (`GET /v1/charges/export`: the same query and the same CSV or
JSON-lines writer) without HTTP, into /dev/null. MODE `stream` reads the rows as the gateway does, through a
server-side cursor a page at a time; `fetch` reads them all with one `fetch()` first, the baseline that
holds the whole result in memory. It prints one JSON object: the rows written, the seconds, and this
process's resident memory before the query, after every tenth of ROWS (the rows expected), and at its
peak (VmHWM).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from gateway.http import exports
from projections.billing.exports import CHARGES, CHARGES_COLUMNS
from projections.db import create_pool


def status_kib(field: str, pid: int | str = "self") -> int:
    """A memory figure of a process from /proc/<pid>/status, in KiB (VmRSS now, VmHWM its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


async def _fetched(rows: list[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), exports.PAGE_ROWS):
        yield rows[start : start + exports.PAGE_ROWS]


async def export(
    dsn: str, tenant: str, fmt: str, mode: str, since: datetime, until: datetime, expected: int
) -> dict[str, Any]:
    pool = await create_pool(dsn, max_size=1)
    try:
        before = status_kib("VmRSS")
        every, next_sample = max(1, expected // 10), max(1, expected // 10)
        samples: list[tuple[int, int]] = []
        lines = 0
        with open("/dev/null", "wb") as sink:  # noqa: ASYNC230 - /dev/null never blocks
            started = time.perf_counter()
            if mode == "stream":
                pages = await exports.cursor_pages(pool, CHARGES, tenant, since, until, None)
            else:
                everything = [dict(r) for r in await pool.fetch(CHARGES, tenant, since, until, None)]
                pages = _fetched(everything)
            response = exports.streamed(pages, CHARGES_COLUMNS, fmt, "charges")
            assert isinstance(response, StreamingResponse)
            async for chunk in response.body_iterator:
                data = chunk if isinstance(chunk, bytes) else str(chunk).encode()
                sink.write(data)
                lines += data.count(b"\n")
                while lines >= next_sample:
                    samples.append((next_sample, status_kib("VmRSS")))
                    next_sample += every
            seconds = time.perf_counter() - started
    finally:
        await pool.close()
    rows = lines - 1 if fmt == "csv" else lines  # the CSV header
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
    if len(argv) != 7 or argv[2] not in ("csv", "jsonl") or argv[3] not in ("stream", "fetch"):
        print("usage: analytics_export DSN TENANT csv|jsonl stream|fetch SINCE UNTIL ROWS", file=sys.stderr)
        return 2
    dsn, tenant, fmt, mode, since, until, expected = argv
    figures = asyncio.run(
        export(
            dsn,
            tenant,
            fmt,
            mode,
            datetime.fromisoformat(since),
            datetime.fromisoformat(until),
            int(expected),
        )
    )
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
