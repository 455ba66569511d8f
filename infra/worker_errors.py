"""The workers' error rate, read from their metrics endpoints: records that failed (dead-lettered) over
records processed in the last 5 and 60 minutes, as a percentage (the target is under 1%). The one figure
`revos infra status` prints and the dashboard shows."""

from __future__ import annotations

from typing import Any

TARGET_PERCENT = 1.0
WINDOWS = ("5m", "60m")


async def worker_error_rates(metrics_port: int, workers: int, *, timeout: float = 2.0) -> dict[str, Any]:
    """`{"metrics": {url: answered}, "last_5m": {...}, "last_60m": {...}, "target_percent": 1.0}`; each
    window has `records`, `failed` and `error_rate_percent` (null before any record). With no metrics
    port, `{"metrics": None, "hint": ...}`."""
    import httpx  # local: callers must work without the gateway's dependencies loaded
    from prometheus_client.parser import text_string_to_metric_families

    if not metrics_port:
        return {"metrics": None, "hint": "set REVOS_WORKER_METRICS_PORT to serve and read worker metrics"}
    totals = {w: {"records": 0.0, "failed": 0.0} for w in WINDOWS}
    endpoints: dict[str, bool] = {}
    async with httpx.AsyncClient(timeout=timeout) as http:
        for worker in range(workers):
            url = f"http://127.0.0.1:{metrics_port + worker}/metrics"
            try:
                text = (await http.get(url)).text
            except httpx.HTTPError:
                endpoints[url] = False
                continue
            endpoints[url] = True
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    window = sample.labels.get("window")
                    if window in totals and sample.name == "revos_worker_window_records":
                        totals[window]["records"] += sample.value
                    elif window in totals and sample.name == "revos_worker_window_failed":
                        totals[window]["failed"] += sample.value
    rates = {
        f"last_{w}": {
            "records": int(t["records"]),
            "failed": int(t["failed"]),
            "error_rate_percent": round(100 * t["failed"] / t["records"], 3) if t["records"] else None,
        }
        for w, t in totals.items()
    }
    return {"metrics": endpoints, **rates, "target_percent": TARGET_PERCENT}
