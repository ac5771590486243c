-- Verification analytics: how often each key was verified, by outcome, per minute.
-- Unknown keys have key_id, tenant and env ''. Rows are added to, never replaced.
CREATE TABLE keygate_verifications (
    minute  TIMESTAMPTZ NOT NULL,
    key_id  TEXT        NOT NULL DEFAULT '',
    outcome TEXT        NOT NULL,
    tenant  TEXT        NOT NULL DEFAULT '',
    env     TEXT        NOT NULL DEFAULT '',
    count   BIGINT      NOT NULL,
    PRIMARY KEY (minute, key_id, outcome)
);
CREATE INDEX keygate_verifications_key ON keygate_verifications (key_id, minute);
CREATE INDEX keygate_verifications_tenant ON keygate_verifications (tenant, minute);
