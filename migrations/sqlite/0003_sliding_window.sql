-- Failure times of a counter under a sliding window (use_attempt_expiration):
-- milliseconds since the epoch, comma-separated, oldest first; '' otherwise.
ALTER TABLE axes_counters ADD COLUMN recent TEXT NOT NULL DEFAULT '';
