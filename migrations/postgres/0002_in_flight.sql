-- Attempts in flight per lockout key, so concurrent attempts count toward the limit.
CREATE TABLE IF NOT EXISTS axes_in_flight (
    lockout_key TEXT    NOT NULL PRIMARY KEY,
    holders     BIGINT  NOT NULL,
    expires_ms  BIGINT  NOT NULL
);
