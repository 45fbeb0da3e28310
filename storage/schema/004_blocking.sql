-- Blocklists (XEP-0191): the JIDs (full, bare or domain, prepared) each account has blocked.

CREATE TABLE blocklist_items (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    jid        text NOT NULL,
    PRIMARY KEY (account_id, jid)
);
