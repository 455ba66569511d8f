"""Topic names, record keys and the headers Revos sets."""

from __future__ import annotations

BILLING = "revos.billing"
ADMIN = "revos.admin"
AUDIT = "revos.audit"  # keyed by tenant: one partition, one writer, one hash chain per tenant
CHAT = "revos.chat"  # keyed tenant:conversation: every message of a conversation, in order
VOICE = "revos.voice"  # keyed tenant:call: every state change and event of a call, in order
# balance.threshold_crossed records, keyed like billing, for notification delivery to consume.
ALERTS = "revos.alerts"
DLQ_SUFFIX = ".dlq"
BILLING_DLQ = BILLING + DLQ_SUFFIX
ADMIN_DLQ = ADMIN + DLQ_SUFFIX
AUDIT_DLQ = AUDIT + DLQ_SUFFIX
CHAT_DLQ = CHAT + DLQ_SUFFIX
VOICE_DLQ = VOICE + DLQ_SUFFIX

# Never produced to, so never created by a broker that creates topics on first use: a log where it is
# missing is a new log (the broker lost what it held), whatever other topics it has.
LOG_MARK = "revos.log"

SOURCE_TOPICS = (BILLING, ADMIN, AUDIT, CHAT, VOICE)
DEAD_LETTER_TOPICS = (BILLING_DLQ, ADMIN_DLQ, AUDIT_DLQ, CHAT_DLQ, VOICE_DLQ)
# The dead letters' own processor dead-letters what it cannot apply too: `<topic>.dlq.dlq`.
DEAD_LETTER_DLQ_TOPICS = tuple(t + DLQ_SUFFIX for t in DEAD_LETTER_TOPICS)
ALL_TOPICS = (*SOURCE_TOPICS, *DEAD_LETTER_TOPICS, *DEAD_LETTER_DLQ_TOPICS, ALERTS, LOG_MARK)

# Headers: a replayed record says which dead letter it came from and how often it has been replayed.
REPLAY_OF = "revos-replay-of"
REPLAY_COUNT = "revos-replay-count"


def dead_letter_topic(source: str) -> str:
    return source + DLQ_SUFFIX


def customer_key(tenant_id: str, customer: str) -> bytes:
    """Everything about one balance shares a key, so it is processed in order."""
    return f"{tenant_id}:{customer}".encode()


def tenant_key(tenant_id: str) -> bytes:
    return tenant_id.encode()


def conversation_key(tenant_id: str, conversation_id: str) -> bytes:
    """Every message of a conversation shares a key, so it is projected in order."""
    return f"{tenant_id}:{conversation_id}".encode()


def call_key(tenant_id: str, call_sid: str) -> bytes:
    """Every event of a call shares a key, so it is projected in order."""
    return f"{tenant_id}:{call_sid}".encode()


# Set by the outbox relay: the id of the outbox row a record was published from, so the transaction that
# applies the record deletes that row (and a record whose row is gone was applied before).
OUTBOX_ID = "revos-outbox"
