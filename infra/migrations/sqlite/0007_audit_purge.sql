-- Retention: old audit events may be purged, but only below a recorded cut.
-- A purge record keeps what verification needs afterwards: the chain hash and
-- time of the last purged event (the next event links to it) and the RFC 6962
-- frontier at the cut (roots of the perfect subtrees covering the purged
-- prefix), from which the tree head and every proof for later events follow.
-- Purge records are append-only; events can be deleted only at or below the
-- newest record's cut, so an ordinary DELETE is still refused.
CREATE TABLE audit_purges (
    id          INTEGER PRIMARY KEY,
    cut_seq     BIGINT NOT NULL,
    last_hash   TEXT NOT NULL,
    last_time   TEXT NOT NULL,
    root_hash   TEXT NOT NULL,
    frontier    TEXT NOT NULL,
    time        TEXT NOT NULL
);
CREATE TRIGGER audit_purges_no_update BEFORE UPDATE ON audit_purges
BEGIN
    SELECT RAISE(ABORT, 'audit purge records are append-only');
END;
CREATE TRIGGER audit_purges_no_delete BEFORE DELETE ON audit_purges
BEGIN
    SELECT RAISE(ABORT, 'audit purge records are append-only');
END;

DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > (SELECT COALESCE(MAX(cut_seq), 0) FROM audit_purges)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
