"""Rosters (RFC 6121 §2, XEP-0237 versioning) through real sessions."""

import pytest

from im_support import (IQ, NS_PREAPPROVAL, NS_ROSTER, NS_ROSTERVER, ImClient, connect,
                        error_text, q, stanza_error_condition, to_str)


def test_stream_features_announce_versioning_and_preapproval(server, users):
    c = ImClient(server.port)
    c.login_im("alice", users["alice"], "a", roster=False, presence=False)
    assert c.features.find(q(NS_ROSTERVER, "ver")) is not None, to_str(c.features)
    assert c.features.find(q(NS_PREAPPROVAL, "sub")) is not None, to_str(c.features)
    c.close()


def test_roster_set_get_remove_with_pushes(server, users):
    """RFC 6121 §2.3 / §2.5: a set is pushed to every interested resource (the sender too) and
    survives a new login; a remove is pushed as subscription='remove'."""
    a1 = connect(server, "alice", users["alice"], "one")
    a2 = connect(server, "alice", users["alice"], "two")
    # A resource that never asked for the roster is not interested: no pushes.
    a3 = ImClient(server.port)
    a3.login_im("alice", users["alice"], "three", roster=False)

    reply = a1.roster_set("bob@localhost", name="Bob", groups=["Friends", "Work <&>"])
    assert reply.get("type") == "result", to_str(reply)
    for c in (a1, a2):
        item = c.push("bob@localhost")
        assert item.get("name") == "Bob"
        assert item.get("subscription") == "none"
        assert item.get("ask") is None
        assert sorted(g.text for g in item.findall(q(NS_ROSTER, "group"))) == \
            ["Friends", "Work <&>"]
    assert not a3.got(lambda e: e.tag == IQ and e.get("type") == "set")

    # An update replaces name and groups.
    assert a2.roster_set("bob@localhost", name="Bobby").get("type") == "result"
    assert a1.push("bob@localhost", name="Bobby").findall(q(NS_ROSTER, "group")) == []

    # Stored: a fresh session sees it.
    a4 = connect(server, "alice", users["alice"], "four")
    items = a4.roster_items()
    assert list(items) == ["bob@localhost"]
    assert items["bob@localhost"].get("name") == "Bobby"

    reply = a1.roster_set("bob@localhost", subscription="remove")
    assert reply.get("type") == "result", to_str(reply)
    for c in (a1, a2, a4):
        c.push("bob@localhost", subscription="remove")
    assert a1.roster_items() == {}

    # Removing what is not there: item-not-found (RFC 6121 §2.5.3).
    reply = a1.roster_set("bob@localhost", subscription="remove")
    assert stanza_error_condition(reply) == "item-not-found", to_str(reply)
    for c in (a1, a2, a3, a4):
        c.close()


def test_roster_versioning(server, users):
    """XEP-0237: 'ver' in results and pushes; an empty result when the client is current."""
    c = connect(server, "alice", users["alice"], "a", roster=False)
    query = c.roster(ver="")
    assert query is not None and query.get("ver"), "a versioned result carries 'ver'"
    v0 = query.get("ver")
    assert c.roster(ver=v0) is None, "the client's version is current: empty result"
    # No 'ver' from the client: none in the answer (RFC 6121 §2.6.2).
    assert c.roster().get("ver") is None

    c.roster_set("bob@localhost", name="B")
    push = c.take(lambda e: e.tag == IQ and e.get("type") == "set")
    v1 = push.find(q(NS_ROSTER, "query")).get("ver")
    assert v1 and v1 != v0
    stale = c.roster(ver=v0)
    assert stale is not None and stale.get("ver") == v1
    assert [i.get("jid") for i in stale] == ["bob@localhost"]
    assert c.roster(ver=v1) is None
    c.close()

    # Still current after a new login (the version is stored).
    c = connect(server, "alice", users["alice"], "b", roster=False)
    assert c.roster(ver=v1) is None
    c.close()


@pytest.mark.parametrize("item,condition,text", [
    ("<item jid='bob@localhost' subscription='both'/>", "bad-request", "remove"),
    ("<item jid='bob@localhost/res'/>", "bad-request", "bare"),
    ("<item jid='@@bad'/>", "bad-request", ""),
    ("<item jid='alice@localhost'/>", "not-allowed", ""),
    ("<item jid='bob@localhost'><group></group></item>", "not-acceptable", "empty"),
    ("<item jid='bob@localhost'><group>x</group><group>x</group></item>", "bad-request", ""),
    ("<item jid='bob@localhost' name='" + "n" * 2000 + "'/>", "not-acceptable", "long"),
    ("<item jid='bob@localhost'/><item jid='carol@localhost'/>", "bad-request", "one item"),
], ids=["subscription-both", "full-jid", "invalid-jid", "self", "empty-group", "repeated-group",
        "long-name", "two-items"])
def test_roster_set_validation(server, users, item, condition, text):
    c = connect(server, "alice", users["alice"], "a")
    reply = c.roster_set("", raw_item=item)
    assert reply.get("type") == "error", to_str(reply)
    assert stanza_error_condition(reply) == condition, to_str(reply)
    assert text in error_text(reply)
    assert c.roster_items() == {}
    c.close()


@pytest.mark.corvid(config={"modules": {"roster": {"max_items": 2}}})
def test_roster_size_limit(server, users):
    c = connect(server, "alice", users["alice"], "a")
    assert c.roster_set("bob@localhost").get("type") == "result"
    assert c.roster_set("carol@localhost").get("type") == "result"
    reply = c.roster_set("dave@localhost")
    assert stanza_error_condition(reply) == "policy-violation", to_str(reply)
    assert "full" in error_text(reply)
    # Updating an existing item is still fine; so is adding after a removal.
    assert c.roster_set("bob@localhost", name="B").get("type") == "result"
    assert c.roster_set("carol@localhost", subscription="remove").get("type") == "result"
    assert c.roster_set("dave@localhost").get("type") == "result"
    # A subscription request would add a contact too: refused the same way.
    c.presence("erin@localhost", "subscribe")
    err = c.take(lambda e: e.get("type") == "error" and e.get("from") == "erin@localhost")
    assert stanza_error_condition(err) == "policy-violation", to_str(err)
    assert sorted(c.roster_items()) == ["bob@localhost", "dave@localhost"]
    c.close()


def test_roster_of_someone_else_is_not_reachable(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    bob.roster_set("carol@localhost", name="secret")
    reply = alice.iq(f"<query xmlns='{NS_ROSTER}'/>", to="bob@localhost")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    assert "secret" not in to_str(reply)
    alice.close()
    bob.close()
