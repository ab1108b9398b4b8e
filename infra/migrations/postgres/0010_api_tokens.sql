-- Per-user API tokens for the HTTPS door. A token reads `enc_<id>_<secret>`;
-- only the public id and an argon2 hash (PHC string) of the secret are kept.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES users(name),
    label        TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

CREATE INDEX api_tokens_user ON api_tokens (user_name);
