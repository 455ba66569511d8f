"""The analytics section of the `revos bench` report."""

from __future__ import annotations

from typing import Any

from infra.bench.text import ms, n, times

_VARIANTS = (
    ("rollup", "rollups: analytics.usage_daily"),
    ("rollup_analyst", "  same, as the tenant's analyst login"),
    ("rollup_table", "  the table behind it (no RLS filter)"),
    ("http", "  GET /v1/usage (from the rollups)"),
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
            if key in query
        ]
        if query["equal"]:
            verdict = "every answer equal"
        else:
            differ = ", ".join(label.strip() for key, label in _VARIANTS if key in query.get("differ", []))
            verdict = f"!! MISMATCH: {differ or 'an answer'} differs from the charges'"
        lines.append(
            f"    {'charges / rollups':<40}{times(query['ratio_p50']):>10}{times(query['ratio_p99']):>10}"
            f"  {verdict}"
        )
    return [*lines, *_export(analytics.get("export")), ""]


def _export(export: dict[str, Any] | None) -> list[str]:
    if not export:
        return []
    lines = [
        f"  {'Exports of the charges':<42}{'rows':>10}{'rows/s':>10}{'MiB/s':>8}"
        f"{'RSS before':>12}{'max during':>12}{'peak after':>12}",
    ]
    for run in export["http"]:
        label = f"GET /v1/charges/export?format={run['format']}"
        before, after = run["gateway_before"], run["gateway_after"]
        lines.append(
            f"    {label:<40}{n(run['rows']):>10}{n(run['rows_per_s']):>10}"
            f"{run['bytes'] / 1048576 / run['seconds']:>8.1f}"
            f"{mib(before['rss_kib']):>12}{mib(run['gateway_rss_max_kib']):>12}{mib(after['hwm_kib']):>12}"
        )
    lines.append(
        "    (the gateway process's memory in MiB: VmRSS before, the most of "
        f"{sum(r['gateway_rss_samples'] for r in export['http']):,} samples while streaming, VmHWM after)"
    )
    for run in export["child"]:
        how = "streamed" if run["mode"] == "stream" else "fetch() first"
        label = f"same code, csv, a child, {how}"
        samples = [kib for _, kib in run["rss_samples_kib"]] or [run["rss_peak_kib"]]
        lines.append(
            f"    {label:<40}{n(run['rows']):>10}{n(run['rows_per_s']):>10}{'':>8}"
            f"{mib(run['rss_before_kib']):>12}{mib(max(samples)):>12}{mib(run['rss_peak_kib']):>12}"
        )
    fetched = [run for run in export["child"] if run["mode"] == "fetch" and run["rows"]]
    if fetched and export["http"]:
        run = fetched[0]
        per_row = (run["rss_peak_kib"] - run["rss_before_kib"]) / run["rows"]
        total = export["http"][0]["rows"]
        lines.append(
            f"    fetch() holds ~{per_row * 1024:,.0f} bytes per row: ~{mib(per_row * total)} MiB "
            f"for the {total:,} rows streamed above"
        )
    return lines


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"
