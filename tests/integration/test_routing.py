"""Delivery rules (RFC 6120 §10, RFC 6121 §8) between real sessions."""

import pytest

import slix
from xmpp_raw import NS_CLIENT, RawClient, q, stanza_error_condition, to_str


def online(server, user, pw, resource) -> RawClient:
    c = RawClient(server.port)
    c.login(user, pw, resource=resource, presence=True)
    return c


def test_chat_between_two_users_slixmpp(server, users):
    """Bare and full JID, both directions, with slixmpp on both ends."""
    async def main():
        alice = await slix.login(server.port, "alice@localhost/a", users["alice"])
        bob = await slix.login(server.tls_port, "bob@localhost/b", users["bob"], direct_tls=True)
        alice.send_message(mto="bob@localhost", mbody="hi bob (bare)", mtype="chat")
        m = await bob.next_message(body="hi bob (bare)")
        assert m["from"] == "alice@localhost/a"
        assert m["to"].bare == "bob@localhost"
        bob.send_message(mto="alice@localhost/a", mbody="hi alice (full)", mtype="chat")
        m = await alice.next_message(body="hi alice (full)")
        assert m["from"] == "bob@localhost/b"
        assert m["type"] == "chat"
        await alice.close()
        await bob.close()
    slix.run(main())


def test_message_to_bare_jid_raw(server, users):
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    mid = alice.message("bob@localhost", "hello <&> bob")
    m = bob.wait_message("hello <&> bob")
    assert m.get("from") == "alice@localhost/a", "the server must stamp the full JID"
    assert m.get("to") == "bob@localhost"
    assert m.get("id") == mid
    assert m.get("type") == "chat"
    alice.close()
    bob.close()


def test_message_to_full_jid_raw(server, users):
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    bob2 = online(server, "bob", users["bob"], "b2")
    alice.message("bob@localhost/b2", "only for b2")
    m = bob2.wait_message("only for b2")
    assert m.get("to") == "bob@localhost/b2"
    # b got nothing: a ping round trip proves the server has handled alice's message by now.
    assert alice.ping().get("type") == "result"
    assert bob.ping().get("type") == "result"
    assert not [e for e in bob.drain() if e.tag == q(NS_CLIENT, "message")]
    for c in (alice, bob, bob2):
        c.close()


def test_message_between_two_resources_of_one_user(server, users):
    a1 = online(server, "alice", users["alice"], "one")
    a2 = online(server, "alice", users["alice"], "two")
    a1.message("alice@localhost/two", "note to self")
    m = a2.wait_message("note to self")
    assert m.get("from") == "alice@localhost/one"
    a2.message("alice@localhost/one", "and back")
    assert a1.wait_message("and back").get("from") == "alice@localhost/two"
    a1.close()
    a2.close()


def test_chat_to_bare_jid_goes_to_highest_priority(server, users):
    """RFC 6121 §8.5.2.1.1: a chat message to the bare JID goes to the highest-priority resource."""
    alice = online(server, "alice", users["alice"], "a")
    low = online(server, "bob", users["bob"], "low")
    high = RawClient(server.port)
    high.login("bob", users["bob"], resource="high")
    high.send("<presence><priority>10</priority></presence>")
    high.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == high.jid)
    alice.message("bob@localhost", "to the best")
    high.wait_message("to the best")
    assert alice.ping().get("type") == "result"
    assert low.ping().get("type") == "result"
    assert not [e for e in low.drain() if e.tag == q(NS_CLIENT, "message")]
    for c in (alice, low, high):
        c.close()


@pytest.mark.corvid(config={"modules": {"offline": {"enabled": False}}})
def test_message_to_offline_user_bounces(server, users):
    """Offline storage off: RFC 6121 §8.5.2.2.1 says service-unavailable."""
    alice = online(server, "alice", users["alice"], "a")
    alice.message("bob@localhost", "are you there", id_="m1")
    err = alice.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == "m1")
    assert err.get("type") == "error", to_str(err)
    assert stanza_error_condition(err) == "service-unavailable"
    assert err.get("from") == "bob@localhost"
    alice.close()


def test_ping_server(server, users):
    """XEP-0199 §4.2: a ping to the server gets an empty result."""
    c = online(server, "alice", users["alice"], "a")
    reply = c.ping("localhost")
    assert reply.get("type") == "result", to_str(reply)
    assert reply.get("from") == "localhost"
    assert reply.get("to") == "alice@localhost/a"
    assert len(reply) == 0
    c.close()


def test_iq_unknown_namespace_to_server(server, users):
    """RFC 6120 §8.4: an iq nobody handles gets service-unavailable."""
    c = online(server, "alice", users["alice"], "a")
    reply = c.iq("<query xmlns='urn:example:nothing-here'/>", to="localhost")
    assert reply.get("type") == "error", to_str(reply)
    assert stanza_error_condition(reply) == "service-unavailable"
    assert reply.get("from") == "localhost"
    assert reply.get("to") == "alice@localhost/a"
    c.close()


def test_iq_unknown_namespace_to_bare_jid(server, users):
    """RFC 6121 §8.5.1 / §8.5.2.1.3: the server answers for the account: service-unavailable."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    reply = alice.iq("<query xmlns='urn:example:nothing-here'/>", to="bob@localhost")
    assert reply.get("type") == "error", to_str(reply)
    assert stanza_error_condition(reply) == "service-unavailable"
    assert reply.get("from") == "bob@localhost"
    # The iq was not handed to bob's session.
    assert bob.ping().get("type") == "result"
    assert not [e for e in bob.drain() if e.tag == q(NS_CLIENT, "iq")]
    alice.close()
    bob.close()


def test_iq_to_missing_full_jid(server, users):
    """RFC 6121 §8.5.3.2.1: iq to a resource that is not there: service-unavailable."""
    alice = online(server, "alice", users["alice"], "a")
    reply = alice.iq("<ping xmlns='urn:xmpp:ping'/>", to="bob@localhost/nowhere")
    assert reply.get("type") == "error", to_str(reply)
    assert stanza_error_condition(reply) == "service-unavailable"
    alice.close()


def test_iq_to_full_jid_round_trip(server, users):
    """An iq to another client's full JID is delivered, and so is its answer."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    alice.send("<iq type='get' id='v1' to='bob@localhost/b'><query xmlns='jabber:iq:version'/></iq>")
    req = bob.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "v1")
    assert req.get("from") == "alice@localhost/a" and req.get("type") == "get"
    bob.send("<iq type='result' id='v1' to='alice@localhost/a'><query xmlns='jabber:iq:version'>"
             "<name>raw</name></query></iq>")
    res = alice.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "v1")
    assert res.get("type") == "result" and res.get("from") == "bob@localhost/b"
    assert "raw" in to_str(res)
    alice.close()
    bob.close()


def test_message_to_unknown_domain_bounces(server, users):
    """s2s is off in the test config, so a remote domain cannot be reached."""
    alice = online(server, "alice", users["alice"], "a")
    alice.message("someone@elsewhere.example", "hello", id_="r1")
    err = alice.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == "r1")
    assert err.get("type") == "error", to_str(err)
    assert stanza_error_condition(err) in ("remote-server-not-found", "service-unavailable")
    alice.close()


def test_own_bare_from_is_accepted(server, users):
    """RFC 6120 §8.1.2.1: a 'from' equal to the client's own (bare or full) JID is fine; the
    server stamps the full JID."""
    alice = online(server, "alice", users["alice"], "a")
    bob = online(server, "bob", users["bob"], "b")
    alice.send("<message to='bob@localhost' type='chat' from='alice@localhost'>"
               "<body>bare from</body></message>")
    assert bob.wait_message("bare from").get("from") == "alice@localhost/a"
    alice.send("<message to='bob@localhost' type='chat' from='alice@localhost/a'>"
               "<body>full from</body></message>")
    assert bob.wait_message("full from").get("from") == "alice@localhost/a"
    alice.close()
    bob.close()


@pytest.mark.parametrize("stanza,condition", [
    ("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"),
    ("<iq type='get' id='x'/>", "bad-request"),
    ("<iq type='bogus' id='x'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"),
    ("<message type='bogus' to='bob@localhost' id='x'><body>b</body></message>", "bad-request"),
], ids=["iq-without-id", "iq-get-without-payload", "iq-bad-type", "message-bad-type"])
def test_invalid_stanzas_get_bad_request(server, users, stanza, condition):
    """RFC 6120 §8.2.3 / §8.3.3.1: malformed stanzas are answered with bad-request, and the
    stream survives."""
    alice = online(server, "alice", users["alice"], "a")
    alice.send(stanza)
    err = alice.wait_for(lambda e: e.get("type") == "error", what="an error reply")
    assert stanza_error_condition(err) == condition, to_str(err)
    assert alice.ping().get("type") == "result"
    alice.close()
