-- Attempts in flight are counted in the owning process's memory now.
DROP TABLE IF EXISTS axes_in_flight;
