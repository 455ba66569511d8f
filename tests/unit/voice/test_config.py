"""An agent's phone line from API input: every field checked, the status webhook's secret kept or made."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from pipeline.errors import ValidationError
from pipeline.records import AssistantVoice
from pipeline.voice import config

NUMBER = "+14155550100"


def test_defaults_and_every_field() -> None:
    assert config.voice({"phone_number": NUMBER}, None) == AssistantVoice(NUMBER)
    line = config.voice(
        {"phone_number": NUMBER, "language": "en-GB", "tts_provider": "google", "voice": "en-GB-Neural2-A",
         "transcription_provider": "DEEPGRAM", "welcome_greeting": "Hi!", "interruptible": False,
         "max_call_seconds": 120},
        None,
    )  # fmt: skip
    assert line is not None
    assert (line.tts_provider, line.transcription_provider) == ("Google", "Deepgram")  # Twilio's spelling
    assert (line.language, line.voice, line.welcome_greeting, line.interruptible, line.max_call_seconds) == (
        "en-GB", "en-GB-Neural2-A", "Hi!", False, 120,
    )  # fmt: skip
    assert config.voice(None, line) is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"phone_number": "4155550100"}, "voice.phone_number"),
        ({"phone_number": "+0155550100"}, "voice.phone_number"),
        ({}, "voice.phone_number"),
        ({"phone_number": NUMBER, "language": "english please"}, "voice.language"),
        ({"phone_number": NUMBER, "tts_provider": "Acme"}, "voice.tts_provider"),
        ({"phone_number": NUMBER, "transcription_provider": 3}, "voice.transcription_provider"),
        ({"phone_number": NUMBER, "interruptible": "yes"}, "voice.interruptible"),
        ({"phone_number": NUMBER, "max_call_seconds": 4}, "voice.max_call_seconds"),
        ({"phone_number": NUMBER, "max_call_seconds": True}, "voice.max_call_seconds"),
        ({"phone_number": NUMBER, "max_call_seconds": 99999}, "voice.max_call_seconds"),
        ({"phone_number": NUMBER, "welcome_greeting": "x" * 1001}, "voice.welcome_greeting"),
        ({"phone_number": NUMBER, "status_webhook_url": "ftp://example.com"}, "voice.status_webhook_url"),
        ({"phone_number": NUMBER, "secret": "x"}, "voice.secret"),
        ("+14155550100", "voice"),
    ],
)
def test_bad_input_names_its_field(raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        config.voice(raw, None)
    assert caught.value.field == field
    assert caught.value.code in ("invalid_voice", "unknown_field")


def test_a_status_webhook_gets_a_secret_once_and_keeps_it() -> None:
    first = config.voice({"phone_number": NUMBER, "status_webhook_url": "https://example.com/h"}, None)
    assert first is not None and first.status_webhook_secret is not None
    assert first.status_webhook_secret.startswith("whsec_")
    again = config.voice({"phone_number": NUMBER, "status_webhook_url": "https://example.com/other"}, first)
    assert again is not None and again.status_webhook_secret == first.status_webhook_secret
    without = config.voice({"phone_number": NUMBER}, first)
    assert without is not None and without.status_webhook_secret is None
    shown = config.public(first)
    assert shown is not None and shown["status_webhook_secret_set"] is True
    assert first.status_webhook_secret not in str(shown)


def test_a_status_webhook_secret_is_a_standard_webhooks_key() -> None:
    """A strict decoder and the reference library read the same key: URL-safe base64 (`-`, `_`) would be
    dropped by one and refused by others."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(200):
        secret = config.new_secret()
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        assert len(key) == config.SECRET_BYTES
        mac = hmac.new(key, f"msg_1.{int(at.timestamp())}.{{}}".encode(), hashlib.sha256).digest()
        assert Webhook(secret).sign("msg_1", at, "{}") == "v1," + base64.b64encode(mac).decode()
