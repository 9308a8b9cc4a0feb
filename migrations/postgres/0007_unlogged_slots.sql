-- Attempts in flight are leases that lapse within seconds: they need not
-- survive a crash of the database, nor reach its replicas. Unlogged, an
-- admission that only takes slots commits without waiting for a WAL flush.
-- After a crash (or a failover) the tables start empty: the app servers'
-- next admissions take their leases again.
ALTER TABLE axes_slots SET UNLOGGED;
ALTER TABLE axes_instances SET UNLOGGED;
