"""`revos bench`: end-to-end throughput and latency on a private stack, beside a raw aiokafka baseline and the SDK,
the credits check (throughput, lag, overspend), chat agents (many websocket conversations at once), and
phone calls (many at once through Twilio's webhook and relay socket, beside chat at the same load), and
analytics (usage queries on the rollups beside the same answers from the charges, and streamed exports).

Everything runs on its own broker, database, workers and gateway on free ports in a temporary directory,
so a `make run` on the same machine is never touched. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import signal
import sys
import time
from collections.abc import Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from infra.bench import analytics, baseline, chat, checks, voice
from infra.bench import load as bench_load
from infra.bench.options import BenchOptions
from infra.bench.profile import Profiler, has_py_spy
from infra.bench.report import render
from infra.bench.stack import BenchStack, CpuMeter
from pipeline.errors import RevosError
from pipeline.settings import Settings

WARMUP_EVENTS = 2_000


def command(args: argparse.Namespace, settings: Settings) -> int:
    """The `revos bench` handler; `settings` is ignored because the benchmark runs its own stack."""
    options = BenchOptions.from_args(args)
    # One line per request would bury the progress lines.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    problem = options.problem()
    if problem is not None:
        print(f"revos: {problem}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_until_signalled(run(options)))
    except RevosError as exc:
        print(f"revos: benchmark failed: {exc}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print("revos: benchmark interrupted; its stack was stopped", file=sys.stderr)
        return 130
    if args.json:
        sys.stdout.write(
            orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode()
            + "\n"
        )
    else:
        sys.stdout.write(render(report))
    if report.get("analytics", {}).get("mismatches"):
        print("revos: the analytics rollups answered differently from the charges", file=sys.stderr)
        return 1
    return 0


async def _until_signalled(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run `work`, cancelling it on SIGINT or SIGTERM so that its `finally` stops the private stack."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run(options: BenchOptions) -> dict[str, Any]:
    """Start a private stack, measure everything on it, stop it; the figures."""
    report: dict[str, Any] = {
        "options": asdict(options),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    # The chat and voice settings (offline model, rate limits raised, no silence reprompt, no public URL)
    # change nothing the other sections measure.
    gateway_env = {**chat.GATEWAY_ENV, **voice.GATEWAY_ENV}
    stack = BenchStack(options.workers, options.partitions, gateway_env=gateway_env)
    try:
        progress(f"starting a private stack in {stack.home} ({options.workers} worker(s))")
        await stack.start()
        tenant = await stack.create_tenant()
        if not await stack.wait_group():
            progress("warning: the consumer group did not settle; a rebalance may hit the load")
        customers = [f"cust_{i}" for i in range(options.customers)]
        if options.runs_pipeline or options.runs_checks:  # chat and voice have their own customers
            progress(f"granting credits to {len(customers)} customers")
            await stack.grant_all(tenant["api_key"], customers)
            await _warm_up(stack, tenant, customers, options)
        if options.runs_pipeline:
            report["end_to_end"] = await _end_to_end(stack, tenant, customers, options, profiled=True)
            report["paced"] = await _paced(stack, tenant, customers, options)
        if options.runs_checks:
            report["checks"] = await checks.run(stack, tenant, customers, options, progress)
        if options.runs_chat:
            report["chat"] = await chat.run(stack, tenant, options, progress)
        if options.runs_voice:
            report["voice"] = await voice.run(stack, tenant, options, progress)
        if options.runs_analytics:
            report["analytics"] = await analytics.run(stack, options, progress)
        if options.runs_pipeline:
            progress(f"raw baseline: producing and consuming {options.events:,} records with plain aiokafka")
            assert stack.settings is not None
            report["baseline"] = await baseline.run(
                stack.settings.bootstrap_servers, options.events, options.customers, options.partitions
            )
            report["sdk"] = await _sdk(stack, tenant, options, report["end_to_end"]["ingest_events_per_s"])
    finally:
        progress("stopping the private stack")
        await stack.stop()
    if options.runs_pipeline and options.more_workers > options.workers:
        report["more_workers"] = await _more_workers(options)
    if options.runs_pipeline and not options.skip_outbox_off:
        report["without_outbox"] = await _without_outbox(options)
    if options.runs_pipeline and options.tracing_cost:
        report["tracing_cost"] = await _tracing_cost(options)
    if options.runs_pipeline:
        raw = report["baseline"]["combined_events_per_s"]
        report["ratio_end_to_end_to_baseline"] = round(
            report["end_to_end"]["end_to_end_events_per_s"] / raw, 3
        )
        if "more_workers" in report:
            more = report["more_workers"]["end_to_end"]
            more["ratio_to_baseline"] = round(more["end_to_end_events_per_s"] / raw, 3)
    return report


async def _more_workers(options: BenchOptions) -> dict[str, Any]:
    """The end-to-end run again with more workers sharing the billing partitions, on a stack of its own."""
    stack = BenchStack(options.more_workers, options.partitions)
    try:
        progress(f"a second private stack with {options.more_workers} workers")
        tenant, customers = await _loaded_stack(stack, options)
        return {
            "workers": options.more_workers,
            "end_to_end": await _end_to_end(stack, tenant, customers, options),
        }
    finally:
        await stack.stop()


async def _without_outbox(options: BenchOptions) -> dict[str, Any]:
    """The same end-to-end and paced runs on a second stack whose acknowledgements rest on the broker
    alone (as with a replicated Kafka): what the outbox costs, measured in the same run."""
    stack = BenchStack(options.workers, options.partitions, outbox=False)
    try:
        progress("without the outbox: a second private stack, acknowledgements resting on the broker")
        tenant, customers = await _loaded_stack(stack, options)
        return {
            "end_to_end": await _end_to_end(stack, tenant, customers, options),
            "paced": await _paced(stack, tenant, customers, options),
        }
    finally:
        await stack.stop()


async def _tracing_cost(options: BenchOptions) -> dict[str, Any]:
    """The end-to-end run on two further stacks alike but for tracing: off (the default: no
    `OTEL_EXPORTER_OTLP_*`, no `REVOS_TRACE_FILE`), then on, every process writing its spans to a file.
    Neither is profiled, so the two compare with each other rather than with the first run."""
    figures: dict[str, Any] = {}
    for label in ("off", "on"):
        stack = BenchStack(options.workers, options.partitions)
        spans = stack.home / "spans.jsonl"
        if label == "on":
            stack.env = {"REVOS_TRACE_FILE": str(spans)}
        try:
            progress(f"tracing {label}: a further private stack")
            tenant, customers = await _loaded_stack(stack, options)
            figures[label] = await _end_to_end(stack, tenant, customers, options)
            if label == "on":
                figures[label]["spans_written"] = _lines(spans)
        finally:
            await stack.stop()
    off, on = figures["off"]["end_to_end_events_per_s"], figures["on"]["end_to_end_events_per_s"]
    figures["on_over_off"] = round(on / off, 3) if off else None
    return figures


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as written:
        return sum(1 for _ in written)


async def _loaded_stack(stack: BenchStack, options: BenchOptions) -> tuple[dict[str, Any], list[str]]:
    """Start a further stack of the run: a tenant, its customers granted credits, the pipeline warm."""
    await stack.start()
    tenant = await stack.create_tenant()
    if not await stack.wait_group():
        progress("warning: the consumer group did not settle; a rebalance may hit the load")
    customers = [f"cust_{i}" for i in range(options.customers)]
    await stack.grant_all(tenant["api_key"], customers)
    await _warm_up(stack, tenant, customers, options)
    return tenant, customers


async def _warm_up(
    stack: BenchStack, tenant: dict[str, Any], customers: list[str], options: BenchOptions
) -> None:
    progress(f"warming up with {WARMUP_EVENTS:,} events")
    load = bench_load.Load("warm-", WARMUP_EVENTS, customers, options.batch)
    async with stack.client(tenant["api_key"]) as api:
        await bench_load.saturate(api, load.bodies(), 2)
    await stack.wait_charged(tenant, load, 120.0, progress)


async def _end_to_end(
    stack: BenchStack,
    tenant: dict[str, Any],
    customers: list[str],
    options: BenchOptions,
    *,
    profiled: bool = False,
) -> dict[str, Any]:
    load = bench_load.Load("e2e-", options.events, customers, options.batch)
    bodies = load.bodies()
    progress(
        f"end to end: {options.events:,} events, {options.batch} per request, {options.concurrency} in flight"
    )
    meter = CpuMeter(stack.processes())
    profiler = _profiler(stack, options) if profiled else None
    profile = None
    if profiler is not None:
        progress(f"  profiling the gateway and workers with py-spy into {profiler.out_dir}")
        profiler.start()
    try:
        meter.start()
        async with stack.client(tenant["api_key"]) as api:
            sent = await bench_load.saturate(api, bodies, options.concurrency)
        cpu_ingest = meter.lap()
        ingested_at = datetime.now(UTC)
        progress(
            f"  gateway accepted {sent['accepted']:,} in {sent['seconds']:.1f}s; waiting for every charge"
        )
        await stack.wait_charged(tenant, load, 60.0 + options.events / 500, progress)
        cpu_drain = meter.lap()
    finally:
        if profiler is not None:
            profile = profiler.stop()
    lat = await bench_load.latency(stack.db, tenant["tenant_id"], load.prefix, ingested_at)
    partitions = await bench_load.per_partition(stack.db, tenant["tenant_id"], load.prefix)
    total = (lat["last_applied"] - sent["started_at"]).total_seconds()
    draining = (lat["last_applied"] - lat["first_applied"]).total_seconds()
    return {
        "events": options.events,
        "ingest_seconds": round(sent["seconds"], 3),
        "ingest_events_per_s": round(sent["accepted"] / sent["seconds"]),
        "end_to_end_seconds": round(total, 3),
        "end_to_end_events_per_s": round(options.events / total),
        "charge_events_per_s": round(options.events / draining) if draining > 0 else None,
        "latency_p50_ms": round(float(lat["p50"]), 1),
        "latency_p99_ms": round(float(lat["p99"]), 1),
        "latency_max_ms": round(float(lat["max"]), 1),
        "charged_while_ingesting": int(lat["charged_by"]),
        "events_per_partition": partitions,
        "cpu_percent_of_core": {"ingesting": cpu_ingest, "draining": cpu_drain},
        **({"profile": profile} if profile is not None else {}),
    }


def _profiler(stack: BenchStack, options: BenchOptions) -> Profiler | None:
    if options.profile is None or not has_py_spy():
        return None
    pids = {
        name: pid for name, pid in stack.processes().items() if name == "gateway" or name.startswith("worker")
    }
    return Profiler(options.profile, pids)


async def _paced(
    stack: BenchStack, tenant: dict[str, Any], customers: list[str], options: BenchOptions
) -> dict[str, Any]:
    events = int(options.paced_rate * options.paced_seconds)
    load = bench_load.Load("paced-", events, customers, options.paced_batch)
    progress(
        f"paced latency: {options.paced_rate:,} events/s for {options.paced_seconds:.0f}s "
        f"({options.paced_batch} per request)"
    )
    async with stack.client(tenant["api_key"]) as api:
        sent = await bench_load.paced(api, load.bodies(), options.paced_rate / options.paced_batch)
    await stack.wait_charged(tenant, load, 120.0, progress)
    lat = await bench_load.latency(stack.db, tenant["tenant_id"], load.prefix)
    return {
        "events": events,
        "target_events_per_s": options.paced_rate,
        "offered_events_per_s": round(sent["accepted"] / sent["seconds"]),
        "events_per_request": options.paced_batch,
        "latency_p50_ms": round(float(lat["p50"]), 1),
        "latency_p99_ms": round(float(lat["p99"]), 1),
        "latency_max_ms": round(float(lat["max"]), 1),
    }


async def _sdk(
    stack: BenchStack, tenant: dict[str, Any], options: BenchOptions, bulk_rate: float
) -> dict[str, Any]:
    from revos_sdk import bench as sdk_bench

    from infra.bench import typescript_sdk

    progress(f"SDK: track() cost over {options.track_calls:,} calls with 1 and 8 threads")
    one = await asyncio.to_thread(sdk_bench.track_latency, options.track_calls, 1)
    eight = await asyncio.to_thread(sdk_bench.track_latency, options.track_calls, 8)
    progress(
        f"SDK: {options.naive_events:,} events one request each, then {options.sdk_events:,} through the SDK"
    )
    naive = await asyncio.to_thread(
        sdk_bench.naive_throughput, stack.url, tenant["api_key"], options.naive_events
    )
    delivered = await asyncio.to_thread(
        sdk_bench.delivery_throughput, stack.url, tenant["api_key"], options.sdk_events, 8
    )
    # The same with batches as large as the gateway takes: what a high-volume service would configure.
    delivered_large = await asyncio.to_thread(
        sdk_bench.delivery_throughput, stack.url, tenant["api_key"], options.sdk_events, 8, 1000
    )
    progress(
        f"TypeScript SDK: track() cost over {options.track_calls:,} calls, then {options.sdk_events:,} events"
    )
    typescript = await asyncio.to_thread(
        typescript_sdk.measure, stack.url, tenant["api_key"], options.track_calls, options.sdk_events
    )
    return {
        "typescript": typescript,
        "track_1_thread": one,
        "track_8_threads": eight,
        "naive": naive,
        "delivery": delivered,
        "delivery_large_batches": delivered_large,
        "sdk_vs_naive": round(delivered["events_per_s"] / naive["events_per_s"], 1),
        "sdk_percent_of_bulk_ingest": round(100.0 * delivered["events_per_s"] / bulk_rate, 1),
        "sdk_large_percent_of_bulk_ingest": round(100.0 * delivered_large["events_per_s"] / bulk_rate, 1),
    }
