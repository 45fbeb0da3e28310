-- Accounts and their SCRAM credentials (RFC 5802 §3, RFC 7677). Never a password: only what a
-- SCRAM server needs (salt, iteration count, StoredKey, ServerKey) for each hash function.
--
-- Other per-user tables (roster, offline messages, vCards, archive ...) reference accounts(id)
-- with ON DELETE CASCADE, so deleting the accounts row removes everything of the user.

CREATE TABLE accounts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Both already normalised (RFC 7622 domainpart and localpart) by the caller.
    domain     text NOT NULL,
    username   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_domain_username_key UNIQUE (domain, username)
);

CREATE TABLE account_scram (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The hash function: 'SHA-1' (SCRAM-SHA-1) or 'SHA-256' (SCRAM-SHA-256).
    mechanism  text NOT NULL CHECK (mechanism IN ('SHA-1', 'SHA-256')),
    salt       bytea NOT NULL,
    iterations integer NOT NULL CHECK (iterations > 0),
    stored_key bytea NOT NULL,
    server_key bytea NOT NULL,
    PRIMARY KEY (account_id, mechanism)
);
