-- Rosters (RFC 6121 §2) with the presence subscription state of every contact (RFC 6121 §3).
--
-- One row per contact the account has in its roster, and one per contact that asked for a
-- subscription the user has not answered yet (in_roster = false: such a request must not add the
-- contact to the roster, RFC 6121 §3.1.3, but it has to survive until the user answers).

CREATE TABLE roster_items (
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The contact's bare JID, prepared (RFC 7622).
    jid            text NOT NULL,
    -- The user's name for the contact; NULL when none was given.
    name           text,
    groups         text[] NOT NULL DEFAULT '{}',
    subscription   text NOT NULL DEFAULT 'none'
                   CHECK (subscription IN ('none', 'to', 'from', 'both')),
    -- Pending out: the user asked for the contact's presence (ask='subscribe').
    ask_out        boolean NOT NULL DEFAULT false,
    -- Pending in: the contact asked for the user's presence; pending_stanza holds the request,
    -- delivered again at each login until the user answers.
    pending_in     boolean NOT NULL DEFAULT false,
    pending_stanza text,
    -- Pre-approved (RFC 6121 §3.4): a request from the contact will be approved at once.
    approved       boolean NOT NULL DEFAULT false,
    in_roster      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (account_id, jid)
);

-- The roster version (XEP-0237 / RFC 6121 §2.6): bumped by every change a client can see.
CREATE TABLE roster_versions (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    version    bigint NOT NULL
);
