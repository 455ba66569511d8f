"""The field rules an assistant's API input is checked with: each failure is a `ValidationError` coded
`invalid_<field>` (or `unknown_field`), pointing at the offending path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import ValidationError

MAX_URL = 2_000


def fail(field: str, message: str, *, at: str | None = None) -> ValidationError:
    return ValidationError(message, code="invalid_" + field, field=at or field)


def no_unknown(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(
            f"{where} has unknown field(s): {', '.join(unknown)}",
            code="unknown_field",
            field=unknown[0] if where == "agent" else f"{where}.{unknown[0]}",
        )


def text(raw: object, field: str, *, most: int, empty: bool = False, at: str | None = None) -> str:
    """A string without NUL (PostgreSQL text cannot hold it) of at most `most` characters."""
    if not isinstance(raw, str) or (not empty and not raw.strip()):
        kind = "a string" if empty else "a non-empty string"
        raise fail(field, f"{at or field} must be {kind}", at=at)
    if len(raw) > most:
        raise fail(field, f"{at or field} is longer than {most} characters", at=at)
    if "\x00" in raw:
        raise fail(field, f"{at or field} must not contain NUL characters", at=at)
    return raw


def array(raw: object, field: str, *, most: int) -> list[Any]:
    if not isinstance(raw, list):
        raise fail(field, f"{field} must be an array")
    if len(raw) > most:
        raise fail(field, f"{field} has more than {most} entries")
    return raw


def number(raw: object, field: str, low: float, high: float, *, at: str | None = None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        raise fail(field, f"{at or field} must be a number from {low:g} to {high:g}", at=at)
    return float(raw)


def http_url(raw: object, field: str, *, at: str) -> str:
    url = text(raw, field, most=MAX_URL, at=at)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise fail(field, f"{at} is not a valid URL", at=at) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(field, f"{at} must be an http or https URL", at=at)
    return url
