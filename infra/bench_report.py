"""The human-readable `revos bench` report: the pipeline beside the raw baseline, latency, SDK, CPU."""

from __future__ import annotations

from typing import Any


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def _x(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def render(report: dict[str, Any]) -> str:
    opts, e2e, paced, raw, sdk = (report[k] for k in ("options", "end_to_end", "paced", "baseline", "sdk"))
    lines = [
        "",
        f"Revos benchmark: {opts['events']:,} events, {opts['workers']} worker(s), {opts['customers']} customers, "
        f"{opts['partitions']} partitions, {report['machine']['cpus']} CPUs, Python {report['machine']['python']}",
        f"(gateway bulk load: {opts['batch']} events per request, {opts['concurrency']} requests in flight)",
        "",
        "Throughput, events/s",
        f"  {'':<12}{'Revos pipeline':<41} | {'raw aiokafka, same broker':<37} |{'Revos/raw':>9}",
        _row(
            "in",
            "gateway ingest (accepted)",
            e2e["ingest_events_per_s"],
            "encode + produce, acks=all",
            raw["produce_events_per_s"],
        ),
        _row(
            "out",
            "charges applied (worker drain)",
            e2e["charge_events_per_s"],
            "consume + decode",
            raw["consume_events_per_s"],
        ),
        _row(
            "end to end",
            "first send -> last charge",
            e2e["end_to_end_events_per_s"],
            "produce, then consume",
            raw["combined_events_per_s"],
        ),
        "",
        f"{'Latency, accept -> balance updated':<44}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
        _lat(f"paced {paced['target_events_per_s']:,} ev/s, {paced['events_per_request']}/request", paced),
        _lat("at saturation (mostly queueing)", e2e),
        "",
        f"{'SDK':<44}{'p50 us':>10}{'p99 us':>10}{'calls/s':>12}",
        *(
            f"  track(), {t['threads']} thread(s){'':<26}{t['p50_us']:>10.2f}{t['p99_us']:>10.2f}"
            f"{_n(t['calls_per_s']):>12}"
            for t in (sdk["track_1_thread"], sdk["track_8_threads"])
        ),
        f"{'':<44}{'events':>10}{'events/s':>10}",
        f"  {'delivery via the SDK (8 threads)':<42}{_n(sdk['delivery']['events']):>10}"
        f"{_n(sdk['delivery']['events_per_s']):>10}",
        f"  {'  same, max_batch_events=1000':<42}{_n(sdk['delivery_large_batches']['events']):>10}"
        f"{_n(sdk['delivery_large_batches']['events_per_s']):>10}",
        f"  {'naive client, one request per event':<42}{_n(sdk['naive']['events']):>10}"
        f"{_n(sdk['naive']['events_per_s']):>10}",
        f"  SDK / naive: {sdk['sdk_vs_naive']}x;  SDK delivery = {sdk['sdk_percent_of_bulk_ingest']}% "
        f"of the bulk ingest rate ({sdk['sdk_large_percent_of_bulk_ingest']}% with batches of 1000)",
        "",
        *_cpu(e2e),
        "",
        f"End-to-end / raw baseline: {report['ratio_end_to_end_to_baseline']:.2f}  "
        f"({_n(e2e['end_to_end_events_per_s'])} vs {_n(raw['combined_events_per_s'])} events/s; "
        f"end to end took {e2e['end_to_end_seconds']:.1f}s)",
        "",
        *_profile(e2e.get("profile")),
    ]
    return "\n".join(lines)


def _row(stage: str, what: str, ours: float | None, raw_what: str, raw: float) -> str:
    return f"  {stage:<12}{what:<32}{_n(ours):>9} | {raw_what:<28}{_n(raw):>9} |{_x(ours, raw):>9}"


def _lat(label: str, figures: dict[str, Any]) -> str:
    return (
        f"  {label:<42}{_ms(figures['latency_p50_ms']):>10}{_ms(figures['latency_p99_ms']):>10}"
        f"{_ms(figures['latency_max_ms']):>10}"
    )


def _cpu(e2e: dict[str, Any]) -> list[str]:
    phases = e2e["cpu_percent_of_core"]
    names = list(phases["ingesting"])
    ingest_label = f"ingesting ({e2e['ingest_seconds']:.1f}s)"
    drain_label = f"draining ({e2e['end_to_end_seconds'] - e2e['ingest_seconds']:.1f}s)"
    return [
        f"{'CPU during the end-to-end run, % of one core':<44}" + "".join(f"{n:>10}" for n in names),
        *(
            f"  {label:<42}" + "".join(f"{phases[phase][n]:>9.0f}%" for n in names)
            for label, phase in ((ingest_label, "ingesting"), (drain_label, "draining"))
        ),
        f"  ({e2e['charged_while_ingesting']:,} of {e2e['events']:,} events were charged while ingesting; "
        f"events per billing partition: {_spread(e2e['events_per_partition'])})",
    ]


def _profile(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    lines = [
        "py-spy profile of the end-to-end run (% of samples; own time, then inclusive time in Revos code)"
    ]
    for name, summary in profile.items():
        lines.append(f"  {name}: {summary['samples']:,} samples, raw stacks in {summary['file']}")
        lines += [f"    {pct:>5.1f}%  {func}" for func, pct in summary["self"]]
        lines.append("    --")
        lines += [f"    {pct:>5.1f}%  {func}" for func, pct in summary["inclusive_ours"]]
    lines.append("")
    return lines


def _spread(counts: dict[int, int]) -> str:
    if not counts:
        return "-"
    mean = sum(counts.values()) / len(counts)
    return (
        f"{min(counts.values()):,} to {max(counts.values()):,} (max/mean {max(counts.values()) / mean:.2f})"
    )
