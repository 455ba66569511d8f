"""A tenant's own dead letters: the events of theirs that were refused, at the API or while being charged.
Listed newest first with counts by code; one shown with its record decoded; replayed, or a dry run that
says what would be sent and whether it would now pass. A dead letter without a tenant is the operator's
(`revos dlq`); another tenant's is a 404 like a missing one.

A replay sends the record as the operator's does (projections/dead_letters.py: the original again under
its key, marked as a replay, then the note that counts it), audited as `dead_letter.replay`. A refusal at
the API never reached a topic: its JSON is checked again as POST /v1/events checks it, and sent as a
usage event when it now passes. Once replayed, a dead letter is not replayed again: if its record is
refused again, that refusal is a dead letter of its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.http import paging
from gateway.http.body import read_json
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller
from gateway.writes import audit_entry
from pipeline import validation
from pipeline.billing.replays import UNKNOWN, Verdict, usage_verdict
from pipeline.dead_letters import replay_headers, replay_refusal
from pipeline.errors import DecodeError, ValidationError
from pipeline.publishing import Outgoing
from pipeline.records import UsageRecorded
from pipeline.topics import BILLING, OUTBOX_ID, customer_key
from projections import dead_letters, named_leases
from projections.admin import Caller
from projections.billing import reads

PAGE_DEFAULT = 50
PAGE_MAX = 500
REPLAY_FIELDS = frozenset({"dry_run"})
LEASE_MARGIN = 5.0  # seconds a replay's lease outlives the wait for its note to be applied


def _plain(value: Any) -> Any:
    """A decoded record as JSON: dataclasses as objects, bytes as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else bytes(raw).decode("utf-8", "backslashreplace")


def decoded_value(svc: Services, row: Mapping[str, Any]) -> dict[str, Any]:
    """The dead letter's value for people: the JSON a client sent, or the record it held, or its bytes."""
    raw = bytes(row["value"])
    shown: dict[str, Any] = {"format": "bytes", "record_type": None, "decoded": None, "size": len(raw)}
    if row["source_topic"] is None:
        try:
            return {**shown, "format": "json", "decoded": orjson.loads(raw)}
        except orjson.JSONDecodeError:
            pass
    else:
        try:
            record = svc.codec.decode(raw)
        except DecodeError:
            pass
        else:
            return {
                **shown,
                "format": "avro",
                "record_type": type(record).__name__,
                "decoded": _plain(record),
            }
    return {**shown, "text": _text(raw)}


def detail(svc: Services, row: Mapping[str, Any]) -> dict[str, Any]:
    """One dead letter as the API shows it (never its stack trace: that is the operator's)."""
    source = None
    if row["source_topic"] is not None:
        source = {
            "topic": row["source_topic"],
            "partition": row["source_partition"],
            "offset": row["source_offset"],
            "timestamp": row["source_timestamp"],
        }
    return {
        "dead_letter_id": row["dead_letter_id"],
        "stage": row["stage"],
        "code": row["code"],
        "error_class": row["error_class"],
        "message": row["message"],
        "event_id": row["event_id"],
        "source": source,
        "key": _text(row["key"]),
        "value": decoded_value(svc, row),
        # Without the outbox's own bookkeeping (the id of a row long gone).
        "headers": [{"key": h["key"], "value": h["value"]} for h in row["headers"] if h["key"] != OUTBOX_ID],
        "attempts": row["attempts"],
        "replay_count": row["replay_count"],
        "replays": row["replays"],
        "first_failed_at": row["first_failed_at"],
        "last_failed_at": row["last_failed_at"],
        "last_replayed_at": row["last_replayed_at"],
        "app_version": row["app_version"],
    }


async def list_dead_letters(request: Request) -> Response:
    svc, who = await caller(request)
    q = request.query_params
    stage = q.get("stage") or None
    limit = paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)
    cursor = q.get("cursor")
    rows = await dead_letters.tenant_page(
        svc.pool,
        who.tenant_id,
        code=q.get("code") or None,
        stage=stage,
        before=paging.time_and_text(cursor) if cursor else None,
        limit=limit + 1,
    )
    page, next_cursor = paging.page(
        rows, limit, lambda row: (row["first_failed_at"].isoformat(), row["dead_letter_id"])
    )
    counts = await dead_letters.tenant_counts(svc.pool, who.tenant_id, stage=stage)
    return json_response({"dead_letters": page, "counts": counts, "next_cursor": next_cursor})


async def _own(svc: Services, who: Caller, dead_letter_id: str) -> dict[str, Any]:
    row = await dead_letters.tenant_get(svc.pool, who.tenant_id, dead_letter_id)
    if row is None:
        raise not_found("dead_letter")
    return row


async def get_dead_letter(request: Request) -> Response:
    svc, who = await caller(request)
    return json_response(detail(svc, await _own(svc, who, request.path_params["dead_letter_id"])))


# --- replay --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What a replay would send (None: nothing, the record would be refused at once) and its verdict."""

    outgoing: Outgoing | None
    record: Any
    verdict: Verdict


async def _usage_verdict(svc: Services, usage: UsageRecorded) -> Verdict:
    table = await reads.table_of(svc.pool, usage.tenant_id, usage.customer)
    return usage_verdict(
        usage,
        charged_to=await reads.charged_to(svc.pool, usage.tenant_id, usage.event_id),
        versions=await reads.priced_versions(svc.pool, usage.tenant_id, table),
    )


async def _plan(svc: Services, who: Caller, row: Mapping[str, Any], now: datetime) -> Plan:
    if row["source_topic"] is None:  # refused at the API: check the JSON the client sent again
        try:
            usage = validation.usage(orjson.loads(bytes(row["value"])), tenant_id=who.tenant_id, now=now)
        except orjson.JSONDecodeError:
            return Plan(None, None, Verdict(False, "the request held no JSON", "invalid_json"))
        except ValidationError as exc:
            return Plan(None, None, Verdict(False, exc.message, exc.code))
        original = [dead_letters.header_bytes(h) for h in row["headers"]]
        outgoing = Outgoing(
            BILLING,
            svc.codec.encode(usage),
            key=customer_key(usage.tenant_id, usage.customer),
            headers=replay_headers(original, row["dead_letter_id"], row["replay_count"]),
        )
        return Plan(outgoing, usage, await _usage_verdict(svc, usage))
    outgoing = dead_letters.original_again(row)
    try:
        record = svc.codec.decode(outgoing.value)
    except DecodeError as exc:
        return Plan(outgoing, None, Verdict(False, exc.message, exc.code))
    verdict = await _usage_verdict(svc, record) if isinstance(record, UsageRecorded) else UNKNOWN
    return Plan(outgoing, record, verdict)


def refusal(row: Mapping[str, Any]) -> ApiError | None:
    """Why this dead letter may not be replayed (any more), as the API refuses it; None when it may."""
    if row["replays"]:
        return ApiError(
            409,
            "already_replayed",
            f"already replayed at {row['last_replayed_at'].isoformat(timespec='seconds')}; if its record "
            "was refused again, that refusal is a dead letter of its own",
        )
    limit = replay_refusal(replay_count=row["replay_count"], replays=row["replays"])
    return None if limit is None else ApiError(409, "replay_limit_reached", limit)


def _answer(row: Mapping[str, Any], plan: Plan, *, dry_run: bool) -> dict[str, Any]:
    v = plan.verdict
    price = None
    if v.price is not None:
        price = {
            "credits": v.price.credits,
            "cost": v.price.cost,
            "burn_table": v.price.table,
            "version": v.price.version,
            "rule_index": v.price.rule_index,
        }
    return {
        "dead_letter_id": row["dead_letter_id"],
        "dry_run": dry_run,
        "publish": None
        if plan.outgoing is None
        else {
            "topic": plan.outgoing.topic,
            "key": _text(plan.outgoing.key),
            "record_type": None if plan.record is None else type(plan.record).__name__,
            "record": _plain(plan.record),
        },
        "check": {"passes": v.passes, "code": v.code, "message": v.message, "price": price},
    }


async def replay(request: Request) -> Response:
    svc, who = await caller(request)
    body = validation.json_object(await read_json(request, optional=True), "body")
    validation.no_unknown(body, REPLAY_FIELDS, "replay")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ApiError(400, "invalid_dry_run", "dry_run must be true or false")
    dead_letter_id = request.path_params["dead_letter_id"]
    row = await _own(svc, who, dead_letter_id)
    if dry_run:
        refused = refusal(row)
        plan = await _plan(svc, who, row, datetime.now(UTC))
        return json_response(
            {
                **_answer(row, plan, dry_run=True),
                "would_replay": refused is None
                and plan.outgoing is not None
                and plan.verdict.passes is not False,
                "refusal": None if refused is None else {"code": refused.code, "message": refused.message},
            }
        )
    try:
        # One replay at a time per dead letter, decided on what the projection holds once it is ours.
        async with named_leases.held(
            svc.pool,
            f"dead-letter|{dead_letter_id}",
            seconds=svc.write_timeout + LEASE_MARGIN,
            wait=svc.write_timeout,
        ):
            row = await _own(svc, who, dead_letter_id)
            refused = refusal(row)
            if refused is not None:
                raise refused
            now = datetime.now(UTC)
            plan = await _plan(svc, who, row, now)
            if plan.outgoing is None or plan.verdict.passes is False:
                raise ApiError(422, plan.verdict.code or "refused_again", plan.verdict.message)
            trail = audit_entry(
                request,
                who,
                action="dead_letter.replay",
                target=f"dead_letter:{dead_letter_id}",
                before={"replays": row["replays"]},
                after={
                    "replays": row["replays"] + 1,
                    "topic": plan.outgoing.topic,
                    "event_id": row["event_id"],
                },
                now=now,
            )
            # The record first, then the note that it was replayed: a crash between them only lets it
            # be replayed again, which its idempotent effects make harmless.
            await svc.writer.publish([plan.outgoing], [trail])
            await svc.publisher.publish(
                [
                    dead_letters.replay_note(
                        svc.codec, row, target_topic=plan.outgoing.topic, actor=who.actor, now=now
                    )
                ]
            )
            applied = await svc.writer.wait(dead_letters.REPLAYED, dead_letter_id, row["replays"])
    except named_leases.LeaseBusy as exc:
        raise ApiError(
            503, "replay_busy", "this dead letter is being replayed; retry shortly", {"Retry-After": "1"}
        ) from exc
    answer = {**_answer(row, plan, dry_run=False), "status": "applied" if applied else "pending"}
    return json_response(answer, status=200 if applied else 202)
