"""Resource binding (RFC 6120 §7) and the configured conflict policy."""

import pytest

from xmpp_raw import (NS_BIND, NS_CLIENT, RawClient, q, stanza_error_condition, to_str)


def authed(server, user, pw) -> RawClient:
    """A client that has authenticated and restarted the stream, ready to bind."""
    c = RawClient(server.port)
    c.negotiate_tls()
    res = c.auth_plain(user, pw)
    assert res.tag.endswith("success"), to_str(res)
    feats = c.open_stream()
    assert feats.find(q(NS_BIND, "bind")) is not None
    return c


def test_server_generated_resource(server, users):
    """RFC 6120 §7.6.1: without <resource/> the server makes one up, different per session."""
    jids = []
    for _ in range(2):
        c = authed(server, "alice", users["alice"])
        reply = c.bind(None)
        assert reply.get("type") == "result", to_str(reply)
        assert c.jid.startswith("alice@localhost/") and len(c.jid) > len("alice@localhost/"), c.jid
        assert c.ping().get("type") == "result"
        jids.append((c, c.jid))
    assert jids[0][1] != jids[1][1]
    for c, _ in jids:
        c.close()


def test_requested_resource_is_kept(server, users):
    c = authed(server, "alice", users["alice"])
    assert c.bind("Kitchen Tablet").get("type") == "result"
    assert c.jid == "alice@localhost/Kitchen Tablet"
    c.close()


def test_bind_conflict_replaces_old_session_by_default(server, users):
    """RFC 6120 §7.7.2.2 (default "replace"): the old session gets a <conflict/> stream error and
    the new one binds the resource."""
    old = RawClient(server.port)
    assert old.login("alice", users["alice"], resource="same") == "alice@localhost/same"
    new = authed(server, "alice", users["alice"])
    reply = new.bind("same")
    assert reply.get("type") == "result", to_str(reply)
    assert new.jid == "alice@localhost/same"
    cond, _ = old.stream_error()
    assert cond == "conflict"
    # The resource now belongs to the new session: a message to it arrives there.
    bob = RawClient(server.port)
    bob.login("bob", users["bob"], resource="b")
    bob.message("alice@localhost/same", "to the new one")
    msg = new.wait_message("to the new one")
    assert msg.get("from") == "bob@localhost/b"
    bob.close()
    new.close()


@pytest.mark.corvid(config={"server": {"bind_resource_conflict": "reject"}})
def test_bind_conflict_reject(server, users):
    """bind_resource_conflict = "reject": the new bind gets a <conflict/> iq error and the old
    session goes on."""
    old = RawClient(server.port)
    old.login("alice", users["alice"], resource="same")
    new = authed(server, "alice", users["alice"])
    reply = new.bind("same")
    assert reply.get("type") == "error", to_str(reply)
    assert stanza_error_condition(reply) == "conflict", to_str(reply)
    assert old.ping().get("type") == "result", "the old session was disturbed"
    # The refused client may bind another resource (RFC 6120 §7.6.2).
    reply = new.bind("other")
    assert reply.get("type") == "result", to_str(reply)
    assert new.jid == "alice@localhost/other"
    assert new.ping().get("type") == "result"
    old.close()
    new.close()


@pytest.mark.corvid(config={"server": {"bind_resource_conflict": "rename"}})
def test_bind_conflict_rename(server, users):
    old = RawClient(server.port)
    old.login("alice", users["alice"], resource="same")
    new = authed(server, "alice", users["alice"])
    reply = new.bind("same")
    assert reply.get("type") == "result", to_str(reply)
    assert new.jid.startswith("alice@localhost/") and new.jid != "alice@localhost/same", new.jid
    assert old.ping().get("type") == "result"
    assert new.ping().get("type") == "result"
    old.close()
    new.close()


def test_second_bind_refused(server, users):
    c = RawClient(server.port)
    c.login("alice", users["alice"], resource="one")
    reply = c.bind("two")
    assert reply.get("type") == "error", to_str(reply)
    assert c.ping().get("type") == "result"
    assert c.ping().get("to") == "alice@localhost/one"
    c.close()


def test_stanza_before_bind_is_not_authorized(server, users):
    """RFC 6120 §7.1: no stanzas other than bind between authentication and binding."""
    c = authed(server, "alice", users["alice"])
    c.send("<message to='bob@localhost'><body>early</body></message>")
    cond, _ = c.stream_error()
    assert cond == "not-authorized"
