-- Keyed audit chains (chain version 2): each entry is sealed with an HMAC under a key kept outside the
-- database, over its content exactly as stored here: the before/after JSON text as recorded (jsonb
-- rewrites numbers such as 1e16, which broke the hashes of genuine version-1 entries). Existing rows
-- stay chain version 1 and are verified, and reported, as legacy; new rows leave before/after NULL.
-- Adding columns with constant defaults rewrites no row, so the append-only triggers are not involved.

ALTER TABLE audit_log
    ADD COLUMN chain_version smallint NOT NULL DEFAULT 1,
    ADD COLUMN before_text   text,
    ADD COLUMN after_text    text,
    ADD COLUMN key_id        text;
