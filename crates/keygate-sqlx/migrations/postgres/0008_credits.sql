-- A key's credits (NULL remaining: unmetered). remaining is the balance as last
-- settled; period the refill interval it belongs to; epoch when an operator set it
-- (spends of an older epoch are dropped); account whose balance it is (the first key
-- of a rotation chain, or the maker of a key made by a metered key). refill is
-- 'daily:AMOUNT' or 'monthly:AMOUNT@DAY'.
ALTER TABLE keygate_keys ADD COLUMN credits_remaining BIGINT;
ALTER TABLE keygate_keys ADD COLUMN credits_refill TEXT;
ALTER TABLE keygate_keys ADD COLUMN credits_period BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keygate_keys ADD COLUMN credits_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keygate_keys ADD COLUMN credits_account TEXT;
CREATE INDEX keygate_keys_credits_account ON keygate_keys (credits_account)
    WHERE credits_account IS NOT NULL;
