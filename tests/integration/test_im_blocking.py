"""XEP-0191 Blocking Command between real sessions."""

import pytest

from im_support import (IQ, MESSAGE, NS_BLOCKING, NS_BLOCKING_ERRORS, NS_CLIENT, PRESENCE,
                        ImClient, connect, is_message, q, stanza_error_condition, to_str)
from test_im_presence import befriend

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def block_push(c, what, jids):
    """The next block/unblock push with exactly these items."""
    def match(e):
        if e.tag != IQ or e.get("type") != "set":
            return False
        payload = e.find(q(NS_BLOCKING, what))
        return payload is not None and \
            sorted(i.get("jid") for i in payload) == sorted(jids)
    return c.take(match, what=f"{what} push of {jids}")


def test_blocklist_get_block_unblock_with_pushes(server, users):
    a1 = connect(server, "alice", users["alice"], "one")
    assert a1.blocklist() == []
    a2 = connect(server, "alice", users["alice"], "two")
    assert a2.blocklist() == []
    a3 = connect(server, "alice", users["alice"], "three")  # never asks: no pushes

    reply = a1.block("tybalt@localhost", "example.com", "paris@localhost/balcony")
    assert reply.get("type") == "result", to_str(reply)
    for c in (a1, a2):
        block_push(c, "block", ["tybalt@localhost", "example.com", "paris@localhost/balcony"])
    assert sorted(a2.blocklist()) == ["example.com", "paris@localhost/balcony",
                                      "tybalt@localhost"]
    # Blocking again what is blocked changes nothing and is fine.
    assert a1.block("tybalt@localhost").get("type") == "result"

    assert a2.unblock("example.com").get("type") == "result"
    for c in (a1, a2):
        block_push(c, "unblock", ["example.com"])
    # Stored: a new session reads the same list.
    a4 = connect(server, "alice", users["alice"], "four")
    assert sorted(a4.blocklist()) == ["paris@localhost/balcony", "tybalt@localhost"]

    # Unblock everything: a push without items (XEP-0191 §3.4).
    assert a1.unblock().get("type") == "result"
    for c in (a1, a2, a4):
        block_push(c, "unblock", [])
    assert a1.blocklist() == []
    assert not a3.got(lambda e: e.tag == IQ and e.get("type") == "set")

    # Errors.
    reply = a1.iq(f"<block xmlns='{NS_BLOCKING}'/>", type_="set")
    assert stanza_error_condition(reply) == "bad-request", to_str(reply)
    reply = a1.block("@@bad")
    assert stanza_error_condition(reply) == "jid-malformed", to_str(reply)
    reply = a1.iq(f"<blocklist xmlns='{NS_BLOCKING}'/>", to="bob@localhost")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    for c in (a1, a2, a3, a4):
        c.close()


def test_blocking_is_advertised(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    reply = alice.iq(f"<query xmlns='{NS_DISCO_INFO}'/>", to="alice@localhost")
    if reply.get("type") == "error":
        pytest.skip("no disco module in this build")
    features = [f.get("var") for f in reply.find(q(NS_DISCO_INFO, "query"))
                if f.tag == q(NS_DISCO_INFO, "feature")]
    assert NS_BLOCKING in features, to_str(reply)
    alice.close()


def test_blocked_contact_gets_nothing_and_sees_the_user_offline(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    carol = connect(server, "carol", users["carol"], "c")
    befriend(alice, bob)
    befriend(alice, carol)

    assert alice.block("bob@localhost").get("type") == "result"
    # XEP-0191 §3.3: bob is told alice went offline.
    bob.wait_presence("alice@localhost/a", "unavailable")

    # Nothing of bob reaches alice; bob cannot tell (no error for messages).
    bob.message("alice@localhost", "hello?")
    bob.message("alice@localhost/a", "hello full?")
    bob.available(status="bob is here")
    reply = bob.iq("<query xmlns='jabber:iq:version'/>", to="alice@localhost/a")
    assert stanza_error_condition(reply) == "service-unavailable", to_str(reply)
    assert not bob.got(lambda e: e.tag == MESSAGE and e.get("type") == "error")
    assert not alice.got(lambda e: e.get("from", "").startswith("bob@"))

    # Nothing of alice reaches bob; alice learns why (XEP-0191 §3.5).
    alice.message("bob@localhost", "psst", id_="blocked1")
    err = alice.take(lambda e: e.tag == MESSAGE and e.get("id") == "blocked1")
    assert err.get("type") == "error"
    assert stanza_error_condition(err) == "not-acceptable", to_str(err)
    assert err.find(f"{q(NS_CLIENT, 'error')}/{q(NS_BLOCKING_ERRORS, 'blocked')}") is not None
    alice.available(status="bob cannot see this")
    carol.wait_presence("alice@localhost/a")
    assert not bob.got(lambda e: e.get("from", "").startswith("alice@"))

    # While alice is away, bob's messages are not kept for her either.
    alice.close()
    carol.wait_presence("alice@localhost/a", "unavailable")
    bob.message("alice@localhost", "stored?")
    carol.message("alice@localhost", "from carol")
    alice = connect(server, "alice", users["alice"], "a")
    assert [m.findtext(q(NS_CLIENT, "body")) for m in alice.got(is_message())] == ["from carol"]

    # Unblocked: presence flows again both ways (XEP-0191 §3.4).
    assert alice.unblock("bob@localhost").get("type") == "result"
    bob.wait_presence("alice@localhost/a")
    alice.wait_presence("bob@localhost/b")
    bob.message("alice@localhost", "back")
    alice.take(is_message("back"))
    for c in (alice, bob, carol):
        c.close()


def test_domain_block_and_subscription_requests(server, users):
    alice = connect(server, "alice", users["alice"], "a")
    bob = connect(server, "bob", users["bob"], "b")
    # A block of the whole domain covers every account there (but never alice's own).
    assert alice.block("localhost").get("type") == "result"
    bob.presence("alice@localhost", "subscribe")
    assert not alice.got(lambda e: e.tag == PRESENCE and e.get("type") == "subscribe")
    # The server itself is never blocked: alice's own requests still work.
    assert alice.ping().get("type") == "result"
    assert alice.roster_set("bob@localhost").get("type") == "result"
    assert alice.unblock().get("type") == "result"
    # The request was dropped, not kept: alice has nothing pending after a new login.
    alice.close()
    alice = connect(server, "alice", users["alice"], "a")
    assert not alice.got(lambda e: e.tag == PRESENCE and e.get("type") == "subscribe")
    alice.close()
    bob.close()


def test_first_stanzas_after_login_are_filtered(server, users):
    """A session's first stanzas may arrive before its list is loaded: they wait for it."""
    alice = connect(server, "alice", users["alice"], "a")
    assert alice.block("bob@localhost").get("type") == "result"
    alice.close()
    fresh = ImClient(server.port)
    fresh.negotiate_tls()
    assert fresh.auth_plain("alice", users["alice"]).tag.endswith("success")
    fresh.restart_after_auth()
    # Bind and a message to the blocked contact in one write.
    fresh.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>r</resource></bind></iq>"
               "<message to='bob@localhost' id='early' type='chat'><body>x</body></message>")
    err = fresh.take(lambda e: e.tag == MESSAGE and e.get("id") == "early")
    assert stanza_error_condition(err) == "not-acceptable", to_str(err)
    fresh.close()
