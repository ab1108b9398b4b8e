-- Audit events gain the dataset, session and request id as columns (they are
-- part of each event's hash), and signed checkpoints of the RFC 6962 Merkle
-- tree over all events are kept beside them, append-only.
ALTER TABLE audit_events ADD COLUMN dataset TEXT NOT NULL DEFAULT '-';
ALTER TABLE audit_events ADD COLUMN session TEXT NOT NULL DEFAULT '-';
ALTER TABLE audit_events ADD COLUMN request_id TEXT NOT NULL DEFAULT '-';
CREATE INDEX audit_project ON audit_events(project, seq);
CREATE INDEX audit_target ON audit_events(target, seq);
CREATE INDEX audit_dataset ON audit_events(dataset, seq);
CREATE INDEX audit_time ON audit_events(time);

CREATE TABLE audit_checkpoints (
    id          BIGINT PRIMARY KEY,
    tree_size   BIGINT NOT NULL,
    root_hash   TEXT NOT NULL,
    time        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_size ON audit_checkpoints(tree_size);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_checkpoints FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'enclave_gateway') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_checkpoints FROM enclave_gateway;
    END IF;
END
$$;
