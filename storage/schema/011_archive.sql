-- The message archive (XEP-0313): both sides of the one-to-one messages of each account.
--
-- `id` is the archive UID, sent to clients as the <stanza-id/> (XEP-0359) and the RSM/MAM ids:
-- the time the server archived the message in microseconds since 1970, made strictly increasing
-- by the server that archives it. It orders the archive, and time filters (start/end) become id
-- ranges, so one index serves paging and time filters alike. It is unique per archive (the
-- primary key); the two archives of a message between two local accounts each have their own.

CREATE TABLE archive_messages (
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            bigint NOT NULL,
    -- The other party: its bare JID (the account's own for a message to itself) and resource.
    with_jid      text NOT NULL,
    with_resource text NOT NULL DEFAULT '',
    -- Sent by the account (true) or received (false).
    outgoing      boolean NOT NULL,
    -- The message as XML (xmlns='jabber:client'), as sent or as delivered.
    stanza        text NOT NULL,
    -- The <body/> text, for full-text search (XEP-0431); NULL when there is none.
    body          text,
    PRIMARY KEY (account_id, id)
);

-- `with` queries page through one conversation.
CREATE INDEX archive_messages_with ON archive_messages (account_id, with_jid, id);

-- Full-text search of bodies with PostgreSQL's own text search. The 'simple' configuration
-- lower-cases words without language-specific stemming: archives hold every language.
CREATE INDEX archive_messages_fulltext ON archive_messages
    USING gin (to_tsvector('simple', body)) WHERE body IS NOT NULL;

-- Expiry (modules.mam.retention_days) deletes by id, that is by age: ids grow with the insertion
-- order, which a BRIN index summarises in a few pages.
CREATE INDEX archive_messages_expiry ON archive_messages USING brin (id);

-- Archiving preferences (XEP-0313 §6) of the accounts that set any; the others follow
-- modules.mam.default_policy.
CREATE TABLE archive_prefs (
    account_id     bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    default_policy text NOT NULL CHECK (default_policy IN ('always', 'never', 'roster')),
    -- Bare JIDs (prepared) always / never archived, whatever the default.
    always_jids    text[] NOT NULL DEFAULT '{}',
    never_jids     text[] NOT NULL DEFAULT '{}'
);
