-- Roles of one tenant and environment, next to the global ones; audit events name the
-- role they concern; listings across tenants and by role.
-- Existing rows: every role becomes global (tenant and env ''), every audit event
-- concerns no role.

ALTER TABLE keygate_roles ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE keygate_roles ADD COLUMN env TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE keygate_roles DROP CONSTRAINT keygate_roles_pkey;
ALTER TABLE keygate_roles ADD PRIMARY KEY (tenant, env, name);

-- Every namespace's role of one name (the resolution of a key's role; listings).
CREATE INDEX keygate_roles_name ON keygate_roles (name, tenant, env);

ALTER TABLE keygate_audit ADD COLUMN role TEXT;

-- Listings of every tenant (the system actor), and of the keys holding a role.
CREATE INDEX keygate_keys_created ON keygate_keys (created_at, id);
CREATE INDEX keygate_keys_role ON keygate_keys (role, created_at, id);
