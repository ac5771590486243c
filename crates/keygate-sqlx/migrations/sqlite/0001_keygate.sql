-- keygate on SQLite: keys, roles, audit events, and the change sequence that running
-- instances poll to drop changed keys from their caches.
-- Timestamps are microseconds since the Unix epoch (UTC); JSON columns hold text.

CREATE TABLE keygate_keys (
    id                TEXT    NOT NULL PRIMARY KEY,
    hash              BLOB    NOT NULL,
    hint              TEXT    NOT NULL,
    prefix            TEXT    NOT NULL,
    env               TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    description       TEXT,
    tenant            TEXT    NOT NULL,
    owner             TEXT,
    kind              TEXT    NOT NULL,
    role              TEXT,
    scopes            TEXT    NOT NULL DEFAULT '[]',
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER,
    revoked_at        INTEGER,
    last_used_at      INTEGER,
    replaced_by       TEXT,
    grace_until       INTEGER,
    allowed_ips       TEXT    NOT NULL DEFAULT '[]',
    allowed_referrers TEXT    NOT NULL DEFAULT '[]',
    rate_limit        TEXT,
    metadata          TEXT    NOT NULL DEFAULT '{}',
    created_by        TEXT
);

-- The hot path: one B-tree probe at any table size.
CREATE UNIQUE INDEX keygate_keys_hash ON keygate_keys (hash);
-- Listings: per tenant, ordered by (created_at, id).
CREATE INDEX keygate_keys_tenant ON keygate_keys (tenant, created_at, id);

CREATE TABLE keygate_roles (
    name        TEXT NOT NULL PRIMARY KEY,
    scopes      TEXT NOT NULL DEFAULT '[]',
    description TEXT
);

CREATE TABLE keygate_audit (
    id        TEXT    NOT NULL PRIMARY KEY,
    at        INTEGER NOT NULL,
    tenant    TEXT,
    actor     TEXT,
    action    TEXT    NOT NULL,
    target    TEXT,
    client_ip TEXT,
    outcome   TEXT    NOT NULL,
    reason    TEXT
);

CREATE INDEX keygate_audit_at ON keygate_audit (at, id);
CREATE INDEX keygate_audit_tenant ON keygate_audit (tenant, at, id);
CREATE INDEX keygate_audit_target ON keygate_audit (target, at, id);
CREATE INDEX keygate_audit_actor ON keygate_audit (actor, at, id);

-- One row per change, written in the same transaction as the change. `payload` is an
-- invalidation: a key hash in hex, or `role:<name>`. Only recent rows are kept.
CREATE TABLE keygate_changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT    NOT NULL,
    at      INTEGER NOT NULL
);
