-- Slots by owner and id, waiters woken by notifications instead of
-- polling, and a notification for every reset.

-- Each slot has an id of its own: an app server gives back, and sweeps,
-- its slots by id.
CREATE INDEX IF NOT EXISTS axes_slots_owner_slot ON axes_slots (instance, slot);
DROP INDEX IF EXISTS axes_slots_instance;

-- The keys app servers wait on for a slot, until `until_ms` (the
-- database's clock): a slot another server gives back under one of them
-- is notified, and a server holding slots under one hands none on to its
-- own waiters while another waits.
CREATE UNLOGGED TABLE IF NOT EXISTS axes_waiting (
    lockout_key TEXT   NOT NULL,
    instance    TEXT   NOT NULL,
    until_ms    BIGINT NOT NULL,
    PRIMARY KEY (lockout_key, instance)
);

-- The channel this schema's notifications go out on (a channel name holds
-- at most 63 bytes).
CREATE OR REPLACE FUNCTION axes_channel() RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT left('axes:' || current_schema(), 63)
$$;

-- A key's wake tag, as `LockoutKey::wake_tag` computes it: the first 8
-- bytes of the SHA-256 of the key, in hex.
CREATE OR REPLACE FUNCTION axes_wake_tag(k TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT substr(encode(sha256(convert_to(k, 'UTF8')), 'hex'), 1, 16)
$$;

-- Slots of `p_instance` were freed under `p_keys`: notifies
-- `f <tag> <tag>…` of those that other app servers wait on (at commit).
CREATE OR REPLACE FUNCTION axes_wake(p_keys TEXT[], p_instance TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    tags TEXT;
BEGIN
    IF cardinality(p_keys) = 0 THEN
        RETURN;
    END IF;
    SELECT string_agg(DISTINCT axes_wake_tag(w.lockout_key), ' ') INTO tags
    FROM axes_waiting AS w
    WHERE w.lockout_key = ANY(p_keys) AND w.instance <> p_instance
      AND w.until_ms >= axes_now_ms();
    IF tags IS NOT NULL THEN
        PERFORM pg_notify(axes_channel(), 'f ' || tags);
    END IF;
END
$$;

-- Counters were reset or deleted: cached lockouts may be lifted.
CREATE OR REPLACE FUNCTION axes_notify_reset() RETURNS VOID
LANGUAGE sql AS $$
    SELECT pg_notify(axes_channel(), 'r')
$$;

-- Gives back the slots (`p_keys[i]`, `p_instance`, `p_ids[i]`) and wakes
-- those waiting on their keys.
CREATE OR REPLACE FUNCTION axes_release(p_instance TEXT, p_keys TEXT[], p_ids BIGINT[])
RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM axes_slots AS s
    USING unnest(p_keys, p_ids) AS r(k, id)
    WHERE s.lockout_key = r.k AND s.instance = p_instance AND s.slot = r.id;
    PERFORM axes_wake(p_keys, p_instance);
END
$$;

-- An admission: the counters of `p_read`; the slots (`p_take_keys[i]`,
-- `p_instance`, `p_take_ids[i]`) taken; the live slots under each of
-- `p_count`, and whether another app server waits on it. Admissions of
-- one key take turns (an advisory lock per key, in one order), so no two
-- see room for the same last slot.
DROP FUNCTION IF EXISTS axes_admit(TEXT[], TEXT[], TEXT, BIGINT, BOOLEAN, BIGINT);
CREATE OR REPLACE FUNCTION axes_admit(
    p_read TEXT[], p_instance TEXT, p_take_keys TEXT[], p_take_ids BIGINT[], p_count TEXT[],
    p_lease_ms BIGINT
) RETURNS TABLE (
    lockout_key TEXT, failures BIGINT, last_failure_ms BIGINT, recent TEXT, holders BIGINT,
    waited BOOLEAN
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    now_ms BIGINT := axes_now_ms();
BEGIN
    IF cardinality(p_count) = 1 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_count[1], 0));
    ELSIF cardinality(p_count) > 1 THEN
        PERFORM pg_advisory_xact_lock(h)
        FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(p_count) AS k) AS locks
        ORDER BY h;
    END IF;
    IF cardinality(p_take_keys) > 0 THEN
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
        INSERT INTO axes_slots (lockout_key, instance, slot)
        SELECT k, p_instance, id FROM unnest(p_take_keys, p_take_ids) AS t(k, id)
        ON CONFLICT DO NOTHING;
    END IF;
    -- The slots of servers whose lease lapsed do not count (the sweeps
    -- delete them).
    RETURN QUERY
        SELECT c.lockout_key, c.failures, c.last_failure_ms, c.recent, NULL::BIGINT, NULL::BOOLEAN
        FROM axes_counters AS c WHERE c.lockout_key = ANY(p_read)
        UNION ALL
        SELECT k, NULL::BIGINT, NULL::BIGINT, NULL::TEXT,
               (SELECT count(*) FROM axes_slots AS s
                WHERE s.lockout_key = k
                  AND (s.instance = p_instance OR EXISTS (
                       SELECT 1 FROM axes_instances AS i
                       WHERE i.instance = s.instance AND i.lease_until_ms >= now_ms))),
               EXISTS (SELECT 1 FROM axes_waiting AS w
                       WHERE w.lockout_key = k AND w.instance <> p_instance
                         AND w.until_ms >= now_ms)
        FROM unnest(p_count) AS k;
END
$$;

-- Slots are taken and given back many times a second: vacuum their table
-- often, so its dead rows do not slow the admissions.
ALTER TABLE axes_slots SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

-- A failure in one round trip, as before, giving back the slots
-- (`p_release_keys[i]`, `p_instance`, `p_release_ids[i]`) with it.
DROP FUNCTION IF EXISTS axes_record_failure(
    TEXT[], BIGINT, BIGINT[], BIGINT[], BIGINT, INT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT,
    TEXT, TEXT[], TEXT, BIGINT);
CREATE OR REPLACE FUNCTION axes_record_failure(
    p_keys TEXT[], p_at BIGINT, p_from BIGINT[], p_window BIGINT[], p_longest BIGINT, p_keep INT,
    p_attempt_key TEXT, p_username TEXT, p_ip TEXT, p_user_agent TEXT,
    p_path TEXT, p_accept TEXT, p_get TEXT, p_post TEXT,
    p_instance TEXT, p_release_keys TEXT[], p_release_ids BIGINT[]
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
        USING unnest(p_release_keys, p_release_ids) AS r(k, id)
        WHERE s.lockout_key = r.k AND s.instance = p_instance AND s.slot = r.id
    )
    SELECT b.lockout_key, b.failures, b.last_failure_ms, b.recent FROM bumped AS b;
    PERFORM axes_wake(p_release_keys, p_instance);
END
$$;

-- A successful login: its access log entry (unless `p_log` is false) and
-- the attempt's slots given back, in one round trip.
CREATE OR REPLACE FUNCTION axes_record_login(
    p_instance TEXT, p_release_keys TEXT[], p_release_ids BIGINT[], p_log BOOLEAN,
    p_username TEXT, p_ip TEXT, p_user_agent TEXT, p_path TEXT, p_accept TEXT,
    p_session TEXT, p_at BIGINT, p_logout BIGINT
) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(p_release_keys) > 0 THEN
        PERFORM axes_release(p_instance, p_release_keys, p_release_ids);
    END IF;
    IF p_log THEN
        INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, http_accept,
            session_hash, attempt_time_ms, logout_time_ms)
        VALUES (p_username, p_ip, p_user_agent, p_path, p_accept, p_session, p_at, p_logout);
    END IF;
END
$$;
