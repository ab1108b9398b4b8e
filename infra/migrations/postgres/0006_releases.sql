-- Release workflow (issue 5), PostgreSQL backend. A researcher asks for files of a finished job to be released;
-- independent checkers vote per file; approved files are frozen by SHA-256 and may then be
-- downloaded. Votes belong to a round: a resubmission starts a new round and a file whose
-- bytes changed (or that was not approved) takes votes of the new round only.

-- Approvals each file needs in the project (never fewer than 2 for pseudonymized data;
-- enforced by the policy crate whatever is stored here).
ALTER TABLE projects ADD COLUMN release_approvals BIGINT NOT NULL DEFAULT 2;

CREATE TABLE release_requests (
    id            TEXT PRIMARY KEY,
    project       TEXT NOT NULL REFERENCES projects(name),
    dataset       TEXT NOT NULL,
    author        TEXT NOT NULL REFERENCES users(name),
    state         TEXT NOT NULL CHECK (state IN ('submitted', 'partially_reviewed', 'reviewed',
                      'released', 'returned', 'withdrawn', 'rejected')),
    round         BIGINT NOT NULL,
    context       TEXT NOT NULL,
    justification TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    released_at   TEXT,
    record        TEXT                     -- release record JSON, frozen on release
);
CREATE INDEX release_requests_project ON release_requests(project, created_at);
CREATE INDEX release_requests_state ON release_requests(state, created_at);

CREATE TABLE release_files (
    request_id      TEXT NOT NULL REFERENCES release_requests(id),
    name            TEXT NOT NULL,
    job_id          TEXT NOT NULL REFERENCES jobs(id),
    variant         TEXT NOT NULL CHECK (variant IN ('original', 'suggested')),
    sha256          TEXT NOT NULL,          -- names the bytes in the quarantine
    size            BIGINT NOT NULL,
    verdict         TEXT CHECK (verdict IN ('pass', 'review', 'fail')),
    round           BIGINT NOT NULL,       -- votes of this round count
    outcome         TEXT CHECK (outcome IN ('approved', 'changes', 'rejected')),
    released_sha256 TEXT,                   -- frozen on release
    PRIMARY KEY (request_id, name)
);

CREATE TABLE release_votes (
    request_id  TEXT NOT NULL REFERENCES release_requests(id),
    name        TEXT NOT NULL,
    round       BIGINT NOT NULL,
    checker     TEXT NOT NULL REFERENCES users(name),
    vote        TEXT NOT NULL CHECK (vote IN ('approve', 'changes', 'reject')),
    comment     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (request_id, name, round, checker)
);

-- Frequency tables released in a project on a dataset: the differencing check compares
-- every new table with these.
CREATE TABLE release_ledger (
    project     TEXT NOT NULL REFERENCES projects(name),
    dataset     TEXT NOT NULL,
    request_id  TEXT NOT NULL REFERENCES release_requests(id),
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    spec        TEXT NOT NULL,              -- JSON: dimensions, value column, total label
    released_at TEXT NOT NULL,
    PRIMARY KEY (request_id, name)
);
CREATE INDEX release_ledger_project ON release_ledger(project, dataset);
