-- API keys of the API servers (JONBU_STORE=postgres): shared by every replica.
-- Only the SHA-256 hash of a key is stored; `prefix` is its first characters, for listings.
CREATE TABLE IF NOT EXISTS api_keys (
    name        text        NOT NULL,
    scope       text        NOT NULL CHECK (scope IN ('read', 'admin')),
    hash        text        NOT NULL,
    prefix      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (hash)
);
-- One active key per name (revoked ones are kept for the record).
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
