-- enclave schema, PostgreSQL backend. Times are RFC 3339 UTC text; JSON is text.

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    roles       TEXT NOT NULL,              -- comma-separated role names
    disabled    BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

CREATE TABLE ssh_keys (
    fingerprint TEXT PRIMARY KEY,           -- SHA256:... of the public key
    user_name   TEXT NOT NULL REFERENCES users(name),
    public_key  TEXT NOT NULL,              -- OpenSSH one-line form, comment stripped
    added_at    TEXT NOT NULL
);

CREATE TABLE datasets (
    name          TEXT PRIMARY KEY,
    path          TEXT NOT NULL,
    class         TEXT NOT NULL CHECK (class IN ('anonymized', 'pseudonymized')),
    version       TEXT NOT NULL,
    tables        TEXT NOT NULL,            -- JSON array of table names
    registered_at TEXT NOT NULL
);

CREATE TABLE projects (
    name          TEXT PRIMARY KEY,
    organization  TEXT NOT NULL,
    expires_on    TEXT NOT NULL,            -- YYYY-MM-DD, last valid day
    rules         TEXT NOT NULL,            -- output rule preset
    active        BIGINT NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

CREATE TABLE project_members (
    project     TEXT NOT NULL REFERENCES projects(name),
    user_name   TEXT NOT NULL REFERENCES users(name),
    PRIMARY KEY (project, user_name)
);

CREATE TABLE project_datasets (
    project     TEXT NOT NULL REFERENCES projects(name),
    dataset     TEXT NOT NULL REFERENCES datasets(name),
    PRIMARY KEY (project, dataset)
);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    project         TEXT NOT NULL REFERENCES projects(name),
    submitter       TEXT NOT NULL REFERENCES users(name),
    name            TEXT NOT NULL,
    module_sha256   TEXT NOT NULL,
    module_size     BIGINT NOT NULL,
    args            TEXT NOT NULL,          -- JSON array
    dataset         TEXT NOT NULL,
    dataset_version TEXT NOT NULL,
    limits          TEXT NOT NULL,          -- JSON object
    seed            TEXT NOT NULL,          -- hex, derived from the job id
    state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    reason          TEXT,
    exit_code       BIGINT,
    usage           TEXT,                   -- JSON object
    attempts        BIGINT NOT NULL DEFAULT 0,
    submitted_at    TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT
);
CREATE INDEX jobs_state ON jobs(state, submitted_at);
CREATE INDEX jobs_submitter ON jobs(submitter, submitted_at);

CREATE TABLE outputs (
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('file', 'stdout', 'stderr')),
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    truncated   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, kind, name)
);

CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    door        TEXT NOT NULL,
    source      TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    project     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_actor ON audit_events(actor, seq);
CREATE INDEX audit_action ON audit_events(action, seq);

-- The audit trail is append-only: the store itself refuses changes. Operators should
-- also run the gateway as a role without UPDATE, DELETE or TRUNCATE on this table
-- (infra/postgres/setup.sh creates such a role).
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'enclave_gateway') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM enclave_gateway;
    END IF;
END
$$;
