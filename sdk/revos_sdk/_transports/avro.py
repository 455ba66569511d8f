"""`UsageRecorded` and `UsageBatch` in Avro single-object encoding, byte for byte what the platform reads.

The schemas are copies of the platform's `schemas/usage_recorded.v2.avsc` and `schemas/usage_batch.v1.avsc`
shipped inside this package (the SDK cannot read the platform's files); a contract test checks that each
has the same fingerprint as its original.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

# Single-object encoding: marker, 8-byte little-endian CRC-64-AVRO fingerprint, schemaless payload.
MAGIC = b"\xc3\x01"
USAGE_RECORDED_SCHEMA = "usage_recorded.v2.avsc"
USAGE_BATCH_SCHEMA = "usage_batch.v1.avsc"
# The fields of a UsageRecorded that a UsageBatch holds once for all its events.
BATCH_SHARED = ("tenant_id", "received_at")


class AvroWriter:
    """Encodes field dicts of one record type with one parsed schema."""

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


def batch_fields(
    batch_id: str, tenant_id: str, received_at: datetime, events: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The `UsageBatch` fields for `UsageRecorded` field dicts of one tenant received at one time."""
    return {
        "batch_id": batch_id,
        "tenant_id": tenant_id,
        "received_at": received_at,
        "events": [{k: v for k, v in event.items() if k not in BATCH_SHARED} for event in events],
    }


def schema_text(name: str = USAGE_RECORDED_SCHEMA) -> str:
    """A packaged schema, as JSON text."""
    return resources.files("revos_sdk").joinpath("schemas", name).read_text(encoding="utf-8")


@cache
def usage_recorded_writer() -> AvroWriter:
    """The `UsageRecorded` writer over the packaged schema (parsed once per process)."""
    return AvroWriter(json.loads(schema_text(USAGE_RECORDED_SCHEMA)))


@cache
def usage_batch_writer() -> AvroWriter:
    """The `UsageBatch` writer over the packaged schema (parsed once per process)."""
    return AvroWriter(json.loads(schema_text(USAGE_BATCH_SCHEMA)))
