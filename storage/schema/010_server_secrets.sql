-- Secrets the server makes up once and keeps across restarts and cluster nodes: the key behind the
-- invented SCRAM salts of unknown users (no account enumeration, RFC 5802 §5.1) and the server
-- dialback secret (XEP-0185). Never sent to anyone.
CREATE TABLE server_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
