"""No secret in a log line: one test per kind of secret, through the filter every handler carries."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from infra.logs.config import handler
from infra.logs.redaction import REDACTED, redact

API_KEY = "rk_" + "A1b2C3d4" * 5
WIDGET_TOKEN = "eyJ0IjoidGVuXzEiLCJhIjoiYWdfMSJ9.c2lnbmF0dXJlX29mX3RoZV90b2tlbl9pc19sb25n"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0IGtleSBieXRlcw==" * 2
TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"
PASSWORD = "correct horse"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"request with key {API_KEY} refused", API_KEY),
        (f"Authorization: Bearer {API_KEY}", API_KEY),
        (f"socket /v1/chat?token={WIDGET_TOKEN}", WIDGET_TOKEN),
        (f"session {WIDGET_TOKEN} expired", WIDGET_TOKEN),
        (f"endpoint made with secret {WEBHOOK_SECRET}", WEBHOOK_SECRET),
        (f"tool call signed, tool_secret={WEBHOOK_SECRET}", WEBHOOK_SECRET),
        (f"twilio account {{'account_sid': 'AC1', 'auth_token': '{TWILIO_TOKEN}'}}", TWILIO_TOKEN),
        (f"posting AuthToken={TWILIO_TOKEN}", TWILIO_TOKEN),
        ('{"email": "a@b.c", "password": "hunter2hunter2"}', "hunter2hunter2"),
        ("connecting to postgresql://revos:s3cretpw@127.0.0.1:55432/revos", "s3cretpw"),
        ("cookie revos_session=abcdefghijklmnop", "abcdefghijklmnop"),
        ("provider said sk-or-v1-0123456789abcdef0123", "sk-or-v1-0123456789abcdef0123"),
    ],
)
def test_each_kind_of_secret_is_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert REDACTED in out


def test_what_is_not_a_secret_is_kept() -> None:
    text = "applied 3 records of revos.billing[2] key=b'ten_1:cust' request_id=req_0123456789abcdef0123"
    assert redact(text) == text
    assert redact("/v1/chat?tokens=1&mytoken=2") == "/v1/chat?tokens=1&mytoken=2"


def _line(record: logging.LogRecord) -> dict[str, object]:
    stream = io.StringIO()
    handler(stream, "json", "gateway").handle(record)
    parsed: dict[str, object] = orjson.loads(stream.getvalue())
    return parsed


def test_arguments_structured_fields_and_tracebacks_are_redacted_in_the_written_line() -> None:
    try:
        raise ValueError(f"bad key {API_KEY}")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "key %s, %r", (API_KEY, [WIDGET_TOKEN]), exc_info
    )
    record.client_error = {"message": f"failed with {API_KEY}", "token": "plain-token-value", "url": "/p"}
    line = _line(record)
    written = orjson.dumps(line).decode()
    for secret in (API_KEY, WIDGET_TOKEN, "plain-token-value"):
        assert secret not in written
    assert line["client_error"] == {"message": f"failed with {REDACTED}", "token": REDACTED, "url": "/p"}
    assert "ValueError" in str(line["exc"])


def test_a_text_handler_redacts_too() -> None:
    stream = io.StringIO()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "issued %s", (API_KEY,), None)
    handler(stream, "text", "cli").handle(record)
    assert API_KEY not in stream.getvalue()
    assert "issued [redacted]" in stream.getvalue()
