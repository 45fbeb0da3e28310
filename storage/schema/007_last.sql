-- Last activity (XEP-0012 §3): when each account's last resource went away and the status text of
-- its last unavailable presence. Times are the database's clock, so that every corvid node
-- sharing the database measures "seconds since" alike.
CREATE TABLE last_activity (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    logout_at  timestamptz NOT NULL,
    status     text NOT NULL DEFAULT ''
);
