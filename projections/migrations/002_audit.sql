-- The audit log: append-only and hash-chained per tenant. Only the audit projection writer inserts;
-- nothing may update or delete (a trigger refuses), so tampering needs the owner to disable it, and
-- `revos audit verify` then finds the first entry whose hash no longer checks out.

CREATE TABLE audit_log (
    tenant_id   text        NOT NULL,
    seq         bigint      NOT NULL,
    audit_id    text        NOT NULL UNIQUE,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    before      jsonb,
    after       jsonb,
    request_id  text,
    occurred_at timestamptz NOT NULL,
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_by_target ON audit_log (tenant_id, target, seq);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
