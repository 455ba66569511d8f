-- Analytics: usage rollups kept by the billing writer, and the `analytics` schema of views that is the
-- stable interface for analysts (docs/analytics.md). A per-tenant analyst login sees only its tenant's
-- rows: the views belong to the role revos_analytics, which row-level security on the tables below them
-- limits to the tenants of the connected login (revos_visible_tenants()). The application owns the
-- tables and is not subject to it.

-- Usage per tenant × customer × type × UTC hour and day. A row holds the charges whose event_time falls in
-- its bucket and that are not voided; amended charges count with their current values. The billing
-- writer adds each charge and each correction's difference in the transaction that writes it.
CREATE TABLE usage_hourly (
    tenant_id text        NOT NULL,
    customer  text        NOT NULL,
    type      text        NOT NULL,
    hour      timestamptz NOT NULL,
    events    bigint      NOT NULL,
    quantity  numeric     NOT NULL,
    credits   numeric     NOT NULL,
    cost      numeric     NOT NULL,
    PRIMARY KEY (tenant_id, customer, type, hour)
) WITH (fillfactor = 75);  -- room on each page, so adding to a row rewrites it without touching the indexes
CREATE INDEX usage_hourly_by_tenant ON usage_hourly (tenant_id, hour);

CREATE TABLE usage_daily (
    tenant_id text    NOT NULL,
    customer  text    NOT NULL,
    type      text    NOT NULL,
    day       date    NOT NULL,
    events    bigint  NOT NULL,
    quantity  numeric NOT NULL,
    credits   numeric NOT NULL,
    cost      numeric NOT NULL,
    PRIMARY KEY (tenant_id, customer, type, day)
) WITH (fillfactor = 75);
CREATE INDEX usage_daily_by_tenant ON usage_daily (tenant_id, day);

-- Rollups of charges already applied before this migration.
INSERT INTO usage_hourly
SELECT tenant_id, customer, type, date_trunc('hour', event_time, 'UTC'), count(*), sum(quantity), sum(credits),
       COALESCE(sum(cost), 0)
FROM charges WHERE status <> 'voided' GROUP BY 1, 2, 3, 4;
INSERT INTO usage_daily
SELECT tenant_id, customer, type, (event_time AT TIME ZONE 'UTC')::date, count(*), sum(quantity), sum(credits),
       COALESCE(sum(cost), 0)
FROM charges WHERE status <> 'voided' GROUP BY 1, 2, 3, 4;

-- Roles are the cluster's, shared by its databases: made once, by whichever migration gets there first.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['revos_analytics', 'revos_analyst'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration made it meanwhile
            END;
        END IF;
    END LOOP;
    -- Giving the views to revos_analytics takes membership of it, unless the migrating role is a superuser.
    -- A role made here is the migrating role's to grant; one another role made needs a superuser's grant.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        BEGIN
            EXECUTE format('GRANT revos_analytics TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            IF NOT pg_has_role(current_user, 'revos_analytics', 'USAGE') THEN
                RAISE EXCEPTION 'the roles revos_analytics and revos_analyst were made by another role, and % may not use them', current_user
                    USING HINT = format('as a superuser: GRANT revos_analytics, revos_analyst TO %I WITH ADMIN OPTION', current_user);
            END IF;
        END;
    END IF;
END
$$;

-- Analyst logins: a login role made by `revos sql` (or an operator) and the tenant it may read; NULL
-- reads every tenant. Not readable by analysts.
CREATE TABLE analyst_logins (
    role_name  text PRIMARY KEY,
    tenant_id  text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The tenants the connected login may read through the views: a registered analyst login its tenant (or
-- all), any other role with revos_analyst's privileges none, and everyone else (the application,
-- operators) all. A superuser has every role's privileges, and a role that made revos_analyst (with
-- CREATEROLE) may administer it without having them: both read all.
-- It asks about session_user, the login itself: SET ROLE cannot change it, and inside this SECURITY
-- DEFINER function current_user is the function's owner. Views check EXECUTE as their reader.
-- PARALLEL RESTRICTED: it runs once, in the leader, and a view query may still use parallel workers.
CREATE FUNCTION revos_visible_tenants() RETURNS text[]
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER SET search_path = public, pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN l.role_name IS NOT NULL AND l.tenant_id IS NOT NULL THEN ARRAY[l.tenant_id]
        WHEN l.role_name IS NULL AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
             AND pg_has_role(session_user, 'revos_analyst', 'USAGE') THEN '{}'::text[]
        ELSE (SELECT COALESCE(array_agg(t.tenant_id), '{}') FROM tenants t)
    END
    FROM (VALUES (1)) AS one LEFT JOIN analyst_logins l ON l.role_name = session_user
$$;
REVOKE ALL ON FUNCTION revos_visible_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revos_visible_tenants() TO revos_analytics, revos_analyst;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage_hourly', 'usage_daily', 'charges', 'ledger_entries', 'customers',
                             'grants', 'conversations', 'chat_messages', 'assistants', 'calls', 'dead_letters',
                             'tenants', 'widget_sightings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY analytics_tenant ON %I FOR SELECT TO revos_analytics '
                       'USING (tenant_id = ANY (CAST((SELECT revos_visible_tenants()) AS text[])))', t);
        EXECUTE format('GRANT SELECT ON %I TO revos_analytics', t);
    END LOOP;
END
$$;

CREATE SCHEMA analytics;
COMMENT ON SCHEMA analytics IS
    'Revos analytics: stable views for analysts, one row per fact, tenant_id on every row. Version 1; '
    'see analytics.version and docs/analytics.md.';

CREATE VIEW analytics.version AS SELECT 1 AS version, 'docs/analytics.md'::text AS documentation;
COMMENT ON VIEW analytics.version IS
    'The interface version: a column removed or changed in meaning raises it; columns may be added within it.';

CREATE VIEW analytics.usage_hourly AS
SELECT tenant_id, customer, type, hour, events, quantity, credits, cost FROM usage_hourly;
COMMENT ON VIEW analytics.usage_hourly IS
    'Usage per tenant, customer, event type and UTC hour: exact totals of the charges, voided ones excluded.';
COMMENT ON COLUMN analytics.usage_hourly.hour IS 'The UTC hour the events happened in (event_time).';
COMMENT ON COLUMN analytics.usage_hourly.events IS 'Charged events (not voided).';
COMMENT ON COLUMN analytics.usage_hourly.quantity IS 'Sum of the events'' quantities, in the event type''s unit.';
COMMENT ON COLUMN analytics.usage_hourly.credits IS 'Credits burned.';
COMMENT ON COLUMN analytics.usage_hourly.cost IS
    'Sum of the costs of the events priced by a rule with cost_per_unit (0 for the others).';

CREATE VIEW analytics.usage_daily AS
SELECT tenant_id, customer, type, day, events, quantity, credits, cost FROM usage_daily;
COMMENT ON VIEW analytics.usage_daily IS
    'Usage per tenant, customer, event type and UTC day: exact totals of the charges, voided ones excluded.';
COMMENT ON COLUMN analytics.usage_daily.day IS 'The UTC day the events happened on (event_time).';
COMMENT ON COLUMN analytics.usage_daily.events IS 'Charged events (not voided).';
COMMENT ON COLUMN analytics.usage_daily.quantity IS 'Sum of the events'' quantities, in the event type''s unit.';
COMMENT ON COLUMN analytics.usage_daily.credits IS 'Credits burned.';
COMMENT ON COLUMN analytics.usage_daily.cost IS
    'Sum of the costs of the events priced by a rule with cost_per_unit (0 for the others).';

CREATE VIEW analytics.charges AS
SELECT tenant_id, event_id, customer, type, quantity, credits, cost, burn_table, burn_table_version,
       event_time, received_at, applied_at, properties, status, corrected_at
FROM charges;
COMMENT ON VIEW analytics.charges IS 'One row per usage event charged: its price, and its corrections'' result.';
COMMENT ON COLUMN analytics.charges.event_id IS 'The event''s id as sent; unique per tenant.';
COMMENT ON COLUMN analytics.charges.quantity IS 'The quantity charged (after an amend, the amended one).';
COMMENT ON COLUMN analytics.charges.credits IS 'Credits burned by the event (0 when voided).';
COMMENT ON COLUMN analytics.charges.cost IS
    'What the event cost the tenant, from the rule''s cost_per_unit; NULL when the rule has none.';
COMMENT ON COLUMN analytics.charges.burn_table_version IS 'The version of the burn table that priced it.';
COMMENT ON COLUMN analytics.charges.event_time IS 'When the usage happened, as the sender said.';
COMMENT ON COLUMN analytics.charges.received_at IS 'When the gateway accepted it (NULL when sent straight to Kafka).';
COMMENT ON COLUMN analytics.charges.applied_at IS 'When the charge was written.';
COMMENT ON COLUMN analytics.charges.properties IS 'The event''s properties (JSON object).';
COMMENT ON COLUMN analytics.charges.status IS 'charged, amended or voided.';

CREATE VIEW analytics.ledger AS
SELECT tenant_id, customer, seq, kind, amount, balance, reference, at, detail, recorded_at FROM ledger_entries;
COMMENT ON VIEW analytics.ledger IS
    'Every movement of a customer''s credits, in order: grants, burns, refunds, expiries, adjustments.';
COMMENT ON COLUMN analytics.ledger.seq IS 'The movement''s place in the customer''s ledger, from 1.';
COMMENT ON COLUMN analytics.ledger.kind IS 'What moved the credits (grant, burn, refund, expiry, …).';
COMMENT ON COLUMN analytics.ledger.amount IS 'Credits added (positive) or taken (negative).';
COMMENT ON COLUMN analytics.ledger.balance IS 'The customer''s balance after this movement.';
COMMENT ON COLUMN analytics.ledger.reference IS 'The event, grant or correction it came from.';
COMMENT ON COLUMN analytics.ledger.at IS 'When it took effect.';

CREATE VIEW analytics.balances AS
SELECT c.tenant_id, c.customer,
       COALESCE((SELECT sum(g.remaining) FROM grants g
                 WHERE g.tenant_id = c.tenant_id AND g.customer = c.customer AND g.status = 'active'
                   AND g.effective_at <= now() AND (g.expires_at IS NULL OR now() < g.expires_at)), 0)
           - c.debt AS balance,
       c.debt, c.credit_limit, c.ledger_seq, c.updated_at
FROM customers c;
COMMENT ON VIEW analytics.balances IS
    'Each customer''s balance now: its spendable grants minus its debt, as the balance API answers it.';
COMMENT ON COLUMN analytics.balances.debt IS 'Credits burned beyond the grants (owed).';
COMMENT ON COLUMN analytics.balances.credit_limit IS 'How far into debt the customer may go.';
COMMENT ON COLUMN analytics.balances.ledger_seq IS 'The seq of its latest ledger movement.';

CREATE VIEW analytics.customers AS
SELECT c.tenant_id, c.customer, c.burn_table, c.credit_limit, c.metadata,
       (SELECT min(l.at) FROM ledger_entries l WHERE l.tenant_id = c.tenant_id AND l.customer = c.customer)
           AS first_seen_at,
       c.updated_at
FROM customers c;
COMMENT ON VIEW analytics.customers IS 'The tenant''s customers: their settings and metadata.';
COMMENT ON COLUMN analytics.customers.metadata IS 'The tenant''s own JSON metadata for the customer.';
COMMENT ON COLUMN analytics.customers.first_seen_at IS 'Its first ledger movement (NULL if none yet).';

CREATE VIEW analytics.conversations AS
SELECT v.tenant_id, v.conversation_id, v.agent_id, a.name AS agent_name, v.visitor_id, v.origin,
       v.started_at, v.last_message_at, v.last_seq AS messages,
       EXISTS (SELECT 1 FROM widget_sightings s WHERE s.tenant_id = v.tenant_id AND s.agent_id = v.agent_id
                 AND s.origin = v.origin AND s.allowed) AS on_live_site
FROM conversations v
LEFT JOIN assistants a ON a.tenant_id = v.tenant_id AND a.agent_id = v.agent_id;
COMMENT ON VIEW analytics.conversations IS 'Chat and voice conversations with the tenant''s agents.';
COMMENT ON COLUMN analytics.conversations.origin IS 'The web page origin the widget ran on (NULL for voice).';
COMMENT ON COLUMN analytics.conversations.messages IS 'Messages so far (visitor, agent and tool).';
COMMENT ON COLUMN analytics.conversations.on_live_site IS
    'Whether it happened on a site in the agent''s allowed domains (not the hosted chat page or a preview).';

CREATE VIEW analytics.messages AS
SELECT tenant_id, conversation_id, seq, message_id, agent_id, role, content, status, reply_to, model,
       latency_ms, first_token_ms, input_tokens, output_tokens, tool_name, occurred_at
FROM chat_messages;
COMMENT ON VIEW analytics.messages IS 'Every message of every conversation.';
COMMENT ON COLUMN analytics.messages.role IS 'user, assistant or tool.';
COMMENT ON COLUMN analytics.messages.status IS
    'complete, interrupted, failed (the model failed) or unavailable (no model could answer).';
COMMENT ON COLUMN analytics.messages.latency_ms IS 'The answer''s time from the visitor''s message to its end.';
COMMENT ON COLUMN analytics.messages.first_token_ms IS 'Time to the answer''s first token.';

CREATE VIEW analytics.calls AS
SELECT tenant_id, call_sid, agent_id, conversation_id, from_number, to_number, customer, state, started_at,
       answered_at, ended_at, duration_seconds, end_reason
FROM calls;
COMMENT ON VIEW analytics.calls IS 'Voice calls to the tenant''s agents.';
COMMENT ON COLUMN analytics.calls.duration_seconds IS 'The call''s length as the voice provider reported it.';
COMMENT ON COLUMN analytics.calls.end_reason IS 'Why it ended (completed, caller hung up, failed, …).';

CREATE VIEW analytics.dead_letters AS
SELECT tenant_id, dead_letter_id, topic, stage, code, error_class, message, event_id, source_topic,
       source_partition, source_offset, attempts, replays, first_failed_at, last_failed_at, last_replayed_at
FROM dead_letters WHERE tenant_id IS NOT NULL;
COMMENT ON VIEW analytics.dead_letters IS
    'Records the pipeline could not apply (refused usage, failures), kept for inspection and replay.';
COMMENT ON COLUMN analytics.dead_letters.code IS 'Why, as a stable code (e.g. no_matching_rule).';
COMMENT ON COLUMN analytics.dead_letters.replays IS 'How often it was replayed.';

-- Product metrics for operators (and each tenant about itself).
CREATE VIEW analytics.tenant_activation AS
SELECT t.tenant_id, t.created_at AS signed_up_at,
       (SELECT min(a.created_at) FROM assistants a WHERE a.tenant_id = t.tenant_id) AS first_agent_at,
       (SELECT min(v.started_at) FROM conversations v WHERE v.tenant_id = t.tenant_id) AS first_conversation_at,
       l.first_live_conversation_at,
       l.first_live_conversation_at - t.created_at AS time_to_first_value,
       EXISTS (SELECT 1 FROM assistants a WHERE a.tenant_id = t.tenant_id)
           AND EXISTS (SELECT 1 FROM conversations v WHERE v.tenant_id = t.tenant_id) AS activated
FROM tenants t
LEFT JOIN LATERAL (
    SELECT min(v.started_at) AS first_live_conversation_at
    FROM conversations v
    JOIN widget_sightings s ON s.tenant_id = v.tenant_id AND s.agent_id = v.agent_id AND s.origin = v.origin
         AND s.allowed
    WHERE v.tenant_id = t.tenant_id
) l ON true;
COMMENT ON VIEW analytics.tenant_activation IS
    'Per tenant: sign-up, first agent, first conversation, first conversation on a live site.';
COMMENT ON COLUMN analytics.tenant_activation.time_to_first_value IS
    'From sign-up to the first conversation on a live site (NULL until there is one).';
COMMENT ON COLUMN analytics.tenant_activation.activated IS 'At least one agent and one conversation.';

CREATE VIEW analytics.chat_errors_daily AS
SELECT tenant_id, agent_id, (occurred_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS answers,
       count(*) FILTER (WHERE status IN ('failed', 'unavailable')) AS errors,
       round(count(*) FILTER (WHERE status IN ('failed', 'unavailable'))::numeric / count(*), 4) AS error_rate
FROM chat_messages WHERE role = 'assistant'
GROUP BY 1, 2, 3;
COMMENT ON VIEW analytics.chat_errors_daily IS
    'Agent answers per UTC day and how many failed (the model failed or none could answer).';
COMMENT ON COLUMN analytics.chat_errors_daily.error_rate IS 'errors / answers, 0 to 1.';

-- A view's new owner needs CREATE on its schema, unless a superuser gives it away.
GRANT USAGE, CREATE ON SCHEMA analytics TO revos_analytics;
GRANT USAGE ON SCHEMA analytics TO revos_analyst;
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'analytics' AND c.relkind = 'v' LOOP
        EXECUTE format('ALTER VIEW analytics.%I OWNER TO revos_analytics', v.relname);
        EXECUTE format('GRANT SELECT ON analytics.%I TO revos_analyst', v.relname);
    END LOOP;
END
$$;
