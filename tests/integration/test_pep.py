"""Personal eventing (XEP-0163) on the XEP-0060 subset: publish, items, retract, publish-options,
access models, notifications filtered by entity capabilities (XEP-0115), the last item on
presence, persistence across a restart. Raw clients for exact stanzas; slixmpp and nbxmpp
(Gajim's library) for what real clients do with avatars (XEP-0084) and OMEMO device lists
(XEP-0384)."""

import asyncio
import base64
import hashlib
import json
import subprocess

import pytest

import slix
from im_support import IQ, MESSAGE, PRESENCE, connect, q, to_str
from test_im_presence import befriend

NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_ERRORS = "http://jabber.org/protocol/pubsub#errors"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_CLIENT = "jabber:client"
AVATAR_DATA = "urn:xmpp:avatar:data"
AVATAR_METADATA = "urn:xmpp:avatar:metadata"
DEVICELIST = "eu.siacs.conversations.axolotl.devicelist"
AXOLOTL = "eu.siacs.conversations.axolotl"
SYSTEM_PYTHON = "/usr/bin/python3"


# -- helpers --

def caps_ver(identities, features):
    """XEP-0115 §5.1 with sha-1, without extended forms."""
    s = "".join(f"{c}/{t}//{n}<" for c, t, n in sorted(identities))
    s += "".join(f"{f}<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def announce(client, notify=(), tag="raw", expect_query=True):
    """Available presence with entity capabilities whose features are `notify` nodes + '+notify'
    (and a feature unique to `tag`, so that the ver is new to the server); answers the server's
    disco#info query for node#ver (XEP-0115 §6.1)."""
    node = "https://corvid.test/raw-client"
    identities = [("client", "pc", "raw")]
    features = [NS_DISCO_INFO, f"urn:corvid:test:{tag}"] + [f"{n}+notify" for n in notify]
    ver = caps_ver(identities, features)
    client.send(f"<presence><c xmlns='{NS_CAPS}' hash='sha-1' node='{node}' ver='{ver}'/>"
                "</presence>")
    if expect_query:
        query = client.take(lambda e: e.tag == IQ and e.get("type") == "get" and
                            e.find(q(NS_DISCO_INFO, "query")) is not None,
                            what="the server's disco#info query for our caps")
        assert query.find(q(NS_DISCO_INFO, "query")).get("node") == f"{node}#{ver}"
        body = "".join(f"<identity category='{c}' type='{t}' name='{n}'/>"
                       for c, t, n in identities)
        body += "".join(f"<feature var='{f}'/>" for f in features)
        client.send(f"<iq type='result' id='{query.get('id')}' to='{query.get('from')}'>"
                    f"<query xmlns='{NS_DISCO_INFO}' node='{node}#{ver}'>{body}</query></iq>")
    client.take(lambda e: e.tag == PRESENCE and e.get("from") == client.jid and
                e.get("type") is None, what="our own presence reflected")
    # The server handles a session's stanzas in order: after this round trip it has the answer.
    assert client.ping().get("type") == "result"


def publish(client, node, item_id, payload, options=None):
    opts = ""
    if options:
        fields = "".join(f"<field var='pubsub#{k}'><value>{v}</value></field>"
                         for k, v in options.items())
        opts = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>"
                f"{NS_PUBSUB}#publish-options</value></field>{fields}</x></publish-options>")
    id_attr = f" id='{item_id}'" if item_id is not None else ""
    return client.iq(f"<pubsub xmlns='{NS_PUBSUB}'><publish node='{node}'>"
                     f"<item{id_attr}>{payload}</item></publish>{opts}</pubsub>", type_="set")


def items(client, owner, node, extra="", inner=""):
    return client.iq(f"<pubsub xmlns='{NS_PUBSUB}'><items node='{node}'{extra}>{inner}</items>"
                     "</pubsub>", to=owner)


def item_ids(reply):
    assert reply.get("type") == "result", to_str(reply)
    return [i.get("id") for i in reply.iter(q(NS_PUBSUB, "item"))]


def error_conditions(reply):
    """(type, defined condition, pubsub#errors condition) of an error reply."""
    assert reply.get("type") == "error", to_str(reply)
    err = reply.find(q(NS_CLIENT, "error"))
    defined = [c.tag.split("}")[1] for c in err if c.tag.startswith("{" + NS_STANZAS)
               and not c.tag.endswith("}text")]
    app = [c.tag.split("}")[1] for c in err if c.tag.startswith("{" + NS_ERRORS)]
    return err.get("type"), defined[0] if defined else None, app[0] if app else None


def is_event(owner, node=None):
    def match(e):
        if e.tag != MESSAGE or e.get("from") != owner:
            return False
        ev = e.find(q(NS_EVENT, "event"))
        if ev is None:
            return False
        return node is None or any(c.get("node") == node for c in ev)
    return match


def event_items(msg):
    ev = msg.find(q(NS_EVENT, "event"))
    return ev.find(q(NS_EVENT, "items"))


def devicelist(*ids):
    return f"<list xmlns='{AXOLOTL}'>" + "".join(f"<device id='{i}'/>" for i in ids) + "</list>"


# -- raw clients: exact stanzas --

def test_disco_advertises_pep(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    info = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to="alice@localhost")
    assert info.get("type") == "result", to_str(info)
    query = info.find(q(NS_DISCO_INFO, "query"))
    ids = {(i.get("category"), i.get("type")) for i in query.iter(q(NS_DISCO_INFO, "identity"))}
    assert ("pubsub", "pep") in ids
    feats = {f.get("var") for f in query.iter(q(NS_DISCO_INFO, "feature"))}
    for f in ("publish", "publish-options", "retract-items", "retrieve-items", "access-presence",
              "access-open", "access-whitelist", "auto-create", "last-published",
              "filtered-notifications", "config-node", "delete-nodes", "create-nodes"):
        assert f"{NS_PUBSUB}#{f}" in feats, f
    alice.close()


def test_presence_model_and_errors(server, users):
    """Default access model presence: contacts with a subscription read; others get
    not-authorized + presence-subscription-required (XEP-0060 §6.5.9.3); a node that does not
    exist is item-not-found; only the owner publishes."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    carol = connect(server, "carol", users["carol"], "c")
    befriend(alice, bob)

    reply = publish(alice, "urn:xmpp:tune", "t1", "<tune xmlns='http://jabber.org/protocol/tune'>"
                    "<title>Yesterday</title></tune>")
    assert reply.get("type") == "result", to_str(reply)
    published = reply.find(f"{q(NS_PUBSUB, 'pubsub')}/{q(NS_PUBSUB, 'publish')}")
    assert published.get("node") == "urn:xmpp:tune"
    assert published.find(q(NS_PUBSUB, "item")).get("id") == "t1"

    got = items(bob, "alice@localhost", "urn:xmpp:tune")
    assert item_ids(got) == ["t1"]
    assert got.find(f".//{{http://jabber.org/protocol/tune}}title").text == "Yesterday"
    # The owner, by the bare JID or without 'to'.
    assert item_ids(items(alice, None, "urn:xmpp:tune")) == ["t1"]

    assert error_conditions(items(carol, "alice@localhost", "urn:xmpp:tune")) == \
        ("auth", "not-authorized", "presence-subscription-required")
    assert error_conditions(items(bob, "alice@localhost", "no-such-node"))[1] == "item-not-found"
    # Only the owner publishes.
    reply = bob.iq(f"<pubsub xmlns='{NS_PUBSUB}'><publish node='urn:xmpp:tune'><item id='x'>"
                   "<tune xmlns='http://jabber.org/protocol/tune'/></item></publish></pubsub>",
                   type_="set", to="alice@localhost")
    assert error_conditions(reply)[1] == "forbidden"
    # Without an item or a payload: bad-request (XEP-0060 §7.1.3.6).
    reply = alice.iq(f"<pubsub xmlns='{NS_PUBSUB}'><publish node='urn:xmpp:tune'><item id='x'/>"
                     "</publish></pubsub>", type_="set")
    assert error_conditions(reply)[1:] == ("bad-request", "payload-required")

    # disco#items lists the nodes the requester may see.
    def nodes(c):
        r = c.iq(f"<query xmlns='{NS_DISCO_ITEMS}'/>", to="alice@localhost")
        assert r.get("type") == "result", to_str(r)
        return {i.get("node") for i in r.iter(q(NS_DISCO_ITEMS, "item"))}
    assert nodes(bob) == {"urn:xmpp:tune"}
    assert nodes(carol) == set()
    for c in (alice, bob, carol):
        c.close()


def test_open_and_whitelist_models(server, users):
    """An OMEMO device list (access_model open, XEP-0384) is read by a contact and by a stranger;
    a whitelist node (XEP-0402 bookmarks) by the owner only."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    carol = connect(server, "carol", users["carol"], "c")
    befriend(alice, bob)

    reply = publish(alice, DEVICELIST, "current", devicelist(12345),
                    {"access_model": "open", "persist_items": "true"})
    assert reply.get("type") == "result", to_str(reply)
    bundle = (f"<bundle xmlns='{AXOLOTL}'><signedPreKeyPublic signedPreKeyId='1'>AAAA"
              "</signedPreKeyPublic><signedPreKeySignature>BBBB</signedPreKeySignature>"
              "<identityKey>CCCC</identityKey><prekeys><preKeyPublic preKeyId='1'>DDDD"
              "</preKeyPublic></prekeys></bundle>")
    reply = publish(alice, f"{AXOLOTL}.bundles:12345", "current", bundle,
                    {"access_model": "open"})
    assert reply.get("type") == "result", to_str(reply)

    for reader in (bob, carol):  # contact and stranger
        got = items(reader, "alice@localhost", DEVICELIST, " max_items='1'")
        assert item_ids(got) == ["current"]
        devices = [d.get("id") for d in got.iter(q(AXOLOTL, "device"))]
        assert devices == ["12345"]
        got = items(reader, "alice@localhost", f"{AXOLOTL}.bundles:12345")
        assert got.find(f".//{q(AXOLOTL, 'identityKey')}").text == "CCCC"

    reply = publish(alice, "urn:xmpp:bookmarks:1", "room@conference.localhost",
                    "<conference xmlns='urn:xmpp:bookmarks:1' name='Room' autojoin='true'/>",
                    {"access_model": "whitelist", "max_items": "max", "persist_items": "true",
                     "send_last_published_item": "never"})
    assert reply.get("type") == "result", to_str(reply)
    assert item_ids(items(alice, None, "urn:xmpp:bookmarks:1")) == ["room@conference.localhost"]
    for reader in (bob, carol):
        assert error_conditions(items(reader, "alice@localhost", "urn:xmpp:bookmarks:1"))[1:] == \
            ("not-allowed", "closed-node")
    # max_items 'max' is the configured ceiling (modules.pep.max_items, 100 by default).
    conf = alice.iq(f"<pubsub xmlns='{NS_PUBSUB_OWNER}'><configure node='urn:xmpp:bookmarks:1'/>"
                    "</pubsub>")
    values = {f.get("var"): f.findtext(q("jabber:x:data", "value"))
              for f in conf.iter(q("jabber:x:data", "field"))}
    assert values["pubsub#access_model"] == "whitelist"
    assert values["pubsub#max_items"] == "100"
    for c in (alice, bob, carol):
        c.close()


def test_publish_options_precondition(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    assert publish(alice, DEVICELIST, "current", devicelist(1),
                   {"access_model": "open"}).get("type") == "result"
    # XEP-0060 §7.1.5: options that differ from the node's configuration fail the publish.
    reply = publish(alice, DEVICELIST, "current", devicelist(2), {"access_model": "presence"})
    assert error_conditions(reply) == ("cancel", "conflict", "precondition-not-met")
    # Nothing was published.
    got = items(alice, None, DEVICELIST)
    assert [d.get("id") for d in got.iter(q(AXOLOTL, "device"))] == ["1"]
    # What nbxmpp and Conversations do next: configure the node, then publish again.
    reply = alice.iq(f"<pubsub xmlns='{NS_PUBSUB_OWNER}'><configure node='{DEVICELIST}'>"
                     "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                     f"<value>{NS_PUBSUB}#node_config</value></field>"
                     "<field var='pubsub#access_model'><value>presence</value></field>"
                     "</x></configure></pubsub>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    reply = publish(alice, DEVICELIST, "current", devicelist(2), {"access_model": "presence"})
    assert reply.get("type") == "result", to_str(reply)
    # An access model corvid does not offer cannot be met either.
    reply = publish(alice, "other", "x", devicelist(3), {"access_model": "authorize"})
    assert error_conditions(reply)[1:] == ("conflict", "precondition-not-met")
    alice.close()


def test_max_items_retract_and_generated_ids(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    befriend(alice, bob)
    announce(bob, ["urn:example:notes"], tag="bob")
    for i in range(1, 5):
        r = publish(alice, "urn:example:notes", f"n{i}",
                    f"<note xmlns='urn:example:notes'>{i}</note>", {"max_items": "3"})
        assert r.get("type") == "result", to_str(r)
    # Only the 3 newest are kept, newest first.
    assert item_ids(items(bob, "alice@localhost", "urn:example:notes")) == ["n4", "n3", "n2"]
    assert item_ids(items(bob, "alice@localhost", "urn:example:notes", " max_items='1'")) == \
        ["n4"]
    assert item_ids(items(bob, "alice@localhost", "urn:example:notes", "",
                          "<item id='n2'/>")) == ["n2"]

    # Retract with a notification to the contact that wants the node.
    bob.got(is_event("alice@localhost"))  # the publish notifications so far
    reply = alice.iq(f"<pubsub xmlns='{NS_PUBSUB}'><retract node='urn:example:notes' "
                     "notify='true'><item id='n3'/></retract></pubsub>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    ev = bob.take(is_event("alice@localhost", "urn:example:notes"))
    assert ev.get("type") == "headline"
    assert event_items(ev).find(q(NS_EVENT, "retract")).get("id") == "n3"
    assert item_ids(items(bob, "alice@localhost", "urn:example:notes")) == ["n4", "n2"]
    reply = alice.iq(f"<pubsub xmlns='{NS_PUBSUB}'><retract node='urn:example:notes'>"
                     "<item id='n3'/></retract></pubsub>", type_="set")
    assert error_conditions(reply)[1] == "item-not-found"

    # Without an id the server names the item (XEP-0060 §7.1.2).
    r = publish(alice, "urn:example:notes", None, "<note xmlns='urn:example:notes'>5</note>")
    new_id = r.find(f".//{q(NS_PUBSUB, 'item')}").get("id")
    assert new_id
    assert item_ids(items(bob, "alice@localhost", "urn:example:notes"))[0] == new_id

    # Purge (XEP-0060 §8.5): the items go, the node stays; the contact hears of it.
    reply = alice.iq(f"<pubsub xmlns='{NS_PUBSUB_OWNER}'><purge node='urn:example:notes'/>"
                     "</pubsub>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    bob.take(lambda e: is_event("alice@localhost")(e) and
             e.find(f"{q(NS_EVENT, 'event')}/{q(NS_EVENT, 'purge')}") is not None)
    assert item_ids(items(bob, "alice@localhost", "urn:example:notes")) == []

    # Delete the node: gone for everybody.
    reply = alice.iq(f"<pubsub xmlns='{NS_PUBSUB_OWNER}'><delete node='urn:example:notes'/>"
                     "</pubsub>", type_="set")
    assert reply.get("type") == "result", to_str(reply)
    ev = bob.take(lambda e: is_event("alice@localhost")(e) and
                  e.find(f"{q(NS_EVENT, 'event')}/{q(NS_EVENT, 'delete')}") is not None)
    assert error_conditions(items(bob, "alice@localhost", "urn:example:notes"))[1] == \
        "item-not-found"
    alice.close()
    bob.close()


def test_pipelined_publishes_keep_order_and_are_bounded(server, users):
    """Writes of one account run one at a time in arrival order; a client that pipelines more
    than the server queues gets resource-constraint (type wait) for the excess, nothing else."""
    alice = connect(server, "alice", users["alice"], "a")
    n = 300
    ids = [alice.next_id() for _ in range(n)]
    alice.send("".join(
        f"<iq type='set' id='{i}'><pubsub xmlns='{NS_PUBSUB}'><publish node='urn:example:seq'>"
        f"<item id='s{k}'><n xmlns='urn:example:seq'>{k}</n></item></publish></pubsub></iq>"
        for k, i in enumerate(ids)))
    replies = {}
    for _ in range(n):
        r = alice.take(lambda e: e.tag == IQ and e.get("id") in ids and e.get("id") not in replies)
        replies[r.get("id")] = r
    ok = [k for k, i in enumerate(ids) if replies[i].get("type") == "result"]
    refused = [replies[i] for i in ids if replies[i].get("type") == "error"]
    assert ok and ok[0] == 0
    assert refused, f"all {n} pipelined publishes were queued (the bound is 64)"
    for r in refused:
        assert error_conditions(r)[:2] == ("wait", "resource-constraint"), to_str(r)
    # max_items 1: the node holds the last publish that was accepted.
    assert item_ids(items(alice, None, "urn:example:seq")) == [f"s{ok[-1]}"]
    alice.close()


@pytest.mark.corvid(config={"modules": {"pep": {"max_nodes": 2}}})
def test_node_limit(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    for n in ("n1", "n2"):
        assert publish(alice, n, "i", "<x xmlns='urn:x'/>").get("type") == "result"
    assert error_conditions(publish(alice, "n3", "i", "<x xmlns='urn:x'/>"))[1] == \
        "policy-violation"
    # More items in an existing node are fine.
    assert publish(alice, "n2", "j", "<x xmlns='urn:x'/>").get("type") == "result"
    alice.close()


def test_notifications_follow_caps(server, users):
    """XEP-0163 §4.3.1: events only to resources whose caps say node+notify, the owner's own
    included; the last item when a resource comes online (§6.2)."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    befriend(alice, bob)
    bob_notify = connect(server, "bob", users["bob"], "notify", presence=False)
    announce(bob_notify, [AVATAR_METADATA], tag="bob-notify")
    alice2 = connect(server, "alice", users["alice"], "a2", presence=False)
    announce(alice2, [AVATAR_METADATA], tag="alice2")
    # bob/b sent presence without caps; this one has caps without the +notify.
    bob_plain = connect(server, "bob", users["bob"], "plain", presence=False)
    announce(bob_plain, ["urn:xmpp:tune"], tag="bob-plain")

    meta = (f"<metadata xmlns='{AVATAR_METADATA}'><info id='abc' bytes='3' type='image/png'/>"
            "</metadata>")
    assert publish(alice, AVATAR_METADATA, "abc", meta).get("type") == "result"
    for c in (bob_notify, alice2):
        ev = c.take(is_event("alice@localhost", AVATAR_METADATA))
        assert ev.get("type") == "headline"
        assert ev.get("to") == c.jid
        it = event_items(ev).find(q(NS_EVENT, "item"))
        assert it.get("id") == "abc"
        assert it.find(q(AVATAR_METADATA, "metadata")) is not None
    for c in (bob, bob_plain, alice):
        assert c.got(is_event("alice@localhost")) == [], f"{c.jid} asked for no notifications"

    # A resource coming online with +notify gets the last item at once.
    bob_late = connect(server, "bob", users["bob"], "late", presence=False)
    announce(bob_late, [AVATAR_METADATA, "urn:xmpp:tune"], tag="bob-late")
    ev = bob_late.take(is_event("alice@localhost", AVATAR_METADATA))
    assert event_items(ev).find(q(NS_EVENT, "item")).get("id") == "abc"
    # A stranger with +notify gets nothing (no subscription, presence model).
    carol = connect(server, "carol", users["carol"], "c", presence=False)
    announce(carol, [AVATAR_METADATA], tag="carol")
    assert publish(alice, AVATAR_METADATA, "def", meta.replace("abc", "def")).get("type") == \
        "result"
    assert bob_late.take(is_event("alice@localhost", AVATAR_METADATA)) is not None
    assert carol.got(is_event("alice@localhost")) == []
    for c in (alice, alice2, bob, bob_notify, bob_plain, bob_late, carol):
        c.close()


def test_no_events_for_blocked_contacts(server, users):
    """XEP-0191: a contact the owner blocks gets neither notifications nor last items."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    befriend(alice, bob)
    tune = "<tune xmlns='http://jabber.org/protocol/tune'><title>{}</title></tune>"
    bob_n = connect(server, "bob", users["bob"], "n", presence=False)
    announce(bob_n, ["http://jabber.org/protocol/tune"], tag="bob-n")
    assert publish(alice, "http://jabber.org/protocol/tune", "1", tune.format("one")) \
        .get("type") == "result"
    assert bob_n.take(is_event("alice@localhost")) is not None  # not blocked yet
    assert alice.block("bob@localhost").get("type") == "result"
    assert publish(alice, "http://jabber.org/protocol/tune", "2", tune.format("two")) \
        .get("type") == "result"
    assert bob_n.got(is_event("alice@localhost")) == []
    bob_late = connect(server, "bob", users["bob"], "late", presence=False)
    announce(bob_late, ["http://jabber.org/protocol/tune"], tag="bob-late")
    assert bob_late.got(is_event("alice@localhost")) == []
    # Unblocked, the next resource gets the last item again.
    assert alice.unblock("bob@localhost").get("type") == "result"
    bob_again = connect(server, "bob", users["bob"], "again", presence=False)
    announce(bob_again, ["http://jabber.org/protocol/tune"], tag="bob-again")
    ev = bob_again.take(is_event("alice@localhost"))
    assert event_items(ev).find(q(NS_EVENT, "item")).get("id") == "2"
    for c in (alice, bob, bob_n, bob_late, bob_again):
        c.close()


def test_caps_hash_mismatch_is_not_trusted(server, users):
    """XEP-0115 §5.4: a disco#info answer that does not hash to the ver is not used."""
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    befriend(alice, bob)
    liar = connect(server, "bob", users["bob"], "liar", presence=False)
    ver = "bm90IHRoZSByZWFsIGhhc2g="
    liar.send(f"<presence><c xmlns='{NS_CAPS}' hash='sha-1' node='urn:liar' ver='{ver}'/>"
              "</presence>")
    query = liar.take(lambda e: e.tag == IQ and e.get("type") == "get")
    liar.send(f"<iq type='result' id='{query.get('id')}' to='{query.get('from')}'>"
              f"<query xmlns='{NS_DISCO_INFO}' node='urn:liar#{ver}'>"
              f"<identity category='client' type='pc'/><feature var='{AVATAR_METADATA}+notify'/>"
              "</query></iq>")
    assert liar.ping().get("type") == "result"
    # The same +notify with an honest hash works.
    honest = connect(server, "bob", users["bob"], "honest", presence=False)
    announce(honest, [AVATAR_METADATA], tag="honest")
    assert publish(alice, AVATAR_METADATA, "x", f"<metadata xmlns='{AVATAR_METADATA}'/>") \
        .get("type") == "result"
    assert honest.take(is_event("alice@localhost", AVATAR_METADATA)) is not None
    assert liar.got(is_event("alice@localhost")) == []
    for c in (alice, bob, liar, honest):
        c.close()


def test_items_survive_restart(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    assert publish(alice, DEVICELIST, "current", devicelist(777),
                   {"access_model": "open"}).get("type") == "result"
    alice.close()
    server.restart()
    carol = connect(server, "carol", users["carol"], "c")
    got = items(carol, "alice@localhost", DEVICELIST)
    assert [d.get("id") for d in got.iter(q(AXOLOTL, "device"))] == ["777"]
    # The configuration survived too: the open model, checked as a precondition.
    alice = connect(server, "alice", users["alice"], "a")
    assert error_conditions(publish(alice, DEVICELIST, "current", devicelist(1),
                                    {"access_model": "whitelist"}))[2] == "precondition-not-met"
    alice.close()
    carol.close()


# -- real clients --

NBXMPP_SCRIPT = r'''
import base64, json, sys
import gi
gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
from gi.repository import GLib
from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.namespaces import Namespace
from nbxmpp.protocol import JID, Presence
from nbxmpp.structs import DiscoIdentity, StanzaHandler

port, jid_text, password, peer = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
BOB_PNG = b"\x89PNG\r\n\x1a\n-bob-avatar"

def emit(**kw):
    print(json.dumps(kw), flush=True)

jid = JID.from_string(jid_text)
loop = GLib.MainLoop()
state = {"rc": 1}
client = Client()
client.set_domain(jid.domain)
client.set_username(jid.localpart)
client.set_resource(jid.resource)
client.set_password(password)
client.set_ignore_tls_errors(True)
client.set_sm_disabled(True)
client.set_connection_types([ConnectionType.START_TLS])
client.set_custom_host(f"127.0.0.1:{port}", ConnectionProtocol.TCP, ConnectionType.START_TLS)

FEATURES = [Namespace.DISCO_INFO, Namespace.CAPS, Namespace.AVATAR_METADATA + "+notify",
            Namespace.OMEMO_TEMP_DL + "+notify", Namespace.PUBSUB_EVENT]

def finish(rc):
    state["rc"] = rc
    GLib.timeout_add(300, lambda: client.disconnect() and False)

def on_devicelist(task):
    try:
        task.finish()
    except Exception as e:
        emit(event="devicelist-error", error=repr(e))
        finish(1)
        return
    emit(event="devicelist-published")

def on_avatar_data(task):
    try:
        data = task.finish()
    except Exception as e:
        emit(event="avatar-error", error=repr(e))
        finish(1)
        return
    emit(event="avatar-data", sha=data.sha, b64=base64.b64encode(data.data).decode())
    # bob's own avatar (presence access model, Gajim's default) ...
    from nbxmpp.modules.user_avatar import Avatar
    avatar = Avatar()
    avatar.add_image_source(BOB_PNG, "image/png", 1, 1)
    client.get_module("UserAvatar").set_avatar(avatar, public=False).add_done_callback(
        on_avatar_published)

def on_avatar_published(task):
    try:
        task.finish()
    except Exception as e:
        emit(event="avatar-publish-error", error=repr(e))
        finish(1)
        return
    emit(event="avatar-published")
    # ... and the device list again, now for contacts only: the publish-options no longer match
    # the node, nbxmpp reconfigures it (pubsub#owner) and publishes again.
    client.get_module("OMEMO").set_devicelist([424242, 777], public=False).add_done_callback(
        on_devicelist_again)

def on_devicelist_again(task):
    try:
        task.finish()
    except Exception as e:
        emit(event="devicelist-again-error", error=repr(e))
        finish(1)
        return
    emit(event="devicelist-republished")
    finish(0)

def on_connected(_client, _signal):
    emit(event="connected", jid=str(client.get_bound_jid()))
    caps = client.get_module("EntityCaps")
    caps.set_caps([DiscoIdentity(category="client", type="pc", name="Gajim-like")], FEATURES,
                  "https://gajim.org")
    p = Presence()
    c = caps.caps
    p.setTag("c", namespace=Namespace.CAPS, attrs={"hash": c.hash, "node": c.node, "ver": c.ver})
    client.send_stanza(p)
    client.get_module("OMEMO").set_devicelist([424242], public=True).add_done_callback(
        on_devicelist)

def on_message(_client, stanza, props):
    if props.pubsub_event is None:
        return
    ev = props.pubsub_event
    emit(event="pubsub", node=ev.node, frm=str(props.jid), id=ev.id,
         data=repr(ev.data) if ev.data is not None else None)
    if ev.node == Namespace.AVATAR_METADATA and str(props.jid) == peer and ev.id:
        client.get_module("UserAvatar").request_avatar_data(ev.id, jid=JID.from_string(peer)) \
            .add_done_callback(on_avatar_data)

def on_gone(_client, _signal):
    loop.quit()

client.subscribe("connected", on_connected)
client.subscribe("disconnected", on_gone)
client.subscribe("connection-failed", on_gone)
client.register_handler(StanzaHandler(name="message", callback=on_message, priority=60))
GLib.timeout_add(40000, lambda: loop.quit() or False)
client.connect()
loop.run()
sys.exit(state["rc"])
'''


def test_avatar_and_omemo_between_slixmpp_and_nbxmpp(server, users):
    """alice (slixmpp, XEP-0084 plugin) publishes an avatar; bob (nbxmpp, Gajim's library),
    her contact, gets the metadata event (his caps carry +notify) and fetches the data item.
    bob publishes his OMEMO device list (nbxmpp's OMEMO module, open model); alice reads it with
    slixmpp's XEP-0060 plugin and gets its notification (slixmpp advertises +notify). Then bob
    publishes his avatar with nbxmpp and republishes his device list for contacts only (a
    publish-options mismatch that nbxmpp resolves by reconfiguring the node); alice reads both."""
    # A mutual subscription, made with raw clients (stored in the roster).
    a_raw = connect(server, "alice", users["alice"], "setup")
    b_raw = connect(server, "bob", users["bob"], "setup")
    befriend(a_raw, b_raw)
    a_raw.close()
    b_raw.close()
    png = b"\x89PNG\r\n\x1a\n-corvid-avatar"

    async def scenario():
        alice = slix.Client("alice@localhost/slix", users["alice"])
        for p in ("xep_0030", "xep_0060", "xep_0084", "xep_0115", "xep_0163"):
            alice.register_plugin(p)
        alice["xep_0163"].add_interest(DEVICELIST)
        devicelists = asyncio.Queue()

        def on_event(msg):
            ev = msg.xml.find(f"{q(NS_EVENT, 'event')}/{q(NS_EVENT, 'items')}")
            if ev is not None and ev.get("node") == DEVICELIST:
                devicelists.put_nowait(msg.xml)
        # slixmpp's "message" event is for messages with a body; XEP-0060's plugin raises this.
        alice.add_event_handler("pubsub_publish", on_event)
        alice.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(alice.started, 10)
        alice.send_presence()

        bob = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, "-c", NBXMPP_SCRIPT, str(server.port), "bob@localhost/gajim",
            users["bob"], "alice@localhost", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        events = []

        async def bob_event(name):
            while True:
                line = await asyncio.wait_for(bob.stdout.readline(), 30)
                assert line, f"nbxmpp exited early: {events}"
                events.append(json.loads(line))
                if events[-1]["event"] == name:
                    return events[-1]
                assert not events[-1]["event"].endswith("-error"), events

        try:
            await bob_event("devicelist-published")
            # alice gets bob's device list: an event (slixmpp's caps say +notify) ...
            msg = await asyncio.wait_for(devicelists.get(), 15)
            assert msg.get("from") == "bob@localhost"
            assert [d.get("id") for d in msg.iter(q(AXOLOTL, "device"))] == ["424242"]
            # ... and by asking (XEP-0060 items).
            got = await alice["xep_0060"].get_items("bob@localhost", DEVICELIST, max_items=1)
            ids = [d.get("id") for d in got.xml.iter(q(AXOLOTL, "device"))]
            assert ids == ["424242"], str(got)

            # The avatar: data node, then metadata (XEP-0084 §4).
            await alice["xep_0084"].publish_avatar(png)
            avatar_id = alice["xep_0084"].generate_id(png)
            await alice["xep_0084"].publish_avatar_metadata(
                [{"id": avatar_id, "type": "image/png", "bytes": len(png)}])
            data_event = await bob_event("avatar-data")
            assert base64.b64decode(data_event["b64"]) == png
            assert data_event["sha"] == hashlib.sha1(png).hexdigest()  # nbxmpp checked it
            meta = [e for e in events if e["event"] == "pubsub" and e["node"] == AVATAR_METADATA]
            assert meta and meta[-1]["frm"] == "alice@localhost" and meta[-1]["id"] == avatar_id
            # alice reads her own data node back.
            mine = await alice["xep_0084"].retrieve_avatar(alice.boundjid.bare, avatar_id)
            data = mine.xml.find(f".//{q(AVATAR_DATA, 'data')}")
            assert base64.b64decode(data.text) == png

            # bob's avatar, published by nbxmpp, read by slixmpp (a contact: presence model).
            await bob_event("devicelist-republished")
            bob_png = b"\x89PNG\r\n\x1a\n-bob-avatar"
            meta = await alice["xep_0060"].get_items("bob@localhost", AVATAR_METADATA)
            info = meta.xml.find(f".//{q(AVATAR_METADATA, 'info')}")
            assert info.get("id") == hashlib.sha1(bob_png).hexdigest()
            got = await alice["xep_0084"].retrieve_avatar("bob@localhost", info.get("id"))
            data = got.xml.find(f".//{q(AVATAR_DATA, 'data')}")
            assert base64.b64decode(data.text) == bob_png
            # The device list was reconfigured to the presence model by nbxmpp and republished.
            got = await alice["xep_0060"].get_items("bob@localhost", DEVICELIST)
            ids = sorted(d.get("id") for d in got.xml.iter(q(AXOLOTL, "device")))
            assert ids == ["424242", "777"], str(got)
            rc = await asyncio.wait_for(bob.wait(), 15)
            assert rc == 0, events
        except BaseException:
            if bob.returncode is None:
                bob.kill()
            err = await bob.stderr.read()
            print("nbxmpp stderr:", err.decode()[-3000:])
            print("nbxmpp events:", events)
            raise
        finally:
            await alice.close()

    slix.run(scenario(), timeout=80)
    # nbxmpp's reconfiguration took effect: strangers may no longer read the device list.
    carol = connect(server, "carol", users["carol"], "c")
    assert error_conditions(items(carol, "bob@localhost", DEVICELIST))[2] == \
        "presence-subscription-required"
    carol.close()
