-- pgbench: one single-row insert per transaction, as an access log entry
-- (scripts/bench.sh measures PostgreSQL's own rate with it).
\set k random(1, 100000000)
INSERT INTO axes_bench.inserts (k, at_ms) VALUES (:k, 0);
