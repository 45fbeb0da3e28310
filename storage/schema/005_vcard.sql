-- vcard-temp (XEP-0054): one vCard per account, kept as the XML the owner published (the whole
-- <vCard xmlns='vcard-temp'> element, serialised by corvid, which parses it back when asked).
-- The server never interprets it; its size is limited by the module before it gets here.
CREATE TABLE vcards (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    xml        text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
