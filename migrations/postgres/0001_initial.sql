-- Counters: one row per lockout key (the values of one lockout group).
CREATE TABLE IF NOT EXISTS axes_counters (
    lockout_key     TEXT    NOT NULL PRIMARY KEY,
    failures        BIGINT  NOT NULL,
    last_failure_ms BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS axes_counters_last_failure ON axes_counters (last_failure_ms);

-- Attempt records: one row per (username, IP, user agent), as django-axes' AccessAttempt.
CREATE TABLE IF NOT EXISTS axes_attempts (
    id              BIGSERIAL PRIMARY KEY,
    attempt_key     TEXT    NOT NULL UNIQUE,
    username        TEXT    NULL,
    ip_address      TEXT    NULL,
    user_agent      TEXT    NOT NULL,
    path_info       TEXT    NOT NULL,
    http_accept     TEXT    NOT NULL,
    get_data        TEXT    NOT NULL DEFAULT '',
    post_data       TEXT    NOT NULL DEFAULT '',
    failures        BIGINT  NOT NULL,
    attempt_time_ms BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS axes_attempts_ip ON axes_attempts (ip_address);
CREATE INDEX IF NOT EXISTS axes_attempts_username ON axes_attempts (username);
CREATE INDEX IF NOT EXISTS axes_attempts_time ON axes_attempts (attempt_time_ms);

-- Access log: successful logins and their logouts, as django-axes' AccessLog.
CREATE TABLE IF NOT EXISTS axes_access_logs (
    id              BIGSERIAL PRIMARY KEY,
    username        TEXT    NOT NULL,
    ip_address      TEXT    NULL,
    user_agent      TEXT    NOT NULL,
    path_info       TEXT    NOT NULL,
    http_accept     TEXT    NOT NULL,
    session_hash    TEXT    NOT NULL DEFAULT '',
    attempt_time_ms BIGINT  NOT NULL,
    logout_time_ms  BIGINT  NULL
);
CREATE INDEX IF NOT EXISTS axes_access_logs_user ON axes_access_logs (username, session_hash);
CREATE INDEX IF NOT EXISTS axes_access_logs_ip ON axes_access_logs (ip_address);
CREATE INDEX IF NOT EXISTS axes_access_logs_time ON axes_access_logs (attempt_time_ms);

-- Failure log: every recorded failure, as django-axes' AccessFailureLog.
CREATE TABLE IF NOT EXISTS axes_failure_logs (
    id              BIGSERIAL PRIMARY KEY,
    username        TEXT    NULL,
    ip_address      TEXT    NULL,
    user_agent      TEXT    NOT NULL,
    path_info       TEXT    NOT NULL,
    http_accept     TEXT    NOT NULL,
    attempt_time_ms BIGINT  NOT NULL,
    locked_out      BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS axes_failure_logs_user ON axes_failure_logs (username, id);
CREATE INDEX IF NOT EXISTS axes_failure_logs_ip ON axes_failure_logs (ip_address);
CREATE INDEX IF NOT EXISTS axes_failure_logs_time ON axes_failure_logs (attempt_time_ms);
