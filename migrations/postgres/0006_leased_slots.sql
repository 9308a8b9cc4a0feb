-- Attempts in flight as leased slots, and one round trip per admission
-- and per recorded failure.

-- The old per-key counts of holders could leak: a slot was a number that
-- any attempt's acquire pushed the expiry of.
DROP TABLE IF EXISTS axes_in_flight;

-- Each app server (an instance of the store) owns its slots under a lease
-- it renews while it holds any; a killed server's slots lapse with it.
CREATE TABLE IF NOT EXISTS axes_instances (
    instance       TEXT   NOT NULL PRIMARY KEY,
    lease_until_ms BIGINT NOT NULL
);

-- One row per slot: an attempt of an instance, under a lockout key.
CREATE TABLE IF NOT EXISTS axes_slots (
    lockout_key TEXT   NOT NULL,
    instance    TEXT   NOT NULL,
    slot        BIGINT NOT NULL,
    PRIMARY KEY (lockout_key, instance, slot)
);
CREATE INDEX IF NOT EXISTS axes_slots_instance ON axes_slots (instance);

-- The server's clock: leases are compared by one clock, whatever the app
-- servers' clocks say.
CREATE OR REPLACE FUNCTION axes_now_ms() RETURNS BIGINT
LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
$$;

-- The windowing rule, as `Window::for_count` and `Window::continues` state
-- it: a count of `failures` whose last failure was at `last` continues at
-- `at` when `at` is no later than `last` plus the window of that count (the
-- last step whose `from` is at most the count); no step: for ever.
CREATE OR REPLACE FUNCTION axes_continues(
    failures BIGINT, last BIGINT, at BIGINT, step_from BIGINT[], step_window BIGINT[]
) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(
        (SELECT last + w >= at
         FROM unnest(step_from, step_window) AS s(f, w)
         WHERE f <= failures ORDER BY f DESC LIMIT 1),
        TRUE)
$$;

-- The sliding window, as `Window::slide` states it: the failure times a
-- counter keeps after a failure at `at` bumped its count to `bumped`: the
-- newest `bumped - 1` of `recent` (milliseconds, comma-separated, oldest
-- first) still within `longest` of `at` (NULL: for ever), then `at`, sorted,
-- at most `keep` of them.
CREATE OR REPLACE FUNCTION axes_slide(
    recent TEXT, bumped BIGINT, at BIGINT, longest BIGINT, keep INT
) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    WITH times AS (
        SELECT t::BIGINT AS t, ord
        FROM unnest(string_to_array(NULLIF(recent, ''), ',')) WITH ORDINALITY AS r(t, ord)
    ),
    previous AS (
        SELECT t FROM times
        WHERE ord > (SELECT count(*) FROM times) - GREATEST(bumped - 1, 0)
          AND (longest IS NULL OR t + longest >= at)
    ),
    kept AS (
        SELECT t FROM (SELECT t FROM previous UNION ALL SELECT at) AS all_times
        ORDER BY t DESC LIMIT GREATEST(keep, 1)
    )
    SELECT string_agg(t::TEXT, ',' ORDER BY t) FROM kept
$$;

-- How many failure times a slid list holds.
CREATE OR REPLACE FUNCTION axes_times_count(recent TEXT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(cardinality(string_to_array(NULLIF(recent, ''), ',')), 0)::BIGINT
$$;

-- An admission: the counters of `read`, and the live slots under each of
-- `hold`, taking one for (`instance`, `slot`) first when `take`. Admissions
-- of one key take turns (an advisory lock per key, in one order), so no two
-- see room for the same last slot; the counters and the slots are read in
-- one statement, one snapshot.
CREATE OR REPLACE FUNCTION axes_admit(
    p_read TEXT[], p_hold TEXT[], p_instance TEXT, p_slot BIGINT, p_take BOOLEAN, p_lease_ms BIGINT
) RETURNS TABLE (
    lockout_key TEXT, failures BIGINT, last_failure_ms BIGINT, recent TEXT, holders BIGINT
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    now_ms BIGINT := axes_now_ms();
BEGIN
    IF cardinality(p_hold) > 0 THEN
        PERFORM pg_advisory_xact_lock(h)
        FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(p_hold) AS k) AS locks
        ORDER BY h;
        -- The lease is renewed once half of it has passed: the instance's
        -- row is locked only then, not by every admission.
        IF NOT EXISTS (SELECT 1 FROM axes_instances AS i
                       WHERE i.instance = p_instance
                         AND i.lease_until_ms >= now_ms + p_lease_ms / 2) THEN
            INSERT INTO axes_instances AS i (instance, lease_until_ms)
            VALUES (p_instance, now_ms + p_lease_ms)
            ON CONFLICT (instance) DO UPDATE
                SET lease_until_ms = GREATEST(i.lease_until_ms, excluded.lease_until_ms);
        END IF;
        -- The slots of servers whose lease lapsed are gone.
        DELETE FROM axes_slots AS s
        WHERE s.lockout_key = ANY(p_hold)
          AND NOT EXISTS (SELECT 1 FROM axes_instances AS i
                          WHERE i.instance = s.instance AND i.lease_until_ms >= now_ms);
        IF p_take THEN
            INSERT INTO axes_slots (lockout_key, instance, slot)
            SELECT DISTINCT k, p_instance, p_slot FROM unnest(p_hold) AS k
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN QUERY
        SELECT c.lockout_key, c.failures, c.last_failure_ms, c.recent, NULL::BIGINT
        FROM axes_counters AS c WHERE c.lockout_key = ANY(p_read)
        UNION ALL
        SELECT k, NULL::BIGINT, NULL::BIGINT, NULL::TEXT,
               (SELECT count(*) FROM axes_slots AS s WHERE s.lockout_key = k)
        FROM unnest(p_hold) AS k;
END
$$;

-- A failure in one round trip: the attempt record (unless `attempt_key` is
-- NULL), then every counter of `keys` bumped or restarted by the windowing
-- rule (sliding when `keep` > 0), then the attempt's slots given back. Rows
-- are locked in one order: the attempt record, then counters by key.
CREATE OR REPLACE FUNCTION axes_record_failure(
    p_keys TEXT[], p_at BIGINT, p_from BIGINT[], p_window BIGINT[], p_longest BIGINT, p_keep INT,
    p_attempt_key TEXT, p_username TEXT, p_ip TEXT, p_user_agent TEXT,
    p_path TEXT, p_accept TEXT, p_get TEXT, p_post TEXT,
    p_release TEXT[], p_instance TEXT, p_slot BIGINT
) RETURNS TABLE (lockout_key TEXT, failures BIGINT, last_failure_ms BIGINT, recent TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF p_attempt_key IS NOT NULL THEN
        INSERT INTO axes_attempts AS a (attempt_key, username, ip_address, user_agent, path_info,
            http_accept, get_data, post_data, failures, attempt_time_ms)
        VALUES (p_attempt_key, p_username, p_ip, p_user_agent, p_path,
            p_accept, p_get, p_post, 1, p_at)
        ON CONFLICT ON CONSTRAINT axes_attempts_attempt_key_key DO UPDATE SET
            failures = CASE
                WHEN axes_continues(a.failures, a.attempt_time_ms, p_at, p_from, p_window)
                THEN a.failures + 1 ELSE 1 END,
            attempt_time_ms = GREATEST(a.attempt_time_ms, excluded.attempt_time_ms),
            path_info = excluded.path_info, http_accept = excluded.http_accept,
            get_data = excluded.get_data, post_data = excluded.post_data;
    END IF;
    RETURN QUERY
    WITH bumped AS (
        INSERT INTO axes_counters AS c (lockout_key, failures, last_failure_ms, recent)
        SELECT k, 1, p_at, CASE WHEN p_keep > 0 THEN p_at::TEXT ELSE '' END
        FROM (SELECT DISTINCT k FROM unnest(p_keys) AS k) AS ks
        ORDER BY k COLLATE "C"
        ON CONFLICT ON CONSTRAINT axes_counters_pkey DO UPDATE SET
            failures = CASE
                WHEN p_keep > 0 THEN axes_times_count(axes_slide(c.recent,
                    CASE WHEN axes_continues(c.failures, c.last_failure_ms, p_at, p_from, p_window)
                         THEN c.failures + 1 ELSE 1 END, p_at, p_longest, p_keep))
                WHEN axes_continues(c.failures, c.last_failure_ms, p_at, p_from, p_window)
                THEN c.failures + 1 ELSE 1 END,
            last_failure_ms = GREATEST(c.last_failure_ms, excluded.last_failure_ms),
            recent = CASE
                WHEN p_keep > 0 THEN axes_slide(c.recent,
                    CASE WHEN axes_continues(c.failures, c.last_failure_ms, p_at, p_from, p_window)
                         THEN c.failures + 1 ELSE 1 END, p_at, p_longest, p_keep)
                ELSE c.recent END
        RETURNING c.lockout_key, c.failures, c.last_failure_ms, c.recent
    ),
    released AS (
        DELETE FROM axes_slots AS s
        WHERE s.lockout_key = ANY(p_release) AND s.instance = p_instance AND s.slot = p_slot
    )
    SELECT b.lockout_key, b.failures, b.last_failure_ms, b.recent FROM bumped AS b;
END
$$;
