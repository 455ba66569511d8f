"""The codec: every schema round-trips, bad bytes and bad records are refused, old versions still decode."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from pipeline.codec import HEADER_LEN, MAGIC, Codec, default_codec, load_schema, schema_dir
from pipeline.errors import DecodeError, EncodeError, RevosError
from pipeline.records import (
    RECORD_TYPES,
    ApiKeyIssued,
    ApiKeyRevoked,
    AssistantBranding,
    AssistantChanged,
    AssistantTool,
    AssistantVoice,
    AuditRecorded,
    BalanceThresholdCrossed,
    BurnRule,
    BurnTablePublished,
    CallEventRecorded,
    ChatMessageRecorded,
    CreditsExpired,
    CreditsGranted,
    CustomerUpdated,
    DeadLetter,
    DeadLetterReplayed,
    EntitlementSet,
    GrantVoided,
    Header,
    HoldReleased,
    HoldRequested,
    Record,
    TenantCreated,
    UsageBatch,
    UsageCorrected,
    UsageRecorded,
    UserCreated,
    UserPasswordChanged,
    VoiceProviderSet,
    Watermark,
    WebhookEndpointChanged,
    WebhookRedeliveryRequested,
)

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)

SAMPLES: dict[str, Record] = {
    "usage": UsageRecorded(
        event_id="evt_1",
        tenant_id="ten_1",
        customer="cus_1",
        type="llm.tokens",
        timestamp=T0,
        quantity=Decimal("1532.000000001"),
        properties={"model": "gpt-4o", "cached": True, "n": 3, "one": 1.0, "t": 0.7, "big": -(1 << 63)},
        received_at=T0 + timedelta(seconds=1),
    ),
    "usage_minimal": UsageRecorded("evt_2", "ten_1", "cus_1", "t", T0, Decimal(0)),
    "usage_batch": UsageBatch(
        "req_1:3",
        "ten_1",
        (
            UsageRecorded("evt_4", "ten_1", "cus_1", "llm.tokens", T0, Decimal("12.5"), {"m": "x"}, T0),
            UsageRecorded("evt_5", "ten_1", "cus_2", "t", T0 - timedelta(days=1), Decimal(0), {}, T0),
        ),
        T0,
    ),
    "grant": CreditsGranted(
        event_id="evt_3",
        tenant_id="ten_1",
        customer="cus_1",
        grant_id="grt_1",
        amount=Decimal("99999999999999999999999999999.999999999"),
        priority=-1000,
        effective_at=T0,
        expires_at=T0 + timedelta(days=30),
        reason="promo",
        actor="key_admin",
        occurred_at=T0,
    ),
    "grant_minimal": CreditsGranted(
        "evt_4", "ten_1", "cus_1", "grt_2", Decimal("0.000000001"), 0, T0, None, None, "key_admin", T0
    ),
    "table": BurnTablePublished(
        event_id="evt_5",
        tenant_id="ten_1",
        name="default",
        version=7,
        effective_at=T0,
        rules=(
            BurnRule("llm.tokens", Decimal("0.00001"), {"model": "gpt-4o", "cached": False, "tier": 2}),
            BurnRule("report.completed", Decimal("50"), {}, Decimal("1.25")),
        ),
        actor="key_admin",
        occurred_at=T0,
    ),
    "tenant": TenantCreated("evt_6", "ten_1", "Acme — ünïcode", "key_root", T0),
    "user": UserCreated(
        "evt_u1", "ten_1", "usr_1", "ada@example.com", "$argon2id$v=19$m=65536,t=3,p=4$x$y", "user:usr_1", T0
    ),
    "user_password": UserPasswordChanged(
        "evt_u2", "ten_1", "usr_1", "$argon2id$v=19$m=65536,t=3,p=4$z$w", "user:usr_1", T0
    ),
    "key": ApiKeyIssued("evt_7", "ten_1", "key_1", "rk_abcdefg", "0" * 64, "key_root", T0),
    "key_revoked": ApiKeyRevoked("evt_8", "ten_1", "key_1", T0 + timedelta(hours=24), "key:key_2", T0),
    "dead_letter": DeadLetter(
        dead_letter_id="dl_1",
        stage="billing",
        code="unpriced",
        error_class="UnpricedError",
        message="no rule",
        value=b"\xc3\x01\x00\xff",
        first_failed_at=T0,
        last_failed_at=T0 + timedelta(minutes=3),
        app_version="0.1.0",
        stack="Traceback ...",
        tenant_id="ten_1",
        event_id="evt_1",
        source_topic="revos.usage",
        source_partition=3,
        source_offset=1 << 40,
        source_timestamp=T0,
        key=b"ten_1:cus_1",
        headers=(Header("revos-replay", b"1"), Header("empty", b"")),
        attempts=4,
        replay_count=2,
        schema_fingerprint="00ff00ff00ff00ff",
    ),
    "dead_letter_minimal": DeadLetter(
        "dl_2", "ingest", "invalid", "ValidationError", "bad", b"", T0, T0, "0.1.0"
    ),
    "replayed": DeadLetterReplayed("dl_1", "revos.usage", "key_admin", T0),
    "customer": CustomerUpdated(
        "evt_c", "ten_1", "cus_1", "premium", Decimal("250.5"), {"plan": "pro"}, "key:k1", T0, ["100", "0"]
    ),
    "expired": CreditsExpired("exp_g1", "ten_1", "cus_1", "g1", T0, T0),
    "grant_void": GrantVoided("evt_v", "ten_1", "cus_1", "g1", "refund", "key:k1", T0),
    "void": UsageCorrected("cor_1", "ten_1", "cus_1", "evt_1", "void", None, None, None, "key:k1", T0),
    "amend": UsageCorrected(
        "cor_2", "ten_1", "cus_1", "evt_1", "amend", Decimal("7"), {"model": "small"}, "typo", "key:k1", T0
    ),
    "metered": EntitlementSet(
        "evt_e",
        "ten_1",
        "cus_1",
        "reports",
        "metered",
        None,
        None,
        "report.completed",
        {"tier": "pro"},
        Decimal("10"),
        "month",
        "key:k1",
        T0,
    ),
    "boolean": EntitlementSet(
        "evt_b", "ten_1", "cus_1", "sso", "boolean", True, None, None, {}, None, None, "key:k1", T0
    ),
    "watermark": Watermark(T0),
    "hold": HoldRequested("hld_1", "ten_1", "cus_1", Decimal("2.5"), T0, "evt_1", "key:k1", T0),
    "hold_open": HoldRequested("hld_2", "ten_1", "cus_1", Decimal("1"), T0, None, "key:k1", T0),
    "release": HoldReleased("hld_1", "ten_1", "cus_1", "key:k1", T0),
    "assistant": AssistantChanged(
        "evt_a",
        "ten_1",
        "agt_1",
        "created",
        "Helper",
        "Be brief.",
        "openai/gpt-4o-mini",
        ["meta/llama"],
        0.2,
        (
            AssistantTool(
                "lookup", "Find an order", '{"type": "object"}', "https://example.com/t", "s3cret", 5.0
            ),
        ),
        ["example.com", "*.example.org"],
        AssistantBranding("https://example.com/logo.png", "#0055ff", "Help", "Hi!", ["Pricing?", "Hours?"]),
        "cus_1",
        "support",
        "key:k1",
        T0,
    ),
    "assistant_voice": AssistantChanged(
        "evt_v",
        "ten_1",
        "agt_2",
        "updated",
        "Phone",
        "Be brief.",
        "m",
        [],
        None,
        (),
        [],
        AssistantBranding(),
        "",
        None,
        "key:k1",
        T0,
        voice=AssistantVoice(
            "+14155550100",
            "en-GB",
            "Google",
            "en-GB-Neural2-A",
            "Deepgram",
            "Hello!",
            False,
            300,
            "https://example.com/hooks",
            "enc:v1:abc",
        ),
    ),
    "call_event": CallEventRecorded(
        "call:CA1:ab",
        "ten_1",
        "agt_2",
        "CA1",
        "interrupted",
        T0,
        state=None,
        conversation_id="cnv_1",
        from_number="+14155550111",
        to_number="+14155550100",
        duration_seconds=42,
        end_reason=None,
        detail=None,
        reply_to=3,
        heard="Our hours are",
        heard_ms=1820,
        customer="cus_1",
    ),
    "call_state": CallEventRecorded("call:CA1:cd", "ten_1", "agt_2", "CA1", "state", T0, state="ringing"),
    "voice_provider": VoiceProviderSet("evt_p", "ten_1", "twilio", "AC123", "enc:v1:xyz", "key:k1", T0),
    "webhook_endpoint": WebhookEndpointChanged(
        "evt_w",
        "ten_1",
        "we_1",
        "created",
        "https://hooks.example.com/revos",
        ["balance.threshold_crossed", "call.ended"],
        True,
        "enc:v1:xyz",
        "key:k1",
        T0,
        description="ops",
    ),
    "webhook_redelivery": WebhookRedeliveryRequested("evt_r", "ten_1", "we_1", "msg_abc", "key:k1", T0),
    "chat": ChatMessageRecorded(
        "conv_1:2",
        "ten_1",
        "agt_1",
        "conv_1",
        2,
        "assistant",
        "Hello",
        "complete",
        T0,
        None,
        1,
        "openai/gpt-4o-mini",
        812,
        120,
        40,
        12,
        '[{"name": "lookup"}]',
        None,
        None,
        "vis_1",
        "https://example.com",
    ),
    "user_chat": ChatMessageRecorded(
        "conv_1:1", "ten_1", "agt_1", "conv_1", 1, "user", "Hi", "complete", T0, "c1"
    ),
    "alert": BalanceThresholdCrossed("alr_1", "ten_1", "cus_1", Decimal("100"), Decimal("99.5"), 7, T0),
    "audit": AuditRecorded(
        "aud_1", "ten_1", "key:k1", "grant.create", "customer:c/grant:g", None, '{"amount":"5"}', "req_1", T0
    ),
}


@pytest.fixture(scope="module")
def codec() -> Codec:
    return default_codec()


def test_every_record_type_has_a_sample_and_every_schema_a_record_type(codec: Codec) -> None:
    sampled = {type(s) for s in SAMPLES.values()}
    assert sampled == set(RECORD_TYPES)
    names = {json.loads(p.read_text())["name"] for p in schema_dir().glob("*.avsc")}
    assert {f"revos.{n}" for n in names} == {cls.SCHEMA for cls in RECORD_TYPES}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_record_round_trips(codec: Codec, name: str) -> None:
    record = SAMPLES[name]
    data = codec.encode(record)
    assert data[:2] == MAGIC
    assert data[2:HEADER_LEN] == codec.latest(record.SCHEMA).fingerprint
    assert codec.fingerprint_of(data) == codec.latest(record.SCHEMA).fingerprint_hex
    decoded = codec.decode(data)
    assert type(decoded) is type(record)
    assert decoded == record


def test_property_types_survive_the_round_trip(codec: Codec) -> None:
    # Pricing treats True, 1 and "1" differently, so the codec must not blur them.
    decoded = codec.decode(codec.encode(SAMPLES["usage"]))
    assert isinstance(decoded, UsageRecorded)
    assert {k: type(v) for k, v in decoded.properties.items()} == {
        "model": str,
        "cached": bool,
        "n": int,
        "one": float,
        "t": float,
        "big": int,
    }


def test_nested_records_decode_into_their_dataclasses(codec: Codec) -> None:
    table = codec.decode(codec.encode(SAMPLES["table"]))
    assert isinstance(table, BurnTablePublished)
    assert isinstance(table.rules, tuple) and all(isinstance(r, BurnRule) for r in table.rules)
    dead = codec.decode(codec.encode(SAMPLES["dead_letter"]))
    assert isinstance(dead, DeadLetter)
    assert dead.headers == (Header("revos-replay", b"1"), Header("empty", b""))


def test_a_batch_decodes_into_whole_usage_records_and_refuses_mixed_ones(codec: Codec) -> None:
    batch = SAMPLES["usage_batch"]
    assert isinstance(batch, UsageBatch)
    decoded = codec.decode(codec.encode(batch))
    assert isinstance(decoded, UsageBatch)
    assert all(isinstance(e, UsageRecorded) for e in decoded.events)
    assert decoded.events == batch.events
    # Each event, dead-lettered alone, is the record it would have been had it been sent alone.
    assert codec.encode(decoded.events[0]) == codec.encode(batch.events[0])
    other_tenant = replace(batch.events[1], tenant_id="ten_2")
    with pytest.raises(EncodeError, match="tenant_id differs"):
        codec.encode(replace(batch, events=(batch.events[0], other_tenant)))
    too_big = replace(batch.events[0], quantity=Decimal(10) ** 29)
    with pytest.raises(EncodeError, match="out of range"):
        codec.encode(replace(batch, events=(too_big,)))


def test_decimals_stay_decimals_and_times_stay_aware(codec: Codec) -> None:
    decoded = codec.decode(codec.encode(SAMPLES["grant"]))
    assert isinstance(decoded, CreditsGranted)
    assert isinstance(decoded.amount, Decimal)
    assert decoded.amount == Decimal("99999999999999999999999999999.999999999")
    assert decoded.effective_at.tzinfo is not None and decoded.effective_at.microsecond == 123456


def test_times_in_other_zones_decode_to_the_same_instant(codec: Codec) -> None:
    local = T0.astimezone(timezone(timedelta(hours=-7)))
    decoded = codec.decode(codec.encode(replace(SAMPLES["replayed"], occurred_at=local)))  # type: ignore[type-var]
    assert isinstance(decoded, DeadLetterReplayed)
    assert decoded.occurred_at == T0


def test_encoding_is_deterministic(codec: Codec) -> None:
    assert codec.encode(SAMPLES["table"]) == codec.encode(SAMPLES["table"])


# rejects on decode


@pytest.mark.parametrize("data", [b"", b"\xc3", b"\xc3\x01", b"\xc3\x01" + b"\x00" * 7])
def test_too_short_is_refused(codec: Codec, data: bytes) -> None:
    with pytest.raises(DecodeError, match="too short") as info:
        codec.decode(data)
    assert info.value.code == "undecodable"
    assert codec.fingerprint_of(data) is None


@pytest.mark.parametrize("magic", [b"\x00\x00", b"\xc3\x00", b"\xc2\x01", b'{"'])
def test_wrong_magic_is_refused(codec: Codec, magic: bytes) -> None:
    data = magic + codec.encode(SAMPLES["tenant"])[2:]
    with pytest.raises(DecodeError, match="marker"):
        codec.decode(data)
    assert codec.fingerprint_of(data) is None


def test_json_is_not_a_record(codec: Codec) -> None:
    with pytest.raises(DecodeError):
        codec.decode(b'{"id": "evt_1", "customer": "c"}')


def test_an_unknown_fingerprint_is_refused(codec: Codec) -> None:
    data = codec.encode(SAMPLES["tenant"])
    forged = MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08" + data[HEADER_LEN:]
    with pytest.raises(DecodeError, match="unknown schema fingerprint 0102030405060708"):
        codec.decode(forged)
    assert codec.fingerprint_of(forged) == "0102030405060708"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_truncated_payload_is_refused_with_the_library_error_as_cause(codec: Codec, name: str) -> None:
    data = codec.encode(SAMPLES[name])
    with pytest.raises(DecodeError, match="corrupt") as info:
        codec.decode(data[:-1])
    assert info.value.__cause__ is not None
    assert isinstance(info.value, RevosError)


def test_a_garbage_payload_is_refused(codec: Codec) -> None:
    data = codec.encode(SAMPLES["usage"])
    # A huge negative length where the first string's length should be.
    garbage = data[:HEADER_LEN] + b"\x01" + b"\xff" * 9 + b"\x01"
    with pytest.raises(DecodeError):
        codec.decode(garbage)


def test_payload_bytes_of_another_schema_are_refused(codec: Codec) -> None:
    # A TenantCreated payload behind the DeadLetter fingerprint: too few fields for the schema.
    tenant = codec.encode(SAMPLES["tenant"])
    dead = codec.encode(SAMPLES["dead_letter"])
    with pytest.raises(DecodeError):
        codec.decode(dead[:HEADER_LEN] + tenant[HEADER_LEN:])


@pytest.mark.parametrize("data", ["\xc3\x01 text", None, 12345])
def test_non_bytes_are_refused(codec: Codec, data: Any) -> None:
    with pytest.raises(DecodeError):
        codec.decode(data)


def test_bytearray_and_memoryview_decode_like_bytes(codec: Codec) -> None:
    data = codec.encode(SAMPLES["key"])
    assert codec.decode(bytearray(data)) == SAMPLES["key"]
    assert codec.decode(memoryview(data)) == SAMPLES["key"]


# rejects on encode


@pytest.mark.parametrize(
    "bad",
    [
        replace(SAMPLES["usage"], quantity=Decimal("1.0000000001")),  # type: ignore[type-var]
        replace(SAMPLES["usage"], quantity="12"),  # type: ignore[type-var]
        replace(SAMPLES["usage"], quantity=1.5),  # type: ignore[type-var]
        replace(SAMPLES["usage"], event_id=5),  # type: ignore[type-var]
        replace(SAMPLES["usage"], timestamp="2026-03-01T00:00:00Z"),  # type: ignore[type-var]
        replace(SAMPLES["usage"], properties={"nested": {"a": 1}}),  # type: ignore[type-var]
        replace(SAMPLES["usage"], properties={"null": None}),  # type: ignore[type-var]
        replace(SAMPLES["grant"], priority="high"),  # type: ignore[type-var]
        replace(SAMPLES["grant"], amount=None),  # type: ignore[type-var]
        replace(SAMPLES["dead_letter"], value="not bytes"),  # type: ignore[type-var]
        replace(SAMPLES["table"], rules=(BurnRule("t", Decimal("0.0000000001")),)),  # type: ignore[type-var]
    ],
)
def test_invalid_records_are_refused_with_encode_error(codec: Codec, bad: Record) -> None:
    with pytest.raises(EncodeError, match=f"cannot encode {type(bad).__name__}") as info:
        codec.encode(bad)
    assert info.value.code == "unencodable"
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("quantity", ["1" * 30 + ".5", "1" * 30 + ".000000001", "1" * 35, "1E+30"])
def test_decimals_beyond_decimal_38_9_are_refused_with_encode_error(codec: Codec, quantity: str) -> None:
    with pytest.raises(EncodeError):
        codec.encode(replace(SAMPLES["usage"], quantity=Decimal(quantity)))  # type: ignore[type-var]


# schema evolution


def test_a_usage_record_written_with_v1_decodes_with_received_at_none(codec: Codec) -> None:
    v1 = load_schema(schema_dir() / "usage_recorded.v1.avsc")
    assert v1.version == 1 and v1.name == UsageRecorded.SCHEMA
    old_writer = Codec([v1])
    record = replace(SAMPLES["usage"], received_at=None)  # type: ignore[type-var]
    data = old_writer.encode(record)
    assert data[2:HEADER_LEN] == v1.fingerprint
    assert v1.fingerprint != codec.latest(UsageRecorded.SCHEMA).fingerprint
    decoded = codec.decode(data)
    assert isinstance(decoded, UsageRecorded)
    assert decoded.received_at is None
    assert decoded == record


def test_the_default_codec_writes_the_newest_version(codec: Codec) -> None:
    latest = codec.latest(UsageRecorded.SCHEMA)
    assert latest.version == 2
    assert codec.encode(SAMPLES["usage"])[2:HEADER_LEN] == latest.fingerprint


def test_schema_file_names_must_carry_a_version(tmp_path: Any) -> None:
    path = tmp_path / "usage_recorded.avsc"
    path.write_text((schema_dir() / "usage_recorded.v1.avsc").read_text())
    with pytest.raises(ValueError, match="not named"):
        load_schema(path)


def test_a_customer_update_written_with_v1_decodes_without_alert_thresholds(codec: Codec) -> None:
    v1 = load_schema(schema_dir() / "customer_updated.v1.avsc")
    record = CustomerUpdated("evt_c", "ten_1", "cus_1", "premium", Decimal("5"), {}, "cli", T0)
    decoded = codec.decode(Codec([v1]).encode(record))
    assert decoded == record and decoded.alert_thresholds == []


def test_a_key_issued_with_v1_decodes_as_an_admin_key(codec: Codec) -> None:
    v1 = load_schema(schema_dir() / "api_key_issued.v1.avsc")
    record = ApiKeyIssued("evt_k", "ten_1", "key_1", "rk_abcdefg", "0" * 64, "cli", T0)
    decoded = codec.decode(Codec([v1]).encode(record))
    assert decoded == record and decoded.scope == "admin"
    ingest = ApiKeyIssued("evt_k2", "ten_1", "key_2", "rk_abcdefg", "1" * 64, "cli", T0, scope="ingest")
    assert codec.decode(codec.encode(ingest)).scope == "ingest"
