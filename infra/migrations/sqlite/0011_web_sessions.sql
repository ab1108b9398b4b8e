-- Password + TOTP sign-in for the web pages, and the sessions it opens.
-- Passwords are kept only as argon2 PHC strings. A TOTP secret must be read back to check
-- codes, so it is sealed (XChaCha20-Poly1305 under the node's web key, see SECURITY.md).
CREATE TABLE web_credentials (
    user_name       TEXT PRIMARY KEY REFERENCES users(name),
    password_hash   TEXT,
    totp_sealed     TEXT,
    -- The last TOTP time step accepted: a code is good once (replay guard).
    totp_last_step  BIGINT NOT NULL DEFAULT 0,
    failed_logins   BIGINT NOT NULL DEFAULT 0,
    locked_until    TEXT,
    updated_at      TEXT NOT NULL
);

-- One row per signed-in browser. The cookie holds a random value; only its SHA-256 is kept.
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL REFERENCES users(name),
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    ended_at    TEXT,
    end_reason  TEXT
);

CREATE INDEX web_sessions_user ON web_sessions (user_name);
