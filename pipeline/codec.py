"""The one codec: records <-> Avro single-object encoding (0xC3 0x01, CRC-64-AVRO fingerprint, payload)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from pipeline.errors import DecodeError, EncodeError
from pipeline.records import (
    RECORD_TYPES,
    AssistantBranding,
    AssistantChanged,
    AssistantTool,
    AssistantVoice,
    BurnRule,
    BurnTablePublished,
    DeadLetter,
    Header,
    Record,
    UsageBatch,
    UsageRecorded,
)

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
_FILE_NAME = re.compile(r"^(?P<stem>[a-z_]+)\.v(?P<version>\d+)\.avsc$")

# Nested record fields, decoded into their own dataclasses.
_NESTED: dict[type[Any], dict[str, type[Any]]] = {
    BurnTablePublished: {"rules": BurnRule},
    DeadLetter: {"headers": Header},
    AssistantChanged: {"tools": AssistantTool},
}
# Nested single records (a field may be null where its schema allows it).
_EMBEDDED: dict[type[Any], dict[str, type[Any]]] = {
    AssistantChanged: {"branding": AssistantBranding, "voice": AssistantVoice},
}

# Batches: an array of records that leave out the fields the batch shares, decoded into whole records.
_BATCHED: dict[type[Any], tuple[str, type[Any], tuple[str, ...]]] = {
    UsageBatch: ("events", UsageRecorded, ("tenant_id", "received_at")),
}


def schema_dir() -> Path:
    """Where the .avsc files live: inside the installed wheel, or the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_schemas", here.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no schemas directory found next to the pipeline package")


def _decimal_bound(field_type: Any) -> Decimal | None:
    """The exclusive magnitude limit of a decimal(p, s) field (or a union holding one), else None."""
    for t in field_type if isinstance(field_type, list) else [field_type]:
        if isinstance(t, dict) and t.get("logicalType") == "decimal":
            digits: int = t["precision"] - t.get("scale", 0)
            return Decimal(10) ** digits
    return None


def _decimal_fields(schema: Any) -> dict[str, Decimal]:
    return {
        f["name"]: bound for f in schema.get("fields", []) if (bound := _decimal_bound(f["type"])) is not None
    }


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    name: str
    version: int
    parsed: Any
    fingerprint: bytes

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


class Codec:
    """Encodes records with the newest schema of their type; decodes any known version into the newest."""

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        self._latest: dict[str, SchemaVersion] = {}
        for v in versions:
            self._by_fingerprint[v.fingerprint] = v
            current = self._latest.get(v.name)
            if current is None or v.version > current.version:
                self._latest[v.name] = v
        self._classes = {cls.SCHEMA: cls for cls in RECORD_TYPES}
        self._field_names = {cls: tuple(f.name for f in fields(cls)) for cls in RECORD_TYPES}
        # fastavro checks a decimal's digits before scaling, so values too large for decimal(p, s)
        # would be written; the codec checks the magnitude itself.
        self._decimals = {name: _decimal_fields(v.parsed) for name, v in self._latest.items()}

    @classmethod
    def from_directory(cls, directory: Path) -> Codec:
        return cls(load_schema(path) for path in sorted(directory.glob("*.avsc")))

    def latest(self, schema_name: str) -> SchemaVersion:
        return self._latest[schema_name]

    def encode(self, record: Record) -> bytes:
        schema = self._latest[record.SCHEMA]
        for name, bound in self._decimals[record.SCHEMA].items():
            value = getattr(record, name)
            if isinstance(value, Decimal) and not value.copy_abs() < bound:  # copy_abs: no rounding
                raise EncodeError(
                    f"cannot encode {type(record).__name__}: {name} is out of range for decimal"
                )
        batched = _BATCHED.get(type(record))
        if batched is not None:
            self._check_batch(record, *batched)
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(schema.fingerprint)
        try:
            fastavro.schemaless_writer(buf, schema.parsed, self._to_avro(record))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EncodeError(f"cannot encode {type(record).__name__}: {exc}") from exc
        return buf.getvalue()

    def _check_batch(self, batch: Any, name: str, item_cls: type[Any], shared: tuple[str, ...]) -> None:
        bounds = self._decimals[item_cls.SCHEMA]
        for item in getattr(batch, name):
            for field_name in shared:
                if getattr(item, field_name) != getattr(batch, field_name):
                    raise EncodeError(f"cannot encode {type(batch).__name__}: an item's {field_name} differs")
            for field_name, bound in bounds.items():
                value = getattr(item, field_name)
                if isinstance(value, Decimal) and not value.copy_abs() < bound:
                    raise EncodeError(
                        f"cannot encode {type(batch).__name__}: {field_name} is out of range for decimal"
                    )

    def fingerprint_of(self, data: bytes) -> str | None:
        """The hex fingerprint named by an encoded record, or None if it has no single-object header."""
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            return None
        return data[2:HEADER_LEN].hex()

    def decode(self, data: bytes) -> Record:
        if not isinstance(data, bytes | bytearray | memoryview) or len(data) < HEADER_LEN:
            raise DecodeError("record too short for Avro single-object encoding")
        if data[:2] != MAGIC:
            raise DecodeError("record lacks the Avro single-object marker 0xC3 0x01")
        writer = self._by_fingerprint.get(bytes(data[2:HEADER_LEN]))
        if writer is None:
            raise DecodeError(f"unknown schema fingerprint {bytes(data[2:HEADER_LEN]).hex()}")
        reader = self._latest[writer.name]
        try:
            # Schema resolution costs time; only records written with an older version need it.
            resolve = None if reader is writer else reader.parsed
            payload = fastavro.schemaless_reader(io.BytesIO(data[HEADER_LEN:]), writer.parsed, resolve)
        except Exception as exc:  # fastavro raises many types for corrupt payloads
            raise DecodeError(f"corrupt {writer.name} v{writer.version} payload: {exc}") from exc
        return self._from_avro(self._classes[writer.name], payload)

    def _to_avro(self, record: Any) -> dict[str, Any]:
        out = {name: getattr(record, name) for name in self._field_names[type(record)]}
        for name in _NESTED.get(type(record), {}):
            out[name] = [{f.name: getattr(item, f.name) for f in fields(item)} for item in out[name]]
        for name in _EMBEDDED.get(type(record), {}):
            if out[name] is not None:
                out[name] = {f.name: getattr(out[name], f.name) for f in fields(out[name])}
        batched = _BATCHED.get(type(record))
        if batched is not None:
            name, item_cls, shared = batched
            own = [n for n in self._field_names[item_cls] if n not in shared]
            out[name] = [{n: getattr(item, n) for n in own} for item in out[name]]
        return out

    def _from_avro(self, cls: type[Any], payload: Any) -> Record:
        if not isinstance(payload, dict):
            raise DecodeError(f"{cls.__name__} payload is not a record")
        for name, item_cls in _NESTED.get(cls, {}).items():
            payload[name] = tuple(item_cls(**item) for item in payload[name])
        for name, item_cls in _EMBEDDED.get(cls, {}).items():
            if payload.get(name) is not None:
                payload[name] = item_cls(**payload[name])
        batched = _BATCHED.get(cls)
        if batched is not None:
            name, item_cls, shared = batched
            common = {n: payload[n] for n in shared}
            try:
                payload[name] = tuple(item_cls(**item, **common) for item in payload[name])
            except TypeError as exc:
                raise DecodeError(f"{cls.__name__} items do not match the schema: {exc}") from exc
        try:
            record: Record = cls(**payload)
        except TypeError as exc:
            raise DecodeError(f"{cls.__name__} fields do not match the schema: {exc}") from exc
        return record


def load_schema(path: Path) -> SchemaVersion:
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise ValueError(f"schema file {path.name} is not named <record>.v<N>.avsc")
    raw = json.loads(path.read_text())
    parsed = fastavro.parse_schema(raw, named_schemas={})
    name = f"{raw.get('namespace', '')}.{raw['name']}".lstrip(".")
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    return SchemaVersion(name=name, version=int(match["version"]), parsed=parsed, fingerprint=fp)


@cache
def default_codec() -> Codec:
    """The codec over the schemas shipped with Revos (loaded once, on first use)."""
    return Codec.from_directory(schema_dir())
