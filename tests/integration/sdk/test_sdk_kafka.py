"""Contract between the SDK's Kafka transport and the platform: schema, bytes, key, topic and ingest rules.

The SDK may not import the platform, so it carries copies of the `UsageRecorded` and `UsageBatch` schemas,
of the gateway's rules and of its placement of records; these tests hold each copy to the original.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from revos_sdk import Config, EventRejected, Revos
from revos_sdk._config import DEFAULT_KAFKA_TOPIC
from revos_sdk._event import encode_event
from revos_sdk._transports.avro import batch_fields, usage_batch_writer, usage_recorded_writer
from revos_sdk._transports.kafka import Partitioner
from revos_sdk._transports.usage_record import record_key, usage_record

from infra.kafka import CachedPartitioner
from pipeline import validation
from pipeline.codec import default_codec, load_schema
from pipeline.errors import ValidationError
from pipeline.records import UsageBatch, UsageRecorded
from pipeline.topics import BILLING, customer_key

ROOT = Path(__file__).resolve().parents[3]
PLATFORM_SCHEMA = ROOT / "schemas" / "usage_recorded.v2.avsc"
PLATFORM_BATCH_SCHEMA = ROOT / "schemas" / "usage_batch.v1.avsc"
NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
TENANT = "ten_contract"


def test_the_packaged_schema_has_the_platform_schemas_fingerprint() -> None:
    platform = load_schema(PLATFORM_SCHEMA)
    sdk = usage_recorded_writer()
    assert sdk.fingerprint == platform.fingerprint
    # ... and it is the newest UsageRecorded version, the one the gateway writes.
    assert sdk.fingerprint == default_codec().latest(UsageRecorded.SCHEMA).fingerprint
    assert json.loads((ROOT / "sdk/revos_sdk/schemas/usage_recorded.v2.avsc").read_text()) == json.loads(
        PLATFORM_SCHEMA.read_text()
    )


def test_the_packaged_batch_schema_has_the_platform_schemas_fingerprint() -> None:
    platform = load_schema(PLATFORM_BATCH_SCHEMA)
    sdk = usage_batch_writer()
    assert sdk.fingerprint == platform.fingerprint
    assert sdk.fingerprint == default_codec().latest(UsageBatch.SCHEMA).fingerprint
    assert json.loads((ROOT / "sdk/revos_sdk/schemas/usage_batch.v1.avsc").read_text()) == json.loads(
        PLATFORM_BATCH_SCHEMA.read_text()
    )


def test_a_batch_the_sdk_encodes_decodes_into_the_events_the_gateway_would_batch() -> None:
    raws: list[dict[str, Any]] = [
        {"id": "b1", "customer": "cust_1", "type": "llm.tokens", "quantity": "1532.25"},
        {
            "id": "b2",
            "customer": "cust_2",
            "type": "report.completed",
            "timestamp": "2026-03-01T13:59:00.5+02:00",
            "properties": {"model": "gpt-4o", "cached": True, "tokens": 12, "ratio": 0.5},
        },
        {"id": "b3", "customer": "cust_1", "type": "llm.tokens", "quantity": 0},
    ]
    fields = [usage_record(raw["id"], orjson.dumps(raw), TENANT, NOW) for raw in raws]
    data = usage_batch_writer().encode(batch_fields("sdk-1:2", TENANT, NOW, fields))

    record = default_codec().decode(data)

    expected = tuple(validation.usage(raw, tenant_id=TENANT, now=NOW) for raw in raws)
    assert record == UsageBatch("sdk-1:2", TENANT, expected, NOW)
    # Byte for byte what the gateway produces for the same events received together.
    assert data == default_codec().encode(UsageBatch("sdk-1:2", TENANT, expected, NOW))


@pytest.mark.parametrize("partitions", [1, 3, 7, 12])
def test_events_are_placed_on_the_partitions_the_gateway_places_them_on(partitions: int) -> None:
    ours, gateway = Partitioner(), CachedPartitioner()
    ids = list(range(partitions))
    for i in range(500):
        key = customer_key(TENANT, f"cust_{i}")
        assert ours(key, ids) == gateway(key, ids, ids)


def test_topic_and_key_are_the_platforms() -> None:
    assert DEFAULT_KAFKA_TOPIC == BILLING
    assert record_key(TENANT, "cust:1") == customer_key(TENANT, "cust:1")


def test_a_record_the_sdk_encodes_decodes_into_the_expected_usage_recorded() -> None:
    plus_two = timezone(timedelta(hours=2))
    payload = encode_event(
        "ev_1",
        "cust_1",
        "llm.tokens",
        Decimal("1532.25"),
        {"model": "gpt-4o", "cached": True, "tokens": 12, "ratio": 0.5, "price": Decimal("0.125")},
        datetime(2026, 3, 1, 13, 59, 0, 500000, tzinfo=plus_two),
    )
    data = usage_recorded_writer().encode(usage_record("ev_1", payload, TENANT, NOW))

    record = default_codec().decode(data)

    assert record == UsageRecorded(
        event_id="ev_1",
        tenant_id=TENANT,
        customer="cust_1",
        type="llm.tokens",
        timestamp=datetime(2026, 3, 1, 11, 59, 0, 500000, tzinfo=UTC),
        quantity=Decimal("1532.25"),
        properties={"model": "gpt-4o", "cached": True, "tokens": 12, "ratio": 0.5, "price": 0.125},
        received_at=NOW,
    )
    assert isinstance(record, UsageRecorded)
    assert record.quantity.as_tuple().exponent == -9
    assert record.timestamp.utcoffset() == timedelta(0) and record.received_at is not None
    assert record.received_at.utcoffset() == timedelta(0)
    # Byte for byte what the gateway produces for the same event received at the same time.
    assert data == default_codec().encode(validation.usage(orjson.loads(payload), tenant_id=TENANT, now=NOW))


RECENT = "2026-03-01T11:00:00Z"
BASE: dict[str, Any] = {"id": "e1", "customer": "c1", "type": "llm.tokens", "timestamp": RECENT}

CASES: list[tuple[str, object]] = [
    ("minimal, stamped at receive time", {"id": "e1", "customer": "c1", "type": "t"}),
    ("full", {**BASE, "quantity": "0.5", "properties": {"m": "x", "b": False, "n": -3, "f": 1.25}}),
    ("integer quantity", {**BASE, "quantity": 12}),
    ("float quantity", {**BASE, "quantity": 1.5}),
    ("exponent quantity", {**BASE, "quantity": "1e3"}),
    ("zero quantity", {**BASE, "quantity": 0}),
    ("negative quantity", {**BASE, "quantity": "-1"}),
    ("text quantity", {**BASE, "quantity": "abc"}),
    ("ten decimal places", {**BASE, "quantity": "0.0000000001"}),
    ("boolean quantity", {**BASE, "quantity": True}),
    ("null quantity", {**BASE, "quantity": None}),
    ("huge quantity", {**BASE, "quantity": "1e29"}),
    ("blank id", {**BASE, "id": "   "}),
    ("long id", {**BASE, "id": "i" * 201}),
    ("missing customer", {"id": "e1", "type": "t"}),
    ("numeric type", {**BASE, "type": 5}),
    ("late timestamp", {**BASE, "timestamp": "2026-01-01T00:00:00Z"}),
    ("early timestamp", {**BASE, "timestamp": "2026-03-01T12:10:00Z"}),
    ("timestamp at the window's edge", {**BASE, "timestamp": "2026-03-01T12:04:59+00:00"}),
    ("timestamp with an offset", {**BASE, "timestamp": "2026-03-01T08:00:00-03:00"}),
    ("timestamp without offset", {**BASE, "timestamp": "2026-03-01T11:00:00"}),
    ("timestamp not a time", {**BASE, "timestamp": "yesterday"}),
    ("timestamp as a number", {**BASE, "timestamp": 1772362800}),
    ("properties a list", {**BASE, "properties": ["a"]}),
    ("nested property", {**BASE, "properties": {"a": {"b": 1}}}),
    ("too many properties", {**BASE, "properties": {f"k{i}": i for i in range(51)}}),
    ("empty property name", {**BASE, "properties": {"": 1}}),
    ("property beyond 64 bits", {**BASE, "properties": {"n": 2**63}}),
    ("long property value", {**BASE, "properties": {"s": "v" * 1001}}),
    ("null property", {**BASE, "properties": {"s": None}}),
    ("unknown field", {**BASE, "extra": 1}),
    ("not an object", ["e1"]),
]


@pytest.mark.parametrize(("raw",), [(raw,) for _, raw in CASES], ids=[name for name, _ in CASES])
def test_the_sdk_refuses_exactly_what_the_gateway_refuses(raw: object) -> None:
    """Decided on the same JSON the gateway would receive; accepted ones are encoded to the same bytes."""
    try:
        expected: UsageRecorded | str = validation.usage(raw, tenant_id=TENANT, now=NOW)
    except ValidationError as exc:
        expected = exc.code
    try:
        fields = usage_record("e1", orjson.dumps(raw), TENANT, NOW)
    except EventRejected as exc:
        assert exc.code == expected
        return
    assert isinstance(expected, UsageRecorded), f"the gateway refuses it ({expected}), the SDK does not"
    assert usage_recorded_writer().encode(fields) == default_codec().encode(expected)


def test_http_stays_the_default_and_kafka_is_chosen_by_configuration() -> None:
    platform_env = {"REVOS_KAFKA_BOOTSTRAP": "kafka:9092", "REVOS_API_KEY": "k"}
    assert Config.from_env(env=platform_env).transport == "http"  # the platform's own variable alone
    sdk_env = {**platform_env, "REVOS_TENANT_ID": "ten_1", "REVOS_KAFKA_TOPIC": "usage"}
    config = Config.from_env(env=sdk_env)
    assert (config.transport, config.kafka_bootstrap, config.tenant_id, config.kafka_topic) == (
        "kafka",
        "kafka:9092",
        "ten_1",
        "usage",
    )
    assert Config.from_env(base_url="http://gw:8080", env=sdk_env).transport == "http"
    assert Config.from_env(env=sdk_env, kafka_bootstrap=None).transport == "http"
    no_key = Config.from_env(env={}, kafka_bootstrap="k:9092", tenant_id="ten_1")
    assert no_key.transport == "kafka" and no_key.kafka_topic == BILLING


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kafka_bootstrap": "k:9092"}, "REVOS_TENANT_ID"),
        ({"kafka_bootstrap": "k:9092", "tenant_id": "  "}, "REVOS_TENANT_ID"),
        ({"kafka_bootstrap": " "}, "kafka_bootstrap"),
        ({"kafka_bootstrap": "k:9092", "tenant_id": "t", "kafka_options": {"acks": 1}}, "acks"),
    ],
)
def test_a_bad_kafka_configuration_is_explained(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config.from_env(env={}, **options)


def test_the_api_helpers_still_need_an_api_key() -> None:
    revos = Revos(kafka_bootstrap="127.0.0.1:9", tenant_id="ten_1")
    try:
        with pytest.raises(ValueError, match="REVOS_API_KEY"):
            revos.get_balance("c1")
    finally:
        revos.close()


PLATFORM = ("faust", "pipeline", "agents", "projections", "gateway", "infra")
ISOLATION = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class Missing(importlib.abc.MetaPathFinder):
        # The core install: neither aiokafka nor fastavro is there.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("aiokafka", "fastavro"):
                raise ImportError(f"No module named {name!r}")
            return None

    if sys.argv[1] == "core":
        sys.meta_path.insert(0, Missing())
    from revos_sdk import Revos, NullTransport

    http = Revos(api_key="k", transport_factory=lambda config: NullTransport())
    http.track("c1", "t")
    assert http.flush(5)
    http.close()
    try:
        Revos(kafka_bootstrap="127.0.0.1:9", tenant_id="ten_1").close()
        outcome = "ok"
    except ImportError as exc:
        outcome = str(exc)
    print(json.dumps({"kafka": outcome, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
    """
)


@pytest.mark.parametrize("install", ["core", "kafka"])
def test_the_sdk_imports_no_platform_package_and_kafka_only_with_its_extra(
    install: str, tmp_path: Path
) -> None:
    # Run from an empty directory so the repository's packages are not importable by accident.
    result = subprocess.run(
        [sys.executable, "-c", ISOLATION, install], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert not set(PLATFORM) & set(report["modules"])
    if install == "core":
        assert "revos-sdk[kafka]" in report["kafka"]
        assert not {"aiokafka", "fastavro"} & set(report["modules"])
    else:
        assert report["kafka"] == "ok"
        assert {"aiokafka", "fastavro"} <= set(report["modules"])
