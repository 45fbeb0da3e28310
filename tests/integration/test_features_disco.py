"""XEP-0030 service discovery, XEP-0115 server capabilities, XEP-0199 ping to a bare JID."""

import asyncio

import pytest

import slix
from test_features_support import (NS_CAPS, NS_DISCO_INFO, NS_DISCO_ITEMS, caps_ver, disco_info,
                                   features, identities, login_features, online, slix_login)
from xmpp_raw import RawClient, q, stanza_error_condition, to_str

# What the default configuration enables and announces on the server.
EXPECTED_HOST_FEATURES = {
    NS_DISCO_INFO, NS_DISCO_ITEMS, "urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time",
    "jabber:iq:last", "vcard-temp", "jabber:iq:private", "jabber:iq:register",
}


def test_server_disco_info(server, users):
    c = online(server, "alice", users["alice"])
    reply = disco_info(c, "localhost")
    assert reply.get("type") == "result", to_str(reply)
    assert reply.get("from") == "localhost"
    query = reply.find(q(NS_DISCO_INFO, "query"))
    assert query is not None and query.get("node") is None, to_str(reply)
    assert identities(query) == [("server", "im", "", "corvid")]
    feats = features(query)
    assert feats == sorted(feats), "features are listed sorted"
    assert len(feats) == len(set(feats)), "no feature twice"
    missing = EXPECTED_HOST_FEATURES - set(feats)
    assert not missing, f"not announced: {missing}"
    c.close()


def test_server_disco_items_and_unknown_nodes(server, users):
    c = online(server, "alice", users["alice"])
    reply = c.iq(f"<query xmlns='{NS_DISCO_ITEMS}'/>", to="localhost")
    assert reply.get("type") == "result", to_str(reply)
    items = reply.find(q(NS_DISCO_ITEMS, "query"))
    # The chat service (XEP-0045 §6.1) is the only item of the default configuration.
    assert items is not None, to_str(reply)
    assert [(i.get("jid"), i.get("node")) for i in items] == [("conference.localhost", None)]
    # XEP-0030 §3.2, §4.2: a node we do not know.
    reply = disco_info(c, "localhost", node="no-such-node")
    assert stanza_error_condition(reply) == "item-not-found", to_str(reply)
    reply = c.iq(f"<query xmlns='{NS_DISCO_ITEMS}' node='no-such-node'/>", to="localhost")
    assert stanza_error_condition(reply) == "item-not-found", to_str(reply)
    # disco is get-only.
    reply = c.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to="localhost", type_="set")
    assert reply.get("type") == "error", to_str(reply)
    c.close()


def test_caps_stream_feature_matches_disco(server, users):
    """XEP-0115: the <c/> in the post-authentication features hashes exactly what disco#info says,
    and disco#info on node#ver answers the same (echoing the node)."""
    c, feats = login_features(server, "alice", users["alice"])
    cap = feats.find(q(NS_CAPS, "c"))
    assert cap is not None, to_str(feats)
    assert cap.get("hash") == "sha-1"
    node, ver = cap.get("node"), cap.get("ver")
    assert node and ver, to_str(cap)

    plain = disco_info(c, "localhost").find(q(NS_DISCO_INFO, "query"))
    assert caps_ver(identities(plain), features(plain)) == ver

    reply = disco_info(c, "localhost", node=f"{node}#{ver}")
    assert reply.get("type") == "result", to_str(reply)
    query = reply.find(q(NS_DISCO_INFO, "query"))
    assert query.get("node") == f"{node}#{ver}"
    assert identities(query) == identities(plain)
    assert features(query) == features(plain)

    stale = disco_info(c, "localhost", node=f"{node}#AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert stanza_error_condition(stale) == "item-not-found", to_str(stale)
    c.close()


def test_caps_not_offered_before_authentication(server):
    raw = RawClient(server.port)
    feats = raw.negotiate_tls()
    assert feats.find(q(NS_CAPS, "c")) is None, to_str(feats)
    raw.close()


@pytest.mark.corvid(config={"modules": {"version": {"enabled": False},
                                        "vcard": {"enabled": False}}})
def test_caps_follow_the_configuration(server, users):
    """Disabled modules are neither announced nor hashed; their iqs get service-unavailable."""
    c, feats = login_features(server, "alice", users["alice"])
    query = disco_info(c, "localhost").find(q(NS_DISCO_INFO, "query"))
    feats_list = features(query)
    assert "jabber:iq:version" not in feats_list
    assert "vcard-temp" not in feats_list
    assert "urn:xmpp:time" in feats_list
    cap = feats.find(q(NS_CAPS, "c"))
    assert cap.get("ver") == caps_ver(identities(query), feats_list)
    reply = c.iq("<query xmlns='jabber:iq:version'/>", to="localhost")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    reply = c.iq("<vCard xmlns='vcard-temp'/>")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    c.close()


@pytest.mark.corvid(config={"modules": {"disco": {"enabled": False}}})
def test_disco_disabled(server, users):
    c, feats = login_features(server, "alice", users["alice"])
    assert feats.find(q(NS_CAPS, "c")) is None, to_str(feats)
    reply = disco_info(c, "localhost")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    c.close()


def test_account_disco_info_same_for_everyone_and_every_name(server, users):
    """A bare JID's disco#info: account/registered and the account features, answered by the
    server alike for an existing and a non-existing account (no harvesting)."""
    alice = online(server, "alice", users["alice"])
    bob = online(server, "bob", users["bob"])

    answers = {}
    for asker, target in ((alice, "alice@localhost"), (alice, "bob@localhost"),
                          (bob, "alice@localhost"), (alice, "nobody@localhost")):
        reply = disco_info(asker, target)
        assert reply.get("type") == "result", to_str(reply)
        assert reply.get("from") == target
        query = reply.find(q(NS_DISCO_INFO, "query"))
        answers[(asker.jid, target)] = (identities(query), features(query))
    first = next(iter(answers.values()))
    assert all(a == first for a in answers.values()), answers
    ids, feats = first
    assert ("account", "registered", "", "") in ids
    assert {NS_DISCO_INFO, NS_DISCO_ITEMS, "jabber:iq:last"} <= set(feats)
    # The PEP service (XEP-0163 §6.1): the pubsub/pep identity, alike for every account.
    assert ("pubsub", "pep", "", "") in ids
    assert "http://jabber.org/protocol/pubsub#publish" in feats

    # Without 'to': one's own account.
    own = disco_info(alice, None).find(q(NS_DISCO_INFO, "query"))
    assert (identities(own), features(own)) == first

    items = alice.iq(f"<query xmlns='{NS_DISCO_ITEMS}'/>", to="bob@localhost")
    assert items.get("type") == "result", to_str(items)
    node = disco_info(alice, "bob@localhost", node="x")
    assert stanza_error_condition(node) == "item-not-found", to_str(node)
    alice.close()
    bob.close()


def test_disco_and_caps_with_slixmpp(server, users):
    """slixmpp's XEP-0030 and XEP-0115 plugins: the caps feature the server announces validates
    against its disco#info (slixmpp checks the hash itself)."""
    async def main():
        c = await slix_login(server.port, "alice@localhost/slix", users["alice"],
                             plugins=["xep_0030", "xep_0115"])
        info = await c["xep_0030"].get_info(jid="localhost")
        feats = info["disco_info"]["features"]
        assert "urn:xmpp:ping" in feats and NS_DISCO_INFO in feats
        assert ("server", "im", None, "corvid") in info["disco_info"]["identities"]
        assert "caps" in c.features, "no caps stream feature seen"
        # The plugin validates the announced hash by asking node#ver and caches it on success.
        ver = None
        for _ in range(100):
            ver = await c["xep_0115"].get_verstring("localhost")
            if ver:
                break
            await asyncio.sleep(0.05)
        assert ver, "slixmpp did not validate the server's caps"
        cached = await c["xep_0115"].get_caps(jid="localhost")
        assert cached is not None and "urn:xmpp:ping" in cached["features"]
        await c.close()
    slix.run(main())


def test_ping_own_bare_jid(server, users):
    """XEP-0199: a ping to one's own bare JID is answered by the server; to another account's
    bare JID, service-unavailable, whether it exists or not."""
    alice = online(server, "alice", users["alice"])
    reply = alice.ping(to="alice@localhost")
    assert reply.get("type") == "result", to_str(reply)
    assert reply.get("from") == "alice@localhost"
    for other in ("bob@localhost", "nobody@localhost"):
        reply = alice.ping(to=other)
        assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    alice.close()
