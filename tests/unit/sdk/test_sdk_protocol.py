"""Reading the gateway's answers and classifying failures (no I/O)."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest
from revos_sdk import DeliveryError, is_retryable
from revos_sdk._delivery.batch import Batch, Pending
from revos_sdk._transports.http import encode_body, error_from_response, results_from_response

BATCH = Batch(tuple(Pending(f"e{n}", orjson.dumps({"id": f"e{n}"})) for n in range(3)))


def answer(payload: object) -> bytes:
    return json.dumps(payload).encode()


def test_results_are_read_per_event() -> None:
    results = results_from_response(
        BATCH,
        answer(
            {
                "accepted": 2,
                "rejected": 1,
                "results": [
                    {"id": "e0", "status": "accepted"},
                    {
                        "id": "e1",
                        "status": "rejected",
                        "code": "unknown_customer",
                        "message": "no such customer",
                    },
                    {"id": "e2", "status": "accepted"},
                ],
            }
        ),
    )
    assert [(r.id, r.accepted, r.code) for r in results] == [
        ("e0", True, None),
        ("e1", False, "unknown_customer"),
        ("e2", True, None),
    ]


def test_a_duplicate_rejection_means_already_delivered() -> None:
    [result] = results_from_response(
        BATCH, answer({"results": [{"id": "e0", "status": "rejected", "code": "duplicate"}]})
    )
    assert result.accepted


def test_a_count_without_results_is_trusted_only_when_everything_was_accepted() -> None:
    assert all(r.accepted for r in results_from_response(BATCH, answer({"accepted": 3, "rejected": 0})))
    with pytest.raises(DeliveryError) as failure:
        results_from_response(BATCH, answer({"accepted": 2, "rejected": 1}))
    assert is_retryable(failure.value)


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b"[]", b""])
def test_a_garbled_200_is_retryable(body: bytes) -> None:
    with pytest.raises(DeliveryError) as failure:
        results_from_response(BATCH, body)
    assert is_retryable(failure.value)


def test_error_answers_carry_code_message_and_retry_after() -> None:
    error = error_from_response(
        503, {"retry-after": "7"}, answer({"error": {"code": "broker_unavailable", "message": "down"}})
    )
    assert (error.status, error.code, error.message, error.retry_after) == (
        503,
        "broker_unavailable",
        "down",
        7.0,
    )
    plain = error_from_response(502, {}, b"Bad Gateway")
    assert plain.code is None and plain.message == "Bad Gateway"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (None, True),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
        (599, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (413, False),
        (422, False),
    ],
)
def test_retryable_classification(status: int | None, retryable: bool) -> None:
    assert is_retryable(DeliveryError("x", status=status)) is retryable


def test_only_sdk_errors_are_retryable() -> None:
    assert not is_retryable(RuntimeError("boom"))


def test_bodies_are_gzipped_only_above_the_threshold() -> None:
    body, headers = encode_body(BATCH, gzip_threshold=10_000)
    assert "Content-Encoding" not in headers and json.loads(body)["events"][0] == {"id": "e0"}
    zipped, headers = encode_body(BATCH, gzip_threshold=10)
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped) == body
    assert "Content-Encoding" not in encode_body(BATCH, gzip_threshold=None)[1]
