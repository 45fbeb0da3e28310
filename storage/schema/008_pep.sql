-- Personal eventing (XEP-0163): the pubsub nodes of each account (XEP-0060 subset) and their
-- published items.

CREATE TABLE pep_nodes (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    node          text NOT NULL,
    -- XEP-0060 §4.5 access models corvid offers for PEP; 'presence' is XEP-0163's default.
    access_model  text NOT NULL DEFAULT 'presence'
                  CHECK (access_model IN ('presence', 'open', 'whitelist')),
    -- pubsub#max_items: items kept; older ones are dropped at publish (XEP-0060 §7.1.4 implies
    -- nothing about which, corvid drops the oldest).
    max_items     integer NOT NULL DEFAULT 1 CHECK (max_items >= 1),
    persist_items boolean NOT NULL DEFAULT true,
    -- pubsub#send_last_published_item.
    send_last     text NOT NULL DEFAULT 'on_sub_and_presence'
                  CHECK (send_last IN ('never', 'on_sub', 'on_sub_and_presence')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, node)
);

-- Publication order of items, global so that a republished item moves to the front.
CREATE SEQUENCE pep_item_seq;

CREATE TABLE pep_items (
    node_id      bigint NOT NULL REFERENCES pep_nodes (id) ON DELETE CASCADE,
    item_id      text NOT NULL,
    -- The payload element, serialised.
    payload      text NOT NULL,
    -- The full JID that published it.
    publisher    text NOT NULL,
    seq          bigint NOT NULL DEFAULT nextval('pep_item_seq'),
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, item_id)
);
CREATE INDEX pep_items_node_seq ON pep_items (node_id, seq DESC);

-- The last item on presence (XEP-0163 §6.2) looks up whose rosters hold the contact that came
-- online: roster_items is keyed by (account_id, jid), this is the reverse direction.
CREATE INDEX roster_items_jid ON roster_items (jid);

-- Publishes one item (XEP-0060 §7.1), creating the node when it does not exist yet (XEP-0163
-- §3 auto-create) with the publish options as its configuration. The p_access .. p_send_last
-- options are NULL when not given; given ones must match an existing node's configuration, else
-- 'precondition' (XEP-0060 §7.1.5) and nothing is stored. Afterwards the node holds at most
-- max_items items (the oldest go). Returns the status ('published', 'no_account', 'too_many_nodes',
-- 'precondition') and the node's configuration.
CREATE FUNCTION pep_publish(p_domain text, p_username text, p_node text, p_item_id text,
                            p_payload text, p_publisher text, p_access text, p_max_items integer,
                            p_persist boolean, p_send_last text, p_default_max integer,
                            p_max_nodes integer)
RETURNS TABLE (status text, access_model text, max_items integer, persist_items boolean,
               send_last text, created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_account bigint;
    v_node pep_nodes%ROWTYPE;
    v_created boolean := false;
BEGIN
    -- The account row is locked so that concurrent creations cannot both slip under the limit.
    SELECT id INTO v_account FROM accounts
        WHERE domain = p_domain AND username = p_username FOR NO KEY UPDATE;
    IF v_account IS NULL THEN
        RETURN QUERY SELECT 'no_account'::text, NULL::text, NULL::integer, NULL::boolean,
                            NULL::text, false;
        RETURN;
    END IF;
    SELECT * INTO v_node FROM pep_nodes n WHERE n.account_id = v_account AND n.node = p_node;
    IF NOT FOUND THEN
        IF (SELECT count(*) FROM pep_nodes n WHERE n.account_id = v_account) >= p_max_nodes THEN
            RETURN QUERY SELECT 'too_many_nodes'::text, NULL::text, NULL::integer, NULL::boolean,
                                NULL::text, false;
            RETURN;
        END IF;
        INSERT INTO pep_nodes (account_id, node, access_model, max_items, persist_items, send_last)
            VALUES (v_account, p_node, COALESCE(p_access, 'presence'),
                    COALESCE(p_max_items, p_default_max), COALESCE(p_persist, true),
                    COALESCE(p_send_last, 'on_sub_and_presence'))
            RETURNING * INTO v_node;
        v_created := true;
    ELSIF (p_access IS NOT NULL AND p_access <> v_node.access_model)
       OR (p_max_items IS NOT NULL AND p_max_items <> v_node.max_items)
       OR (p_persist IS NOT NULL AND p_persist <> v_node.persist_items)
       OR (p_send_last IS NOT NULL AND p_send_last <> v_node.send_last) THEN
        RETURN QUERY SELECT 'precondition'::text, v_node.access_model, v_node.max_items,
                            v_node.persist_items, v_node.send_last, false;
        RETURN;
    END IF;
    INSERT INTO pep_items (node_id, item_id, payload, publisher)
        VALUES (v_node.id, p_item_id, p_payload, p_publisher)
        ON CONFLICT (node_id, item_id) DO UPDATE
        SET payload = EXCLUDED.payload, publisher = EXCLUDED.publisher,
            seq = nextval('pep_item_seq'), published_at = now();
    -- Without persistence only the last item is kept (for the last-published-item delivery).
    DELETE FROM pep_items i WHERE i.node_id = v_node.id AND i.item_id IN (
        SELECT k.item_id FROM pep_items k WHERE k.node_id = v_node.id ORDER BY k.seq DESC
        OFFSET CASE WHEN v_node.persist_items THEN v_node.max_items ELSE 1 END);
    RETURN QUERY SELECT 'published'::text, v_node.access_model, v_node.max_items,
                        v_node.persist_items, v_node.send_last, v_created;
END
$$;

-- Creates a node (XEP-0060 §8.1) with this configuration: 'created', 'exists', 'no_account' or
-- 'too_many_nodes'.
CREATE FUNCTION pep_create(p_domain text, p_username text, p_node text, p_access text,
                           p_max_items integer, p_persist boolean, p_send_last text,
                           p_max_nodes integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_account bigint;
BEGIN
    SELECT id INTO v_account FROM accounts
        WHERE domain = p_domain AND username = p_username FOR NO KEY UPDATE;
    IF v_account IS NULL THEN
        RETURN 'no_account';
    END IF;
    IF EXISTS (SELECT 1 FROM pep_nodes WHERE account_id = v_account AND node = p_node) THEN
        RETURN 'exists';
    END IF;
    IF (SELECT count(*) FROM pep_nodes WHERE account_id = v_account) >= p_max_nodes THEN
        RETURN 'too_many_nodes';
    END IF;
    INSERT INTO pep_nodes (account_id, node, access_model, max_items, persist_items, send_last)
        VALUES (v_account, p_node, p_access, p_max_items, p_persist, p_send_last);
    RETURN 'created';
END
$$;

-- Replaces a node's configuration (XEP-0060 §8.2) and drops the items beyond the new
-- max_items; false when there is no such node.
CREATE FUNCTION pep_configure(p_domain text, p_username text, p_node text, p_access text,
                              p_max_items integer, p_persist boolean, p_send_last text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_node bigint;
BEGIN
    UPDATE pep_nodes n SET access_model = p_access, max_items = p_max_items,
                           persist_items = p_persist, send_last = p_send_last
        FROM accounts a
        WHERE a.id = n.account_id AND a.domain = p_domain AND a.username = p_username
          AND n.node = p_node
        RETURNING n.id INTO v_node;
    IF v_node IS NULL THEN
        RETURN false;
    END IF;
    DELETE FROM pep_items i WHERE i.node_id = v_node AND i.item_id IN (
        SELECT k.item_id FROM pep_items k WHERE k.node_id = v_node ORDER BY k.seq DESC
        OFFSET CASE WHEN p_persist THEN p_max_items ELSE 1 END);
    RETURN true;
END
$$;
