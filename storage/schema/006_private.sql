-- Private XML storage (XEP-0049): fragments an account keeps on its server, keyed by the root
-- element's name and namespace, each kept as the serialised XML of that element.
CREATE TABLE private_storage (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    namespace  text NOT NULL,
    name       text NOT NULL,
    xml        text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, namespace, name)
);

-- Stores one fragment for (p_domain, p_username); false when there is no such account. Raises
-- SQLSTATE CV001 when the account already holds p_max_items other fragments, which aborts the
-- whole batch a multi-element set runs in (all or nothing). The account row is locked so that
-- concurrent writes of one account cannot both slip under the limit.
CREATE FUNCTION private_storage_put(p_domain text, p_username text, p_namespace text,
                                    p_name text, p_xml text, p_max_items integer)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_account bigint;
BEGIN
    SELECT id INTO v_account FROM accounts
        WHERE domain = p_domain AND username = p_username FOR NO KEY UPDATE;
    IF v_account IS NULL THEN
        RETURN false;
    END IF;
    UPDATE private_storage SET xml = p_xml, updated_at = now()
        WHERE account_id = v_account AND namespace = p_namespace AND name = p_name;
    IF FOUND THEN
        RETURN true;
    END IF;
    IF (SELECT count(*) FROM private_storage WHERE account_id = v_account) >= p_max_items THEN
        RAISE EXCEPTION 'private XML storage is full (% items)', p_max_items
            USING ERRCODE = 'CV001';
    END IF;
    INSERT INTO private_storage (account_id, namespace, name, xml)
        VALUES (v_account, p_namespace, p_name, p_xml);
    RETURN true;
END
$$;
