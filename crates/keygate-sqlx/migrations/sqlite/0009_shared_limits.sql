-- Limits shared by every key of a tenant in an environment (owner '') or of one owner
-- there, set by an operator: a JSON object from limit name to spec text.
CREATE TABLE keygate_shared_limits (
    tenant TEXT NOT NULL,
    env    TEXT NOT NULL,
    owner  TEXT NOT NULL,
    limits TEXT NOT NULL,
    PRIMARY KEY (tenant, env, owner)
);
