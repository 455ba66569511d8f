"""Secrets in query strings never reach the gateway's log."""

from __future__ import annotations

import logging

from gateway.http.log_redaction import RedactSecrets, redact


def test_secret_query_parameters_are_redacted_and_the_rest_kept() -> None:
    assert redact("/v1/chat?token=abc.def") == "/v1/chat?token=[redacted]"
    assert redact('"GET /x?a=1&API_KEY=k&b=2 HTTP/1.1"') == '"GET /x?a=1&API_KEY=[redacted]&b=2 HTTP/1.1"'
    assert redact("/v1/chat?tokens=1&mytoken=2") == "/v1/chat?tokens=1&mytoken=2"


def test_a_record_is_redacted_before_it_is_formatted() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s"',
        ("1.2.3.4", "/v1/chat?token=t.s"),
        None,
    )
    assert RedactSecrets().filter(record)
    assert record.getMessage() == '1.2.3.4 - "WebSocket /v1/chat?token=[redacted]"'
