"""Where audit records go: the audit topic, keyed by tenant so each tenant's chain has one writer."""

from __future__ import annotations

from pipeline.codec import Codec
from pipeline.kafka import Outgoing
from pipeline.records import AuditRecorded
from pipeline.topics import AUDIT, tenant_key


def audit_outgoing(codec: Codec, r: AuditRecorded) -> Outgoing:
    return Outgoing(AUDIT, codec.encode(r), key=tenant_key(r.tenant_id))
