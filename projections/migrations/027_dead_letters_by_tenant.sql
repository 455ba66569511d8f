-- A tenant reads its own dead letters newest first (GET /v1/dead-letters); those without a tenant are
-- the operator's and never listed there.
CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant_id, first_failed_at DESC, dead_letter_id DESC)
    WHERE tenant_id IS NOT NULL;
