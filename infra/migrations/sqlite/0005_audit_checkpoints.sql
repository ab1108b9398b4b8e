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
    id          INTEGER PRIMARY KEY,
    tree_size   BIGINT NOT NULL,
    root_hash   TEXT NOT NULL,
    time        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_size ON audit_checkpoints(tree_size);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
