-- Roles of one tenant and environment, next to the global ones; audit events name the
-- role they concern; listings across tenants and by role.
-- Existing rows: every role becomes global (tenant and env ''), every audit event
-- concerns no role.

-- SQLite cannot change a primary key in place: rebuild the roles table.
CREATE TABLE keygate_roles_0003 (
    tenant      TEXT NOT NULL DEFAULT '',
    env         TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL DEFAULT '[]',
    description TEXT,
    PRIMARY KEY (tenant, env, name)
);
INSERT INTO keygate_roles_0003 (tenant, env, name, scopes, description)
    SELECT '', '', name, scopes, description FROM keygate_roles;
DROP TABLE keygate_roles;
ALTER TABLE keygate_roles_0003 RENAME TO keygate_roles;

-- Every namespace's role of one name (the resolution of a key's role; listings).
CREATE INDEX keygate_roles_name ON keygate_roles (name, tenant, env);

ALTER TABLE keygate_audit ADD COLUMN role TEXT;

-- Listings of every tenant (the system actor), and of the keys holding a role.
CREATE INDEX keygate_keys_created ON keygate_keys (created_at, id);
CREATE INDEX keygate_keys_role ON keygate_keys (role, created_at, id);
