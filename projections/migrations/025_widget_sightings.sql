-- Widget sightings: the page origins each agent's widget asked for a session from, allowed or refused
-- (docs/chat.md#sightings). Telemetry written by gateways, not a projection of the log: each process
-- adds its tallies with one upsert (projections/chat/sightings.py), and an agent keeps at most 100
-- origins. `sessions` counts every session request, `refused` those refused; `allowed` is the decision
-- on the last one.
CREATE TABLE widget_sightings (
    tenant_id   text        NOT NULL,
    agent_id    text        NOT NULL,
    origin      text        NOT NULL,
    allowed     boolean     NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    sessions    bigint      NOT NULL CHECK (sessions >= 1),
    refused     bigint      NOT NULL CHECK (refused >= 0 AND refused <= sessions),
    PRIMARY KEY (tenant_id, agent_id, origin)
);
