"""The human-readable `revos bench` report: the pipeline beside the raw baseline, latency, SDK, CPU, the
credits check, chat, and voice."""

from __future__ import annotations

from decimal import Decimal
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
    opts, machine = report["options"], report["machine"]
    stack = (
        f"{opts['workers']} worker(s), {opts['customers']} customers, {opts['partitions']} partitions, "
        f"{machine['cpus']} CPUs, Python {machine['python']}"
    )
    if "end_to_end" not in report:  # --only-checks, --only-chat, --only-voice
        only = " and ".join(name for key, name in _SECTIONS if key in report)
        lines = ["", f"Revos benchmark, {only} only: {stack}", ""]
    else:
        lines = _pipeline(report, stack)
    sections = (*_checks(report.get("checks")), *_chat(report.get("chat")), *_voice(report.get("voice")))
    return "\n".join([*lines, *sections])


_SECTIONS = (("checks", "credits checks"), ("chat", "chat"), ("voice", "voice"))


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
        *_typescript(sdk.get("typescript")),
        f"  SDK / naive: {sdk['sdk_vs_naive']}x;  SDK delivery = {sdk['sdk_percent_of_bulk_ingest']}% "
        f"of the bulk ingest rate ({sdk['sdk_large_percent_of_bulk_ingest']}% with batches of 1000)",
        "",
        *_cpu(e2e),
        "",
        f"End-to-end / raw baseline: {report['ratio_end_to_end_to_baseline']:.2f}  "
        f"({_n(e2e['end_to_end_events_per_s'])} vs {_n(raw['combined_events_per_s'])} events/s; "
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
        f"({_n(theirs['end_to_end_events_per_s'])} events/s end to end, "
        f"{_x(theirs['end_to_end_events_per_s'], e2e['end_to_end_events_per_s'])} of {workers} worker(s); "
        f"charges applied {_n(theirs['charge_events_per_s'])}/s; "
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
        *(f"  {label:<42}{_n(on):>12}{_n(alone):>13}{_x(on, alone):>9}" for label, on, alone in rows),
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
        *(f"  {label:<42}{_n(a):>12}{_n(b):>13}{_x(b, a):>9}" for label, a, b in rows),
        f"  (off: the default, no OTEL_EXPORTER_OTLP_* or REVOS_TRACE_FILE; on: REVOS_TRACE_FILE, "
        f"{_n(on.get('spans_written'))} spans written)",
        "",
    ]


def _row(stage: str, what: str, ours: float | None, raw_what: str, raw: float) -> str:
    return f"  {stage:<12}{what:<32}{_n(ours):>9} | {raw_what:<28}{_n(raw):>9} |{_x(ours, raw):>9}"


def _lat(label: str, figures: dict[str, Any]) -> str:
    return (
        f"  {label:<42}{_ms(figures['latency_p50_ms']):>10}{_ms(figures['latency_p99_ms']):>10}"
        f"{_ms(figures['latency_max_ms']):>10}"
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
        f"{_n(t['calls_per_s']):>12}"
    ]
    if "delivery" in ts:
        d = ts["delivery"]
        lines.append(f"  {'TypeScript SDK delivery':<42}{_n(d['events']):>10}{_n(d['events_per_s']):>10}")
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
        f"  {measured:<42}{_ms(lag['lag_p50_ms']):>10}{_ms(lag['lag_p99_ms']):>10}{_ms(lag['lag_max_ms']):>10}",
        f"  {reported:<42}{_n(lag['reported_lag_p50_ms']):>10}{_n(lag['reported_lag_p99_ms']):>10}"
        f"{_n(lag['reported_lag_max_ms']):>10}",
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
        f"  {label:<42}{_n(run['requests_per_s']):>10}{_ms(run['p50_ms']):>10}{_ms(run['p99_ms']):>10}"
        f"{_x(run['requests_per_s'], floor):>10}{failed}"
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
            f"{_ms(run['first_denial_ms']):>13}{_ms(run['projection_lag_p50_ms']):>12}"
            f"{_n(run['spend_per_s']):>9}{run['model_overspend']:>7,}"
        )
        if run.get("hold"):
            continue  # the model describes checks that reserve nothing
        models.append(
            f"    {label + ':':<22}{run['clients']} x 1 + {_n(run['spend_per_s'])}/s x "
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


def _chat(chat: dict[str, Any] | None) -> list[str]:
    if not chat:
        return []
    ours, direct, alone = chat["gateway"], chat["direct"], chat["alone"]
    mem, bill = chat["memory"], chat["billing"]
    alone_ttft = f"  one conversation alone ({alone['sent']} turns)"
    alone_turn = "  one conversation alone"
    title = f"Chat, {chat['conversations']:,} sockets open at once x {chat['messages']} messages each"
    env = chat["gateway_env"]
    limits = ", ".join(f"{k}={v}" for k, v in env.items() if k.startswith("REVOS_CHAT_"))
    errors = ", ".join(f"{outcome} {n:,}" for outcome, n in ours["errors_by_outcome"].items())
    opened = f"{mem['sockets']:,} idle sockets open, after hello"
    cpu = ", ".join(f"{name} {pct:.0f}" for name, pct in chat["cpu_percent_of_core"].items())
    return [
        title,
        f"  (offline model, {chat['delay_ms']} ms per word; rate limits raised so they never refuse: {limits})",
        f"  {'':<42}{'p50 ms':>10}{'p99 ms':>10}",
        _pair("time to first token, send -> first delta", ours["ttft_p50_ms"], ours["ttft_p99_ms"]),
        _pair("  the provider alone, in the bench", direct["ttft_p50_ms"], direct["ttft_p99_ms"]),
        _pair("  added by the gateway", chat["ttft_added_p50_ms"], chat["ttft_added_p99_ms"]),
        f"  {'  ratio gateway / provider alone':<42}{_times(chat['ttft_ratio_p50']):>10}"
        f"{_times(chat['ttft_ratio_p99']):>10}",
        _pair(alone_ttft, alone["ttft_p50_ms"], alone["ttft_p99_ms"]),
        _pair("turn, send -> final message", ours["turn_p50_ms"], ours["turn_p99_ms"]),
        _pair("  the provider alone, in the bench", direct["turn_p50_ms"], direct["turn_p99_ms"]),
        _pair(alone_turn, alone["turn_p50_ms"], alone["turn_p99_ms"]),
        f"  {ours['complete']:,} of {ours['planned']:,} turns complete, {_n(ours['turns_per_s'])} turns/s over "
        f"{ours['seconds']:.1f}s; errors: {ours['errors']:,}" + (f" ({errors})" if errors else ""),
        "  (a closed loop: each conversation sends its next message once its reply is final, so at"
        " saturation a turn waits about conversations / turns per second)",
        f"  ({chat['conversations']:,} sockets opened and said hello in {chat['open_seconds']:.1f}s)",
        f"  CPU during the turns, % of one core: {cpu}",
        "",
        f"{'Gateway memory (RSS)':<44}{'MiB':>10}",
        f"  {'no chat socket open':<42}{mem['rss_idle_mib']:>10.1f}",
        f"  {opened:<42}{mem['rss_open_mib']:>10.1f}  = {mem['per_connection_kib']:.1f} KiB per socket",
        f"  {'the same sockets, after the turns':<42}{mem['rss_after_turns_mib']:>10.1f}",
        "  (RSS grows only past memory the gateway freed before: after other sections it understates the"
        " cost per socket; --only-chat measures a fresh gateway)",
        "",
        f"Chat charges: {bill['charges']:,} llm.tokens charges for {bill['replies']:,} replies "
        f"(expected {bill['expected_charges']:,}), {Decimal(bill['tokens']):,} tokens = "
        f"{Decimal(bill['credits']):,} credits "
        f"at {bill['credits_per_token']} per token (burn table {bill['burn_table']})",
        f"  last charge applied {_ms(bill['settled_after_last_reply_ms'])} ms after the last reply was written; "
        f"reply -> charge "
        f"p50 {_ms(bill['reply_to_charge_p50_ms'])} / p99 {_ms(bill['reply_to_charge_p99_ms'])} ms",
        "",
    ]


def _voice(voice: dict[str, Any] | None) -> list[str]:
    if not voice:
        return []
    calls, chat, first, connect, lost = (
        voice[k] for k in ("voice", "chat", "first_prompt", "connect", "turns")
    )
    title = (
        f"Voice, {voice['calls']:,} calls at once x {voice['prompts']} prompts each, beside chat at the same "
        f"load ({voice['calls']:,} widget sockets x {voice['prompts']} messages)"
    )
    rounds = ", ".join(voice["rounds"])
    errors = ", ".join(f"{outcome} {n:,}" for outcome, n in calls["errors_by_outcome"].items())
    cpu = "; ".join(
        f"{channel}: "
        + ", ".join(f"{name} {_n(pct)}" for name, pct in voice["cpu_percent_of_core"][channel].items())
        for channel in ("voice", "chat")
    )
    lost_in = f" in {lost['calls_with_a_lost_turn']:,} calls" if lost["turns_lost"] else ""
    return [
        title,
        f"  (Twilio's webhook and ConversationRelay socket, signed as Twilio signs; one agent and the same "
        f"questions on both channels; offline model, {voice['delay_ms']} ms per word; rounds: {rounds})",
        f"  {'':<42}{'p50 ms':>10}{'p99 ms':>10}",
        _pair("time to first token, prompt -> first text", calls["ttft_p50_ms"], calls["ttft_p99_ms"]),
        _pair("  chat, send -> first delta", chat["ttft_p50_ms"], chat["ttft_p99_ms"]),
        f"  {'  ratio voice / chat':<42}{_ratio(voice['ttft_ratio_p50']):>10}{_ratio(voice['ttft_ratio_p99']):>10}",
        _pair("  each call's first prompt, after setup", first["ttft_p50_ms"], first["ttft_p99_ms"]),
        _pair("turn, prompt -> last token", calls["turn_p50_ms"], calls["turn_p99_ms"]),
        _pair("  chat, send -> final message", chat["turn_p50_ms"], chat["turn_p99_ms"]),
        f"  {'  ratio voice / chat':<42}{_ratio(voice['turn_ratio_p50']):>10}{_ratio(voice['turn_ratio_p99']):>10}",
        _pair("incoming webhook -> TwiML", connect["webhook_p50_ms"], connect["webhook_p99_ms"]),
        _pair("relay socket handshake", connect["socket_p50_ms"], connect["socket_p99_ms"]),
        f"  {calls['complete']:,} of {calls['planned']:,} turns answered, {_n(calls['turns_per_s'])} turns/s over "
        f"{calls['seconds']:.1f}s (chat: {chat['complete']:,} of {chat['planned']:,}, {_n(chat['turns_per_s'])} "
        f"turns/s); errors: {calls['errors']:,}" + (f" ({errors})" if errors else ""),
        f"  turns lost: {lost['turns_lost']:,}{lost_in} ({lost['turns_stored']:,} of {lost['turns_planned']:,} "
        f"stored with their replies, {lost['messages_stored']:,} of {lost['messages_expected']:,} messages, "
        f"read back from {voice['read_back']['from']} in {voice['read_back']['seconds']:.1f}s)",
        f"  CPU during the turns, % of one core: {cpu}",
        "",
    ]


def _ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _pair(label: str, p50: float | None, p99: float | None) -> str:
    return f"  {label:<42}{_opt_ms(p50):>10}{_opt_ms(p99):>10}"


def _opt_ms(value: float | None) -> str:
    return "-" if value is None else _ms(value)


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.1f}x"
