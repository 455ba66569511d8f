"""Text as PostgreSQL can store it: no NUL (neither text nor jsonb holds one), no lone surrogate.

Models and tools write whatever they like; what they write is cleaned once, where it enters a record,
so the record, the stored row, the history and the bill all see the same text.
"""

from __future__ import annotations

from typing import Any


def storable(text: str) -> str:
    """`text` without NUL characters, each lone surrogate replaced by U+FFFD."""
    cleaned = text.replace("\x00", "")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in cleaned)
    return cleaned


def storable_json(value: Any) -> Any:
    """Decoded JSON with every string in it, object keys included, made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_json(v) for v in value]
    if isinstance(value, dict):
        return {storable(str(k)): storable_json(v) for k, v in value.items()}
    return value
