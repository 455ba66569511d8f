"""`UsageRecorded` in Avro single-object encoding, byte for byte what the platform's codec reads.

The schema is a copy of the platform's `schemas/usage_recorded.v2.avsc` shipped inside this package (the
SDK cannot read the platform's files); a contract test checks the two have the same fingerprint.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

# Single-object encoding: marker, 8-byte little-endian CRC-64-AVRO fingerprint, schemaless payload.
MAGIC = b"\xc3\x01"
SCHEMA_FILE = "usage_recorded.v2.avsc"


class UsageRecordedWriter:
    """Encodes `UsageRecorded` field dicts with one parsed schema."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.parsed = fastavro.parse_schema(dict(schema), named_schemas={})
        self.fingerprint = bytes.fromhex(fingerprint(to_parsing_canonical_form(self.parsed), "CRC-64-AVRO"))
        self._header = MAGIC + self.fingerprint

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The record's bytes; raises ValueError (or TypeError) for fields the schema cannot hold."""
        buffer = io.BytesIO()
        buffer.write(self._header)
        fastavro.schemaless_writer(buffer, self.parsed, dict(record))
        return buffer.getvalue()


def schema_text() -> str:
    """The packaged schema, as JSON text."""
    return resources.files("revos_sdk").joinpath("schemas", SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def usage_recorded_writer() -> UsageRecordedWriter:
    """The writer over the packaged schema (parsed once per process)."""
    return UsageRecordedWriter(json.loads(schema_text()))
