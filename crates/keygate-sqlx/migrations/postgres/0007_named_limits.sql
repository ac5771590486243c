-- A key's named limits beside its own rate_limit: a JSON object from limit name to spec
-- text ({"burst": "10/s"}). Existing keys have none.
ALTER TABLE keygate_keys ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
