-- keygate on PostgreSQL: keys, roles and audit events. Changes are announced with
-- pg_notify in the writing transaction (see PostgresStore); nothing is polled.
-- Ids sort byte-wise (COLLATE "C") so listings page in the same order everywhere.

CREATE TABLE keygate_keys (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    hash              BYTEA       NOT NULL,
    hint              TEXT        NOT NULL,
    prefix            TEXT        NOT NULL,
    env               TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    description       TEXT,
    tenant            TEXT        NOT NULL,
    owner             TEXT,
    kind              TEXT        NOT NULL,
    role              TEXT,
    scopes            TEXT        NOT NULL DEFAULT '[]',
    created_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ,
    revoked_at        TIMESTAMPTZ,
    last_used_at      TIMESTAMPTZ,
    replaced_by       TEXT,
    grace_until       TIMESTAMPTZ,
    allowed_ips       TEXT        NOT NULL DEFAULT '[]',
    allowed_referrers TEXT        NOT NULL DEFAULT '[]',
    rate_limit        TEXT,
    metadata          TEXT        NOT NULL DEFAULT '{}',
    created_by        TEXT
);

-- The hot path: one B-tree probe at any table size.
CREATE UNIQUE INDEX keygate_keys_hash ON keygate_keys (hash);
-- Listings: per tenant, ordered by (created_at, id).
CREATE INDEX keygate_keys_tenant ON keygate_keys (tenant, created_at, id);

CREATE TABLE keygate_roles (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    scopes      TEXT NOT NULL DEFAULT '[]',
    description TEXT
);

CREATE TABLE keygate_audit (
    id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    tenant    TEXT,
    actor     TEXT,
    action    TEXT NOT NULL,
    target    TEXT,
    client_ip TEXT,
    outcome   TEXT NOT NULL,
    reason    TEXT
);

CREATE INDEX keygate_audit_at ON keygate_audit (at, id);
CREATE INDEX keygate_audit_tenant ON keygate_audit (tenant, at, id);
CREATE INDEX keygate_audit_target ON keygate_audit (target, at, id);
CREATE INDEX keygate_audit_actor ON keygate_audit (actor, at, id);
