-- The admissions, failures and successes of many attempts in one call: an
-- app server sends those that queued while its previous call ran
-- together, so that they share one round trip and one commit.

-- Takes the turn (a transaction's advisory lock) of each of `p_keys` in the
-- space `p_space`, in one order, so that two calls taking turns on shared
-- keys never wait on each other in a cycle. (PL/pgSQL: `PERFORM` runs the
-- whole query, where an SQL function could stop at its first row.)
CREATE OR REPLACE FUNCTION axes_take_turns(p_keys TEXT[], p_space BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h)
    FROM (SELECT DISTINCT hashtextextended(k, p_space) AS h
          FROM unnest(p_keys) AS k WHERE k IS NOT NULL) AS turns
    ORDER BY h;
END
$$;

-- `axes_admit` for each request `i` in turn: its keys read are
-- `p_read[p_read_end[i - 1] + 1 : p_read_end[i]]`, and so for the slots
-- taken and the keys counted. The turns of every key counted are taken
-- first, in one order, so that calls sharing keys do not deadlock. Each
-- row names its request.
CREATE OR REPLACE FUNCTION axes_admit_many(
    p_instance TEXT[], p_lease_ms BIGINT[], p_read TEXT[], p_read_end INT[],
    p_take_keys TEXT[], p_take_ids BIGINT[], p_take_end INT[], p_count TEXT[], p_count_end INT[]
) RETURNS TABLE (
    lockout_key TEXT, failures BIGINT, last_failure_ms BIGINT, recent TEXT, holders BIGINT,
    waited BOOLEAN, request INT
)
LANGUAGE plpgsql AS $$
DECLARE
    r INT := 0;
    t INT := 0;
    c INT := 0;
BEGIN
    PERFORM axes_take_turns(p_count, 0);
    FOR i IN 1 .. coalesce(cardinality(p_instance), 0) LOOP
        RETURN QUERY
            SELECT a.lockout_key, a.failures, a.last_failure_ms, a.recent, a.holders, a.waited, i
            FROM axes_admit(p_read[r + 1 : p_read_end[i]], p_instance[i],
                p_take_keys[t + 1 : p_take_end[i]], p_take_ids[t + 1 : p_take_end[i]],
                p_count[c + 1 : p_count_end[i]], p_lease_ms[i]) AS a;
        r := p_read_end[i];
        t := p_take_end[i];
        c := p_count_end[i];
    END LOOP;
END
$$;

-- Successes and slots given back, of many attempts: the slots
-- (`p_release_keys[j]`, `p_release_instance[j]`, `p_release_ids[j]`) are
-- given back (waking those waiting on their keys) and the access log
-- entries are added.
CREATE OR REPLACE FUNCTION axes_record_logins(
    p_release_instance TEXT[], p_release_keys TEXT[], p_release_ids BIGINT[],
    p_username TEXT[], p_ip TEXT[], p_user_agent TEXT[], p_path TEXT[], p_accept TEXT[],
    p_session TEXT[], p_at BIGINT[], p_logout BIGINT[]
) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    holder TEXT;
BEGIN
    IF cardinality(p_release_keys) > 0 THEN
        DELETE FROM axes_slots AS s
        USING unnest(p_release_instance, p_release_keys, p_release_ids) AS r(inst, k, id)
        WHERE s.lockout_key = r.k AND s.instance = r.inst AND s.slot = r.id;
        FOR holder IN SELECT DISTINCT o FROM unnest(p_release_instance) AS o LOOP
            PERFORM axes_wake(ARRAY(
                SELECT r.k FROM unnest(p_release_instance, p_release_keys) AS r(inst, k)
                WHERE r.inst = holder), holder);
        END LOOP;
    END IF;
    IF cardinality(p_username) > 0 THEN
        INSERT INTO axes_access_logs (username, ip_address, user_agent, path_info, http_accept,
            session_hash, attempt_time_ms, logout_time_ms)
        SELECT * FROM unnest(p_username, p_ip, p_user_agent, p_path, p_accept, p_session, p_at,
            p_logout);
    END IF;
END
$$;

-- `axes_record_failure` for each request `i` in turn, its arrays sliced
-- as `axes_admit_many` slices them (`p_from` and `p_window` by
-- `p_steps_end`). A call bumps many requests' rows in one transaction, so
-- before the first it takes a turn on every key it writes (in one order,
-- so that two calls do not wait on each other's new rows) and locks the
-- rows that exist in the store's order (attempt records by id, then
-- counters by key), as a reset locks them. Each row names its request.
CREATE OR REPLACE FUNCTION axes_record_failures(
    p_keys TEXT[], p_keys_end INT[], p_at BIGINT[], p_from BIGINT[], p_window BIGINT[],
    p_steps_end INT[], p_longest BIGINT[], p_keep INT[],
    p_attempt_key TEXT[], p_username TEXT[], p_ip TEXT[], p_user_agent TEXT[],
    p_path TEXT[], p_accept TEXT[], p_get TEXT[], p_post TEXT[],
    p_instance TEXT[], p_release_keys TEXT[], p_release_ids BIGINT[], p_release_end INT[]
) RETURNS TABLE (
    lockout_key TEXT, failures BIGINT, last_failure_ms BIGINT, recent TEXT, request INT
)
LANGUAGE plpgsql AS $$
DECLARE
    k INT := 0;
    s INT := 0;
    r INT := 0;
BEGIN
    PERFORM axes_take_turns(p_keys || p_attempt_key, 1);
    PERFORM 1 FROM axes_attempts AS a WHERE a.attempt_key = ANY(p_attempt_key)
    ORDER BY a.id FOR UPDATE;
    PERFORM 1 FROM axes_counters AS c WHERE c.lockout_key = ANY(p_keys)
    ORDER BY c.lockout_key COLLATE "C" FOR UPDATE;
    FOR i IN 1 .. coalesce(cardinality(p_at), 0) LOOP
        RETURN QUERY
            SELECT f.lockout_key, f.failures, f.last_failure_ms, f.recent, i
            FROM axes_record_failure(p_keys[k + 1 : p_keys_end[i]], p_at[i],
                p_from[s + 1 : p_steps_end[i]], p_window[s + 1 : p_steps_end[i]],
                p_longest[i], p_keep[i], p_attempt_key[i], p_username[i], p_ip[i],
                p_user_agent[i], p_path[i], p_accept[i], p_get[i], p_post[i], p_instance[i],
                p_release_keys[r + 1 : p_release_end[i]],
                p_release_ids[r + 1 : p_release_end[i]]) AS f;
        k := p_keys_end[i];
        s := p_steps_end[i];
        r := p_release_end[i];
    END LOOP;
END
$$;
