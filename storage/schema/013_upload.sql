-- HTTP file upload (XEP-0363): every slot handed out, for the per-account quota and retention.
-- A slot counts against its account's quota from the moment it is handed out until retention
-- deletes it (the files themselves live in modules.upload.directory).
CREATE TABLE upload_slots (
    slot       text PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    size       bigint NOT NULL CHECK (size > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_slots_account ON upload_slots (account_id);
CREATE INDEX upload_slots_created ON upload_slots (created_at);
