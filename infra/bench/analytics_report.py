"""The analytics section of the `revos bench` report."""

from __future__ import annotations

from typing import Any

from infra.bench.text import ms, n, times

_VARIANTS = (
    ("rollup", "rollups: analytics.usage_daily"),
    ("rollup_analyst", "  same, as the tenant's analyst login"),
    ("rollup_table", "  the table behind it (no RLS filter)"),
    ("charges", "charges table, aggregated"),
)


def analytics_section(analytics: dict[str, Any] | None) -> list[str]:
    if not analytics:
        return []
    seeding = analytics["seeding"]
    took, rows = seeding["seconds"], seeding["rollup_rows"]
    lines = [
        f"Analytics, {analytics['charges']:,} charges over {analytics['customers']:,} customers and "
        f"{analytics['days']} days (+{analytics['other_tenant_charges']:,} of a second tenant)",
        f"  seeded straight into PostgreSQL (not through the pipeline) in {took['charges']:.1f}s; rollups "
        f"rebuilt from scratch in {took['rollups']:.1f}s ({rows['usage_daily']:,} daily, "
        f"{rows['usage_hourly']:,} hourly rows for the tenant); VACUUM ANALYZE {took['vacuum']:.1f}s",
        f"  {analytics['runs']} runs of each query after a warm-up, the variants taking turns",
        f"  {'':<42}{'p50 ms':>10}{'p99 ms':>10}",
    ]
    for query in analytics["queries"]:
        lines.append(
            f"  {query['label']} ({query['charges_read']:,} charges, {query['rows']:,} rows answered)"
        )
        lines += [
            f"    {label:<40}{ms(query[key]['p50_ms']):>10}{ms(query[key]['p99_ms']):>10}"
            for key, label in _VARIANTS
        ]
        verdict = (
            "answers equal" if query["equal"] else "!! MISMATCH: the rollups' answer is not the charges'"
        )
        lines.append(
            f"    {'charges / rollups':<40}{times(query['ratio_p50']):>10}{times(query['ratio_p99']):>10}"
            f"  {verdict}"
        )
    return [*lines, *_export(analytics.get("export")), ""]


def _export(export: dict[str, Any] | None) -> list[str]:
    if not export:
        return []
    lines = [
        f"  {'Exports of the charges':<42}{'rows':>10}{'rows/s':>10}{'RSS MiB':>10}{'peak MiB':>10}",
    ]
    for run in export["runs"]:
        how = "streamed" if run["mode"] == "stream" else "fetch() everything first"
        lines.append(
            f"    {run['format'] + ', ' + how:<40}{n(run['rows']):>10}{n(run['rows_per_s']):>10}"
            f"{mib(run['rss_before_kib']):>10}{mib(run['rss_peak_kib']):>10}"
        )
    lines.append(f"    (RSS MiB: before the query; {export['method']})")
    for run in export["runs"]:
        if run["mode"] == "stream" and run["rss_samples_kib"]:
            samples = ", ".join(mib(kib) for _, kib in run["rss_samples_kib"])
            lines.append(f"    RSS while streaming {run['format']}, every 10% of the rows: {samples} MiB")
    fetched = [run for run in export["runs"] if run["mode"] == "fetch" and run["rows"]]
    if fetched:
        run = fetched[0]
        per_row = (run["rss_peak_kib"] - run["rss_before_kib"]) / run["rows"]
        streamed = max((r["rows"] for r in export["runs"] if r["mode"] == "stream"), default=0)
        lines.append(
            f"    fetch() holds ~{per_row * 1024:,.0f} bytes per row: ~{mib(per_row * streamed)} MiB "
            f"for {streamed:,} rows"
        )
    return lines


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"
