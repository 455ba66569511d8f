"""The audit chains' heads, published outside the database so a cut or rewritten tail is found.

One small JSON file per tenant in `Settings.audit_heads` (REVOS_HOME/audit-heads unless
REVOS_AUDIT_HEADS_DIR names a durable place shared by every worker), replaced atomically after each
commit of new entries, and only ever by a later head.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import orjson

from pipeline.admin.audit import Head


def _path(folder: Path, tenant_id: str) -> Path:
    return folder / (hashlib.sha256(tenant_id.encode()).hexdigest()[:32] + ".json")


def _read(path: Path) -> tuple[str, Head] | None:
    try:
        data = orjson.loads(path.read_bytes())
        return data["tenant_id"], Head(int(data["seq"]), str(data["hash"]))
    except FileNotFoundError:
        return None


def publish(folder: Path, tenant_id: str, head: Head) -> None:
    """Write `head` as the tenant's published head unless a later one is there already."""
    path = _path(folder, tenant_id)
    known = _read(path)
    if known is not None and known[1].seq >= head.seq:
        return
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    body = orjson.dumps({"tenant_id": tenant_id, "seq": head.seq, "hash": head.hash})
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def published(folder: Path) -> dict[str, Head]:
    """Every tenant's published head."""
    if not folder.is_dir():
        return {}
    found = (_read(p) for p in sorted(folder.glob("*.json")))
    return dict(f for f in found if f is not None)
