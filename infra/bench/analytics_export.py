"""The exports of the analytics section of `revos bench`: `measure` streams the charges through
`GET /v1/charges/export` while sampling the gateway's memory, then runs this module as a child process
(`python -m infra.bench.analytics_export DSN TENANT FORMAT MODE SINCE UNTIL ROWS`), so that a peak of memory
is that one export's own.

The child runs the gateway's export of the charges (the same query and the same CSV or JSON-lines writer)
without HTTP, into /dev/null. MODE `stream` reads the rows as the gateway does, through a server-side cursor
a page at a time; `fetch` reads them all with one `fetch()` first, the baseline that holds the whole result
in memory. It prints one JSON object: the rows written, the seconds, and its resident memory before the
query, after every tenth of ROWS (the rows expected), and at its peak (VmHWM).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from gateway.http import exports
from infra.bench.stack import BenchStack
from infra.errors import InfraError
from projections.billing.exports import CHARGES, CHARGES_COLUMNS
from projections.db import create_pool

SAMPLE_EVERY = 0.05  # seconds between samples of the gateway's memory during an export


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


async def measure(
    stack: BenchStack, tenant: dict[str, Any], end: datetime, days: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    """GET /v1/charges/export of every charge of the 90 days as CSV and as JSON lines, the gateway's memory
    sampled meanwhile; then the same export code without HTTP in a child process on a fifth of the days,
    streamed and with the whole result fetched first (the baseline a non-streaming export would be)."""
    assert stack.settings is not None
    since = end - timedelta(days=days)
    http = []
    for fmt in ("csv", "jsonl"):
        progress(f"  export over HTTP: GET /v1/charges/export?format={fmt}, {days} days")
        http.append(await _http_export(stack, tenant["api_key"], fmt, since, end))
    slice_start = end - timedelta(days=days // 5)
    rows = await stack.db.fetchval(
        "SELECT count(*) FROM charges WHERE tenant_id = $1 AND event_time >= $2 AND event_time < $3",
        tenant["tenant_id"],
        slice_start,
        end,
    )
    child = []
    for mode in ("stream", "fetch"):
        progress(f"  export in a child process: {rows:,} charges ({days // 5} days) as csv, {mode}")
        child.append(
            await _child_export(stack.settings.dsn, tenant["tenant_id"], mode, slice_start, end, rows)
        )
    return {"http": http, "child": child}


async def _http_export(
    stack: BenchStack, api_key: str, fmt: str, since: datetime, until: datetime
) -> dict[str, Any]:
    pid = stack.processes()["gateway"]
    before = {"rss_kib": status_kib("VmRSS", pid), "hwm_kib": status_kib("VmHWM", pid)}
    samples: list[int] = []
    lines, size = 0, 0
    params = {"format": fmt, "since": since.isoformat(), "until": until.isoformat()}
    started = time.perf_counter()
    async with (
        stack.client(api_key) as api,
        api.stream("GET", "/v1/charges/export", params=params) as response,
    ):
        if response.status_code != 200:
            raise InfraError(
                f"the {fmt} export answered {response.status_code}: {(await response.aread())[:500]!r}"
            )
        sampled = started
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
            if time.perf_counter() - sampled >= SAMPLE_EVERY:
                samples.append(status_kib("VmRSS", pid))
                sampled = time.perf_counter()
    seconds = time.perf_counter() - started
    rows = lines - 1 if fmt == "csv" else lines
    return {
        "format": fmt,
        "rows": rows,
        "bytes": size,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "gateway_before": before,
        "gateway_after": {"rss_kib": status_kib("VmRSS", pid), "hwm_kib": status_kib("VmHWM", pid)},
        "gateway_rss_max_kib": max(samples, default=before["rss_kib"]),
        "gateway_rss_samples": len(samples),
    }


async def _child_export(
    dsn: str, tenant: str, mode: str, since: datetime, until: datetime, rows: int
) -> dict[str, Any]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.bench.analytics_export",
        dsn,
        tenant,
        "csv",
        mode,
        since.isoformat(),
        until.isoformat(),
        str(rows),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    if child.returncode != 0:
        raise InfraError(f"the {mode} export failed ({child.returncode}): {err.decode()[-2000:]}")
    figures: dict[str, Any] = orjson.loads(out)
    if figures["rows"] != rows:
        raise InfraError(f"the {mode} export wrote {figures['rows']:,} rows, not {rows:,}")
    return figures


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
