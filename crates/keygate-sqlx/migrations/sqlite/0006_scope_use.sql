-- Scopes keys exercised (a route's requirement met through them): first and last use.
CREATE TABLE keygate_scope_use (
    key_id     TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    first_used INTEGER NOT NULL,
    last_used  INTEGER NOT NULL,
    PRIMARY KEY (key_id, scope)
);
