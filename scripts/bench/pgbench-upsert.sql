-- pgbench: one counter upsert per transaction, as a failure bumps a
-- counter (scripts/bench.sh measures PostgreSQL's own rate with it).
\set k random(1, 100000)
INSERT INTO axes_bench.counters (k, n) VALUES (:k, 1)
    ON CONFLICT (k) DO UPDATE SET n = axes_bench.counters.n + 1;
