"""The human-readable `revos bench` report: the pipeline beside the raw baseline, latency, SDK, CPU, the
credits check, chat, voice, and analytics."""

from __future__ import annotations

from typing import Any

from infra.bench.agents_report import chat_section, voice_section
from infra.bench.analytics_report import analytics_section
from infra.bench.text import ms, n, x


def render(report: dict[str, Any]) -> str:
    opts, machine = report["options"], report["machine"]
    stack = (
        f"{opts['workers']} worker(s), {opts['customers']} customers, {opts['partitions']} partitions, "
        f"{machine['cpus']} CPUs, Python {machine['python']}"
    )
    if "end_to_end" not in report:  # --only-checks, --only-chat, --only-voice, --only-analytics
        only = " and ".join(name for key, name in _SECTIONS if key in report)
        lines = ["", f"Revos benchmark, {only} only: {stack}", ""]
    else:
        lines = _pipeline(report, stack)
    sections = (
        *_checks(report.get("checks")),
        *chat_section(report.get("chat")),
        *voice_section(report.get("voice")),
        *analytics_section(report.get("analytics")),
    )
    return "\n".join([*lines, *sections])


_SECTIONS = (("checks", "credits checks"), ("chat", "chat"), ("voice", "voice"), ("analytics", "analytics"))


def _pipeline(report: dict[str, Any], stack: str) -> list[str]:
    opts, e2e, paced, raw, sdk = (report[k] for k in ("options", "end_to_end", "paced", "baseline", "sdk"))
    return [
        "",
        f"Revos benchmark: {opts['events']:,} events, {stack}",
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
            f"{n(t['calls_per_s']):>12}"
            for t in (sdk["track_1_thread"], sdk["track_8_threads"])
        ),
        f"{'':<44}{'events':>10}{'events/s':>10}",
        f"  {'delivery via the SDK (8 threads)':<42}{n(sdk['delivery']['events']):>10}"
        f"{n(sdk['delivery']['events_per_s']):>10}",
        f"  {'  same, max_batch_events=1000':<42}{n(sdk['delivery_large_batches']['events']):>10}"
        f"{n(sdk['delivery_large_batches']['events_per_s']):>10}",
        f"  {'naive client, one request per event':<42}{n(sdk['naive']['events']):>10}"
        f"{n(sdk['naive']['events_per_s']):>10}",
        *_typescript(sdk.get("typescript")),
        f"  SDK / naive: {sdk['sdk_vs_naive']}x;  SDK delivery = {sdk['sdk_percent_of_bulk_ingest']}% "
        f"of the bulk ingest rate ({sdk['sdk_large_percent_of_bulk_ingest']}% with batches of 1000)",
        "",
        *_cpu(e2e),
        "",
        f"End-to-end / raw baseline: {report['ratio_end_to_end_to_baseline']:.2f}  "
        f"({n(e2e['end_to_end_events_per_s'])} vs {n(raw['combined_events_per_s'])} events/s; "
        f"end to end took {e2e['end_to_end_seconds']:.1f}s)",
        *_more_workers(report.get("more_workers"), raw, opts["workers"], e2e),
        "",
        *_outbox(e2e, paced, report.get("without_outbox")),
        *_tracing(report.get("tracing_cost")),
        *_profile(e2e.get("profile")),
    ]


def _more_workers(
    more: dict[str, Any] | None, raw: dict[str, Any], workers: int, e2e: dict[str, Any]
) -> list[str]:
    if more is None:
        return []
    theirs = more["end_to_end"]
    return [
        f"  with {more['workers']} workers: {theirs['ratio_to_baseline']:.2f} of raw "
        f"({n(theirs['end_to_end_events_per_s'])} events/s end to end, "
        f"{x(theirs['end_to_end_events_per_s'], e2e['end_to_end_events_per_s'])} of {workers} worker(s); "
        f"charges applied {n(theirs['charge_events_per_s'])}/s; "
        f"events per partition: {_spread(theirs['events_per_partition'])})",
    ]


def _outbox(e2e: dict[str, Any], paced: dict[str, Any], off: dict[str, Any] | None) -> list[str]:
    """The outbox's cost: the same runs on a stack whose acknowledgements rest on the broker alone."""
    if off is None:
        return []
    rows = (
        ("gateway ingest, events/s", e2e["ingest_events_per_s"], off["end_to_end"]["ingest_events_per_s"]),
        (
            "end to end, events/s",
            e2e["end_to_end_events_per_s"],
            off["end_to_end"]["end_to_end_events_per_s"],
        ),
        ("accept -> balance p50 ms (paced)", paced["latency_p50_ms"], off["paced"]["latency_p50_ms"]),
        ("accept -> balance p99 ms (paced)", paced["latency_p99_ms"], off["paced"]["latency_p99_ms"]),
    )
    return [
        f"{'Delivery: acknowledgements rest on':<44}{'PostgreSQL':>12}{'broker only':>13}{'ratio':>9}",
        *(f"  {label:<42}{n(on):>12}{n(alone):>13}{x(on, alone):>9}" for label, on, alone in rows),
        "  (PostgreSQL: the outbox, the default with the embedded broker; broker only: REVOS_OUTBOX=off)",
        "",
    ]


def _tracing(cost: dict[str, Any] | None) -> list[str]:
    """Tracing's cost: the end-to-end run on two further stacks, tracing off and on."""
    if cost is None:
        return []
    off, on = cost["off"], cost["on"]
    rows = (
        ("gateway ingest, events/s", off["ingest_events_per_s"], on["ingest_events_per_s"]),
        ("end to end, events/s", off["end_to_end_events_per_s"], on["end_to_end_events_per_s"]),
        ("accept -> balance p50 ms", off["latency_p50_ms"], on["latency_p50_ms"]),
    )
    return [
        f"{'Tracing':<44}{'off':>12}{'on':>13}{'on/off':>9}",
        *(f"  {label:<42}{n(a):>12}{n(b):>13}{x(b, a):>9}" for label, a, b in rows),
        f"  (off: the default, no OTEL_EXPORTER_OTLP_* or REVOS_TRACE_FILE; on: REVOS_TRACE_FILE, "
        f"{n(on.get('spans_written'))} spans written)",
        "",
    ]


def _row(stage: str, what: str, ours: float | None, raw_what: str, raw: float) -> str:
    return f"  {stage:<12}{what:<32}{n(ours):>9} | {raw_what:<28}{n(raw):>9} |{x(ours, raw):>9}"


def _lat(label: str, figures: dict[str, Any]) -> str:
    return (
        f"  {label:<42}{ms(figures['latency_p50_ms']):>10}{ms(figures['latency_p99_ms']):>10}"
        f"{ms(figures['latency_max_ms']):>10}"
    )


def _typescript(ts: dict[str, Any] | None) -> list[str]:
    """The TypeScript SDK's lines beside the Python SDK's (track() from one event loop; delivery)."""
    if not ts:
        return []
    if "skipped" in ts:
        return [f"  TypeScript SDK: skipped ({ts['skipped']})"]
    t = ts["track"]
    lines = [
        f"  {'TypeScript SDK track(), 1 event loop':<42}{t['p50_us']:>10.2f}{t['p99_us']:>10.2f}"
        f"{n(t['calls_per_s']):>12}"
    ]
    if "delivery" in ts:
        d = ts["delivery"]
        lines.append(f"  {'TypeScript SDK delivery':<42}{n(d['events']):>10}{n(d['events_per_s']):>10}")
    return lines


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


def _checks(checks: dict[str, Any] | None) -> list[str]:
    if not checks:
        return []
    t, lag = checks["throughput"], checks["lag"]
    floor = t["healthz"]["requests_per_s"]
    title = f"Credits checks, {checks['clients']} clients x {checks['seconds']:g}s"
    lag_title = f"Event -> check lag, {lag['events_per_s']:,} ev/s elsewhere"
    measured = f"ack -> a check reflects it ({lag['probes']} probes)"
    reported = f"lag_ms the check reported ({lag['answers']:,} answers)"
    return [
        f"{title:<44}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'/healthz':>10}",
        _rate("GET /healthz (the gateway's floor)", t["healthz"], floor),
        _rate('check {"credits": "1"}', t["check"], floor),
        _rate("  + a metered feature", t["check_feature"], floor),
        "  (CPU, % of one core, gateway/postgres/bench: "
        + ", ".join(f"{name} {_cpu_of(t[key])}" for name, key in _RUNS)
        + ")",
        "",
        f"{lag_title:<44}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
        f"  {measured:<42}{ms(lag['lag_p50_ms']):>10}{ms(lag['lag_p99_ms']):>10}{ms(lag['lag_max_ms']):>10}",
        f"  {reported:<42}{n(lag['reported_lag_p50_ms']):>10}{n(lag['reported_lag_p99_ms']):>10}"
        f"{n(lag['reported_lag_max_ms']):>10}",
        f"  answers missing an event acknowledged over lag_ms before them: {lag['answers_beyond_bound']:,} of "
        f"{lag['answers']:,} ({lag['probes_beyond_bound']} of {lag['probes']} probes)",
        "",
        *_overspend(checks["overspend"]),
        "",
    ]


_RUNS = (("healthz", "healthz"), ("check", "check"), ("metered", "check_feature"))


def _rate(label: str, run: dict[str, Any], floor: float) -> str:
    failed = f"  ({run['failed']:,} failed)" if run["failed"] else ""
    return (
        f"  {label:<42}{n(run['requests_per_s']):>10}{ms(run['p50_ms']):>10}{ms(run['p99_ms']):>10}"
        f"{x(run['requests_per_s'], floor):>10}{failed}"
    )


def _cpu_of(run: dict[str, Any]) -> str:
    cpu = run["cpu_percent_of_core"]
    return "/".join(f"{cpu.get(name, 0):.0f}" for name in ("gateway", "postgres", "bench"))


def _overspend(runs: list[dict[str, Any]]) -> list[str]:
    first = runs[0]
    title = (
        f"Overspend: {first['clients']} clients check 1 credit, then spend it; "
        f"balance {first['grant']}, credit_limit {first['credit_limit']}"
    )
    lines = [
        title,
        f"  {'':<28}{'accepted':>9}{'balance':>9}{'overspend':>11}{'1st deny ms':>13}{'lag p50 ms':>12}"
        f"{'spend/s':>9}{'model':>7}",
    ]
    models = []
    for run in runs:
        rate = run["background_events_per_s"]
        label = f"{rate:,} ev/s elsewhere" if rate else "as is"
        if run.get("hold"):
            label = "holds, " + label
        lines.append(
            f"  {label:<28}{run['accepted']:>9,}{run['final_balance']:>9}{run['overspend']:>11}"
            f"{ms(run['first_denial_ms']):>13}{ms(run['projection_lag_p50_ms']):>12}"
            f"{n(run['spend_per_s']):>9}{run['model_overspend']:>7,}"
        )
        if run.get("hold"):
            continue  # the model describes checks that reserve nothing
        models.append(
            f"    {label + ':':<22}{run['clients']} x 1 + {n(run['spend_per_s'])}/s x "
            f"{run['projection_lag_p50_ms'] / 1000:.3f}s = {run['model_overspend']:,}"
        )
    return [
        *lines,
        "  holds: each check reserves its credit; the pipeline decides holds in order, so none overspend",
        "  model (without holds): overspend ~ clients x credits per request + spend rate before the first"
        " denial x lag",
        "  (lag: p50 accept -> charged of the run's own events)",
        *models,
    ]
