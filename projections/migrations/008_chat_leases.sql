-- Which gateway process holds each conversation, and the newest seq it handed out. Written by gateways,
-- not by a projection: a lease lets one process number a conversation's messages at a time, and
-- `last_seq` lets the next holder go on after messages the chat projection has not stored yet.
CREATE TABLE chat_leases (
    tenant_id        text        NOT NULL,
    conversation_id  text        NOT NULL,
    holder           text        NOT NULL,
    last_seq         bigint      NOT NULL DEFAULT 0,
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
);
