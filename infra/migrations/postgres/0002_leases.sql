-- Job leases: a worker holds a running job until lease_expires_at and extends
-- the lease while it runs (heartbeat). A job whose lease expired is re-queued
-- by any worker; completion is accepted only from the worker holding the
-- current attempt, so a job completes at most once.
ALTER TABLE jobs ADD COLUMN worker_id TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;
CREATE INDEX jobs_lease ON jobs(state, lease_expires_at);
