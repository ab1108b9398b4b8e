-- Output checks (issue 4). After a run every quarantined output is checked under the
-- project's rule preset. The job keeps the whole check record (JSON: rule set, tool
-- version, every verdict, cell values and hashes; for checkers and the release record,
-- never shown to researchers). Each output keeps its verdict, a reason summary (codes and
-- cell counts only: safe to show the researcher), its suggested safe version (stored
-- content-addressed in the quarantine) and whether it is checker evidence, which is
-- never released.
ALTER TABLE jobs ADD COLUMN check_record TEXT;
ALTER TABLE outputs ADD COLUMN verdict TEXT CHECK (verdict IN ('pass', 'review', 'fail'));
ALTER TABLE outputs ADD COLUMN reasons TEXT;             -- JSON array of {code, verdict, cells}
ALTER TABLE outputs ADD COLUMN suggested_name TEXT;
ALTER TABLE outputs ADD COLUMN suggested_sha256 TEXT;
ALTER TABLE outputs ADD COLUMN never_release BIGINT NOT NULL DEFAULT 0;
