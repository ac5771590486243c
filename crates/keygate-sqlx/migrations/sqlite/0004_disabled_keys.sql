-- A key can be disabled and enabled again (unlike revocation): when it was disabled,
-- or NULL while it is enabled. Existing keys are enabled.
ALTER TABLE keygate_keys ADD COLUMN disabled_at INTEGER;
