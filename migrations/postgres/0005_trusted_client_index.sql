-- The trusted-client check reads one (username, IP, user agent) client's
-- latest login: an index bounded by that client, not the user's whole log.
CREATE INDEX IF NOT EXISTS axes_access_logs_client
    ON axes_access_logs (username, ip_address, user_agent, attempt_time_ms);
