-- Conditional writes, persistent owner deactivation, aggregated audit events.
-- Existing rows: every key starts at version 0, every audit event counts once, and no
-- owner is deactivated.

-- The row version: UPDATE ... WHERE version = <the version read> bumps it, so a write
-- from a stale read changes nothing (KeyStore::update, revoke and rotate).
ALTER TABLE keygate_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- How many occurrences an event stands for (failed verifications are aggregated).
ALTER TABLE keygate_audit ADD COLUMN count BIGINT NOT NULL DEFAULT 1;

-- Deactivated owners, read with every key (a LEFT JOIN for personal keys).
CREATE TABLE keygate_owners (
    tenant         TEXT        NOT NULL,
    owner          TEXT        NOT NULL,
    deactivated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, owner)
);

-- An owner's keys: listings by owner, and the changes a deactivation announces.
CREATE INDEX keygate_keys_owner ON keygate_keys (tenant, owner);
