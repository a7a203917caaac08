-- API tokens for integrators (DESIGN §10). Only the SHA-256 of a secret is stored: the digest
-- CHECK refuses anything but 64 hex digits, so a raw secret (inv_...) can never land here.
-- Authenticating is one read by the unique digest index, joined with the token's user so the
-- user's current role and active flag come with it. Revoking deletes the row; deleting a user
-- deletes their tokens.
--
-- A new table only: the release before this one never touches it, so this runs while it serves.

CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL,
    name         text        NOT NULL,
    role         text        NOT NULL,
    digest       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT api_tokens_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT api_tokens_role_check CHECK (role IN ('viewer', 'clerk', 'manager', 'admin')),
    CONSTRAINT api_tokens_digest_check CHECK (digest ~ '^[0-9a-f]{64}$'),
    CONSTRAINT api_tokens_digest_key UNIQUE (digest)
);

-- A user's tokens, in id order (the listing), and the foreign key's cascade.
CREATE INDEX api_tokens_user_id_id_idx ON api_tokens (user_id, id);
