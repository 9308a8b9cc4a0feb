-- The tables of scripts/bench/pgbench-*.sql, in a schema of their own.
CREATE SCHEMA IF NOT EXISTS axes_bench;
CREATE TABLE IF NOT EXISTS axes_bench.inserts (id BIGSERIAL PRIMARY KEY, k BIGINT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS axes_bench.counters (k BIGINT PRIMARY KEY, n BIGINT NOT NULL);
TRUNCATE axes_bench.inserts, axes_bench.counters;
