-- Retention: old audit events may be purged, but only below a recorded cut.
-- A purge record keeps what verification needs afterwards: the chain hash and
-- time of the last purged event (the next event links to it) and the RFC 6962
-- frontier at the cut (roots of the perfect subtrees covering the purged
-- prefix), from which the tree head and every proof for later events follow.
-- Purge records are append-only; events can be deleted only at or below the
-- newest record's cut, so an ordinary DELETE is still refused. The serving
-- role (`enclave_gateway`) still has no DELETE on events: purging runs as the
-- owner (`enclave audit purge` with the owner's URL).
CREATE TABLE audit_purges (
    id          BIGINT PRIMARY KEY,
    cut_seq     BIGINT NOT NULL,
    last_hash   TEXT NOT NULL,
    last_time   TEXT NOT NULL,
    root_hash   TEXT NOT NULL,
    frontier    TEXT NOT NULL,
    time        TEXT NOT NULL
);
CREATE TRIGGER audit_purges_no_update BEFORE UPDATE OR DELETE ON audit_purges
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_purges_no_truncate BEFORE TRUNCATE ON audit_purges
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_purges FROM PUBLIC;

-- One guard for UPDATE and DELETE, under the trigger name it always had.
CREATE FUNCTION audit_events_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.seq <= (SELECT COALESCE(MAX(cut_seq), 0) FROM audit_purges) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER audit_events_no_update ON audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'enclave_gateway') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_purges FROM enclave_gateway;
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM enclave_gateway;
    END IF;
END
$$;
