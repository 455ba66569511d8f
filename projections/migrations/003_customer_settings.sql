-- Customer settings, from CustomerUpdated records: the burn table that prices the customer's usage,
-- how far its balance may go below zero, free-form metadata, and which record set them last.
ALTER TABLE customers
    ADD COLUMN burn_table        text    NOT NULL DEFAULT 'default',
    ADD COLUMN credit_limit      numeric NOT NULL DEFAULT 0,
    ADD COLUMN metadata          jsonb   NOT NULL DEFAULT '{}',
    ADD COLUMN settings_event_id text;
